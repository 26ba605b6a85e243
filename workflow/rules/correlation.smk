# Correlation analysis (paper, Table 1): PN pairs from the antithetic design, RR pairs from iid.

CORRELATION = config["correlation"]
CORRELATION_RUNS = [(m, s) for m, samplers in CORRELATION["runs"].items() for s in samplers]


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
            **{k: v for k, v in config["samplers"][wc.sampler].items()},
        },
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/pair_correlations.py"


rule table1:
    input:
        # a function, so rows that stages included later add to TABLE1_EXTRA are seen too
        summaries=lambda wc: [
            f"results/correlation/{m}/{s}/summary_{CORRELATION['pairs']}.json"
            for m, s in CORRELATION_RUNS
        ]
        + TABLE1_EXTRA,
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
