# DDIM eta sweep: PN and RR pair correlation against eta in {0, 0.5, 1} (all noises negated), per model.
# It reads the correlation stage's per-(model, sampler) summaries, so the sweep's samplers also appear
# in Table 1 when they are listed in correlation.runs.

ETA_SWEEP = config.get("eta_sweep") or {}
ETA_SWEEP_RUNS = [(m, s) for m in ETA_SWEEP.get("models", []) for s in ETA_SWEEP.get("samplers", [])]


rule eta_sweep:
    input:
        summaries=[f"results/correlation/{m}/{s}/summary_{CORRELATION['pairs']}.json" for m, s in ETA_SWEEP_RUNS],
    output:
        csv="results/eta_sweep/eta_sweep.csv",
        figure=report(
            "figures/eta_sweep/eta_sweep.png",
            caption="../report/eta_sweep.rst",
            category="DDIM eta sweep",
        ),
    log:
        "logs/eta_sweep.log",
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/eta_sweep.py"


if ETA_SWEEP_RUNS:
    TARGETS["eta_sweep"] = rules.eta_sweep.output
