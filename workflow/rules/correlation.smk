# Correlation analysis (paper, Table 1): PN pairs from the antithetic design, RR pairs from iid.

CORRELATION = config["correlation"]
CORRELATION_RUNS = runs(config, "correlation.runs")


def table1_summaries():
    """Every Table 1 row's summary: correlation.runs at correlation.pairs, then the eta-sweep rows not in them."""
    rows = [(m, s, CORRELATION["pairs"]) for m, s in CORRELATION_RUNS]
    sweep = config.get("eta_sweep") or {}
    pairs = sweep.get("pairs") or CORRELATION["pairs"]
    rows += [(m, s, pairs) for m in sweep.get("models", []) for s in sweep.get("samplers", []) if (m, s) not in CORRELATION_RUNS]
    return [f"results/correlation/{m}/{s}/summary_{p}.json" for m, s, p in rows]


def correlation_inputs(wildcards):
    n = 2 * int(wildcards.pairs)
    return {
        "pn": samples_path(wildcards.model, wildcards.sampler, "antithetic", n),
        "rr": samples_path(wildcards.model, wildcards.sampler, "iid", n),
    }


rule pair_correlations:
    input:
        unpack(correlation_inputs),
    output:
        pairs="results/correlation/{model}/{sampler}/pairs_{pairs}.csv",
        summary="results/correlation/{model}/{sampler}/summary_{pairs}.json",
    log:
        "logs/pair_correlations/{model}/{sampler}/{pairs}.log",
    params:
        labels=lambda wc: {
            "model": wc.model,
            "data": config["models"][wc.model].get("data", ""),
            "sampler": wc.sampler,
            **config["samplers"][wc.sampler],
        },
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/pair_correlations.py"


rule table1:
    input:
        summaries=table1_summaries(),
    output:
        csv="results/tables/table1.csv",
        markdown=report("results/tables/table1.md", category="Table 1: correlations"),
        latex="results/tables/table1.tex",
    log:
        "logs/table1.log",
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/table1.py"


if CORRELATION_RUNS:
    TARGETS["correlation"] = rules.table1.output
