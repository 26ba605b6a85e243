# Antithetic image editing (SDEdit-style): PN against RR edit pairs of held-out digits over a sweep of t0.


rule editing:
    input:
        unpack(editing_inputs),
    output:
        csv="results/editing/{model}/measures.csv",
        summary="results/editing/{model}/win_rates.json",
    log:
        "logs/editing/{model}.log",
    params:
        model_spec=model_entry,
        settings={k: EDITING[k] for k in ("sources", "t0", "num_steps", "seed", "level", "ssim_kernel_size", "ssim_sigma")},
    threads: NETWORK_THREADS
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/editing.py"


rule editing_table:
    input:
        summary=f"results/editing/{EDITING.get('model')}/win_rates.json",
    output:
        csv="results/tables/editing.csv",
        markdown=report("results/tables/editing.md", category="Antithetic editing"),
        latex="results/tables/editing.tex",
        figure=report("figures/editing/win_rates.png", caption="../report/editing.rst", category="Antithetic editing"),
    log:
        "logs/editing_table.log",
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/editing_table.py"


if EDITING.get("model"):
    TARGETS["editing"] = rules.editing_table.output
