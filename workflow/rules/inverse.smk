# Inverse problems with diffusion posterior sampling (paper, Table 3): MC against AMC estimates of the
# reconstruction error, per linear task, on held-out digits.


rule inverse_dps:
    input:
        unpack(inverse_inputs),
    output:
        csv="results/inverse/{model}/{task}/measurements.csv",
        summary="results/inverse/{model}/{task}/summary.json",
    log:
        "logs/inverse_dps/{model}/{task}.log",
    params:
        model_spec=model_entry,
        task_params=lambda wc: INVERSE["tasks"][wc.task],
        settings={k: INVERSE[k] for k in ("sigma_y", "measurements", "samples", "num_steps", "eta", "step_size", "seed", "level", "bootstrap")},
        split={k: config["classifier"][k] for k in ("dataset", "test_fraction", "split_seed")},
    threads: NETWORK_THREADS
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/inverse_dps.py"


rule table3:
    input:
        summaries=[f"results/inverse/{INVERSE.get('model')}/{task}/summary.json" for task in INVERSE_TASKS],
    output:
        csv="results/tables/table3.csv",
        markdown=report("results/tables/table3.md", category="Table 3: inverse problems"),
        latex="results/tables/table3.tex",
        figure=report("figures/inverse/efficiency.png", caption="../report/inverse.rst", category="Table 3: inverse problems"),
    log:
        "logs/table3.log",
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/table3.py"


if INVERSE_TASKS:
    TARGETS["inverse"] = rules.table3.output
