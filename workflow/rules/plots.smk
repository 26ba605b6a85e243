# Figures from the correlation stage: per-pair correlation histograms and Figure-1-style grids.


rule pair_figures:
    input:
        unpack(correlation_inputs),
        pairs=paths.PAIRS,
    output:
        histogram=report(
            "figures/correlation/{model}_{sampler}_{pairs}_histogram.png",
            caption="../report/correlation_histogram.rst",
            category="Table 1: correlations",
        ),
        grid=report(
            paths.PAIR_GRID,
            caption="../report/pair_grid.rst",
            category="Figure 1: pairs",
        ),
    log:
        "logs/pair_figures/{model}/{sampler}/{pairs}.log",
    params:
        code=script_code("pair_figures.py"),
        title=lambda wc: f"{wc.model}, {wc.sampler}",
        grid_pairs=CORRELATION["grid_pairs"],
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/pair_figures.py"


TARGETS["pair_figures"] = [
    path
    for m, s in CORRELATION_RUNS
    for path in expand(rules.pair_figures.output, model=m, sampler=s, pairs=CORRELATION["pairs"])
]
