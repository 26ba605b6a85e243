# DDIM eta sweep: PN and RR correlation vs eta in {0, 0.5, 1} (all noises negated), per model.
# A (model, sampler) already in correlation.runs reuses its Table 1 summary (correlation.pairs); the
# others are correlated at eta_sweep.pairs and join Table 1 as their own rows (see table1_summaries).

ETA_SWEEP = config.get("eta_sweep") or {}
ETA_SWEEP_RUNS = [(m, s) for m in ETA_SWEEP.get("models", []) for s in ETA_SWEEP.get("samplers", [])]


def eta_sweep_summary(model, sampler):
    pairs = CORRELATION["pairs"] if (model, sampler) in CORRELATION_RUNS else ETA_SWEEP.get("pairs") or CORRELATION["pairs"]
    return f"results/correlation/{model}/{sampler}/summary_{pairs}.json"


rule eta_sweep:
    input:
        summaries=[eta_sweep_summary(m, s) for m, s in ETA_SWEEP_RUNS],
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
