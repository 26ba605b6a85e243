# Antithetic FlowEdit: held-out digits edited into another class with independent and with antithetic noise
# draws per step, over a sweep of n_max.


rule flowedit:
    input:
        unpack(flowedit_inputs),
    output:
        csv=paths.FLOWEDIT,
        summary=paths.FLOWEDIT_SUMMARY,
        edits=paths.FLOWEDIT_EDITS,
    log:
        "logs/flowedit/{model}.log",
    params:
        code=script_code("flowedit.py"),
        model_spec=model_entry,
        settings={k: FLOWEDIT[k] for k in FLOWEDIT_SETTINGS},
    threads: NETWORK_THREADS
    resources:
        mem_mb=rule_mem_mb("flowedit"),
        runtime=rule_runtime("flowedit"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/flowedit.py"


rule flowedit_table:
    input:
        summary=fill(paths.FLOWEDIT_SUMMARY, model=FLOWEDIT.get("model")),
    output:
        csv=table("flowedit"),
        markdown=report(table("flowedit", "md"), category="Antithetic FlowEdit"),
        latex=table("flowedit", "tex"),
    log:
        "logs/flowedit_table.log",
    params:
        code=script_code("flowedit_table.py"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/flowedit_table.py"


rule flowedit_figure:
    input:
        csv=table("flowedit"),
        edits=fill(paths.FLOWEDIT_EDITS, model=FLOWEDIT.get("model")),
    output:
        figure=report(paths.FLOWEDIT_FIGURE, caption="../report/flowedit.rst", category="Antithetic FlowEdit"),
        grid=report(paths.FLOWEDIT_GRID, caption="../report/flowedit_grid.rst", category="Antithetic FlowEdit"),
    log:
        "logs/flowedit_figure.log",
    params:
        code=script_code("flowedit_figure.py"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/flowedit_figure.py"


if FLOWEDIT.get("model"):
    TARGETS["flowedit"] = [*rules.flowedit_table.output, paths.FLOWEDIT_FIGURE, paths.FLOWEDIT_GRID]
