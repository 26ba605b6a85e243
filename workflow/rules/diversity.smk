# Diversity (paper, Table 4): SSIM and classifier-feature distance of PN pairs against RR pairs, on the
# correlation stage's samples when diversity.pairs = correlation.pairs.


rule diversity:
    input:
        unpack(diversity_inputs),
    output:
        pairs="results/diversity/{model}/{sampler}/pairs_{pairs}.csv",
        summary="results/diversity/{model}/{sampler}/summary_{pairs}.json",
    log:
        "logs/diversity/{model}/{sampler}/{pairs}.log",
    params:
        settings={k: DIVERSITY[k] for k in ("ssim_kernel_size", "ssim_sigma", "perceptual", "lpips_size", "bootstrap", "level", "seed")},
        labels=lambda wc: {"model": wc.model, "sampler": wc.sampler},
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/diversity.py"


rule table4:
    input:
        summaries=[f"results/diversity/{m}/{s}/summary_{DIVERSITY['pairs']}.json" for m, s in DIVERSITY_RUNS],
    output:
        csv="results/tables/table4.csv",
        markdown=report("results/tables/table4.md", category="Table 4: diversity"),
        latex="results/tables/table4.tex",
        figure=report("figures/diversity/diversity.png", caption="../report/diversity.rst", category="Table 4: diversity"),
    log:
        "logs/table4.log",
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/table4.py"


if DIVERSITY_RUNS:
    TARGETS["diversity"] = rules.table4.output
