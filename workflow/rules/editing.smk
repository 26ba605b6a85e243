# Antithetic image editing (SDEdit-style): PN against RR edit pairs of held-out digits over a sweep of t0.


rule editing:
    input:
        unpack(editing_inputs),
    output:
        csv=paths.EDITING,
        summary=paths.EDITING_SUMMARY,
    log:
        "logs/editing/{model}.log",
    params:
        code=script_code("editing.py"),
        model_spec=model_entry,
        settings={k: EDITING[k] for k in ("sources", "t0", "num_steps", "seed", "level", "ssim_kernel_size", "ssim_sigma")},
    threads: NETWORK_THREADS
    resources:
        mem_mb=rule_mem_mb("editing"),
        runtime=rule_runtime("editing"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/editing.py"


rule editing_table:
    input:
        summary=fill(paths.EDITING_SUMMARY, model=EDITING.get("model")),
    output:
        csv=table("editing"),
        markdown=report(table("editing", "md"), category="Antithetic editing"),
        latex=table("editing", "tex"),
    log:
        "logs/editing_table.log",
    params:
        code=script_code("editing_table.py"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/editing_table.py"


rule editing_figure:
    input:
        csv=table("editing"),
    output:
        figure=report(paths.EDITING_FIGURE, caption="../report/editing.rst", category="Antithetic editing"),
    log:
        "logs/editing_figure.log",
    params:
        code=script_code("editing_figure.py"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/editing_figure.py"


if EDITING.get("model"):
    TARGETS["editing"] = [*rules.editing_table.output, paths.EDITING_FIGURE]
