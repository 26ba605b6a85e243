# Inverse problems with diffusion posterior sampling (paper, Table 3): MC against AMC estimates of the
# reconstruction error, per linear task, on held-out digits or the images of inverse.images.


rule inverse_dps:
    input:
        unpack(inverse_inputs),
    output:
        csv=paths.INVERSE,
        summary=paths.INVERSE_SUMMARY,
    log:
        "logs/inverse_dps/{model}/{task}.log",
    params:
        code=script_code("inverse_dps.py"),
        model_spec=model_entry,
        task_params=lambda wc: INVERSE["tasks"][wc.task],
        settings={k: INVERSE[k] for k in ("sigma_y", "measurements", "samples", "num_steps", "eta", "step_size", "seed", "level", "bootstrap")},
        split={k: config["classifier"][k] for k in ("dataset", "test_fraction", "split_seed")},
    threads: NETWORK_THREADS
    resources:
        mem_mb=rule_mem_mb("inverse_dps"),
        runtime=rule_runtime("inverse_dps"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/inverse_dps.py"


rule table3:
    input:
        summaries=[fill(paths.INVERSE_SUMMARY, model=INVERSE.get("model"), task=task) for task in INVERSE_TASKS],
    output:
        csv=table("table3"),
        markdown=report(table("table3", "md"), category="Table 3: inverse problems"),
        latex=table("table3", "tex"),
    log:
        "logs/table3.log",
    params:
        code=script_code("table3.py"),
        labels=STAGE_LABELS["table3"],
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/table3.py"


rule table3_figure:
    input:
        csv=table("table3"),
    output:
        figure=report(paths.INVERSE_FIGURE, caption="../report/inverse.rst", category="Table 3: inverse problems"),
    log:
        "logs/table3_figure.log",
    params:
        code=script_code("table3_figure.py"),
        labels=STAGE_LABELS["table3"],  # read by the figure's report caption
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/table3_figure.py"


if INVERSE_TASKS:
    TARGETS["inverse"] = [*rules.table3.output, paths.INVERSE_FIGURE]
