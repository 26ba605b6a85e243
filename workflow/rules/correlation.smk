# Correlation analysis (paper, Table 1): PN pairs from the antithetic design, RR pairs from iid.


rule pair_correlations:
    input:
        unpack(correlation_inputs),
    output:
        pairs=paths.PAIRS,
        summary=paths.CORRELATION_SUMMARY,
    log:
        "logs/pair_correlations/{model}/{sampler}/{pairs}.log",
    params:
        code=script_code("pair_correlations.py"),
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
        csv=table("table1"),
        markdown=report(table("table1", "md"), category="Table 1: correlations"),
        latex=table("table1", "tex"),
    log:
        "logs/table1.log",
    params:
        code=script_code("table1.py"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/table1.py"


if CORRELATION_RUNS:
    TARGETS["correlation"] = rules.table1.output
