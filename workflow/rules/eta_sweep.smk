# DDIM eta sweep: PN and RR correlation vs eta in {0, 0.5, 1} (all noises negated), per model.
# A (model, sampler) already in correlation.runs reuses its Table 1 summary (correlation.pairs); the
# others are correlated at eta_sweep.pairs and join Table 1 as their own rows (see table1_summaries).

rule eta_sweep:
    input:
        summaries=[PLAN.correlation_summary(m, s) for m, s in ETA_SWEEP_RUNS],
    output:
        csv=paths.ETA_SWEEP,
    log:
        "logs/eta_sweep.log",
    params:
        code=script_code("eta_sweep.py"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/eta_sweep.py"


rule eta_sweep_figure:
    input:
        csv=paths.ETA_SWEEP,
    output:
        figure=report(paths.ETA_SWEEP_FIGURE, caption="../report/eta_sweep.rst", category="DDIM eta sweep"),
    log:
        "logs/eta_sweep_figure.log",
    params:
        code=script_code("eta_sweep_figure.py"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/eta_sweep_figure.py"


if ETA_SWEEP_RUNS:
    TARGETS["eta_sweep"] = [*rules.eta_sweep.output, paths.ETA_SWEEP_FIGURE]
