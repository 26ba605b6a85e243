# Sample quality (no loss): Fréchet distance in classifier-feature space of DM(z), DM(-z) and iid samples
# to held-out real digits. Reuses the correlation stage's samples when quality.pairs = correlation.pairs.


rule quality:
    input:
        unpack(quality_inputs),
    output:
        csv="results/quality/{model}/{sampler}/quality_{pairs}.csv",
        summary="results/quality/{model}/{sampler}/quality_{pairs}.json",
    log:
        "logs/quality/{model}/{sampler}/{pairs}.log",
    params:
        settings={k: QUALITY[k] for k in ("bootstrap", "level", "nearest_k", "seed")},
        labels=lambda wc: {"model": wc.model, "sampler": wc.sampler, "pairs": int(wc.pairs)},
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/quality.py"


rule quality_table:
    input:
        rows=[f"results/quality/{m}/{s}/quality_{QUALITY['pairs']}.csv" for m, s in QUALITY_RUNS],
    output:
        csv="results/tables/quality.csv",
        markdown=report("results/tables/quality.md", category="Sample quality"),
        latex="results/tables/quality.tex",
        figure=report("figures/quality/quality.png", caption="../report/quality.rst", category="Sample quality"),
    log:
        "logs/quality_table.log",
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/quality_table.py"


if QUALITY_RUNS:
    TARGETS["quality"] = rules.quality_table.output
