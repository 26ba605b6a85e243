# Diversity (paper, Table 4): SSIM and the perceptual distances of diversity.perceptual (the digits
# classifier's features, LPIPS) of PN pairs against RR pairs, on the
# correlation stage's samples when diversity.pairs = correlation.pairs.


rule diversity:
    input:
        unpack(diversity_inputs),
    output:
        pairs=paths.DIVERSITY_PAIRS,
        summary=paths.DIVERSITY_SUMMARY,
    log:
        "logs/diversity/{model}/{sampler}/{pairs}.log",
    params:
        code=script_code("diversity.py"),
        settings={k: DIVERSITY[k] for k in ("ssim_kernel_size", "ssim_sigma", "perceptual", "lpips_size", "bootstrap", "level", "seed")},
        labels=lambda wc: {"model": wc.model, "sampler": wc.sampler},
    resources:
        mem_mb=rule_mem_mb("diversity"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/diversity.py"


rule table4:
    input:
        summaries=[fill(paths.DIVERSITY_SUMMARY, model=m, sampler=s, pairs=DIVERSITY["pairs"]) for m, s in DIVERSITY_RUNS],
    output:
        csv=table("table4"),
        markdown=report(table("table4", "md"), category="Table 4: diversity"),
        latex=table("table4", "tex"),
    log:
        "logs/table4.log",
    params:
        code=script_code("table4.py"),
        labels=STAGE_LABELS["table4"],
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/table4.py"


rule table4_figure:
    input:
        csv=table("table4"),
    output:
        figure=report(paths.DIVERSITY_FIGURE, caption="../report/diversity.rst", category="Table 4: diversity"),
    log:
        "logs/table4_figure.log",
    params:
        code=script_code("table4_figure.py"),
        labels=STAGE_LABELS["table4"],  # read by the figure's report caption
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/table4_figure.py"


if DIVERSITY_RUNS:
    TARGETS["diversity"] = [*rules.table4.output, paths.DIVERSITY_FIGURE]
