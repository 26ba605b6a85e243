# Correlation analysis (paper, Table 1): PN pairs from the antithetic design, RR pairs from iid.


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
