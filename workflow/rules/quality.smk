# Sample quality (no loss): Fréchet distance in classifier-feature space of DM(z), DM(-z) and iid samples
# to held-out real digits. Reuses the correlation stage's samples when quality.pairs = correlation.pairs.


rule quality:
    input:
        unpack(quality_inputs),
    output:
        csv=paths.QUALITY,
        summary=paths.QUALITY_SUMMARY,
    log:
        "logs/quality/{model}/{sampler}/{pairs}.log",
    params:
        code=script_code("quality.py"),
        settings={k: QUALITY[k] for k in ("bootstrap", "level", "nearest_k", "seed")},
        labels=lambda wc: {"model": wc.model, "sampler": wc.sampler, "pairs": int(wc.pairs)},
    resources:
        mem_mb=rule_mem_mb("quality"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/quality.py"


rule quality_table:
    input:
        rows=[fill(paths.QUALITY, model=m, sampler=s, pairs=QUALITY["pairs"]) for m, s in QUALITY_RUNS],
    output:
        csv=table("quality"),
        markdown=report(table("quality", "md"), category="Sample quality"),
        latex=table("quality", "tex"),
    log:
        "logs/quality_table.log",
    params:
        code=script_code("quality_table.py"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/quality_table.py"


rule quality_figure:
    input:
        csv=table("quality"),
    output:
        figure=report(paths.QUALITY_FIGURE, caption="../report/quality.rst", category="Sample quality"),
    log:
        "logs/quality_figure.log",
    params:
        code=script_code("quality_figure.py"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/quality_figure.py"


if QUALITY_RUNS:
    TARGETS["quality"] = [*rules.quality_table.output, paths.QUALITY_FIGURE]
