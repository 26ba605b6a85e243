# Models the workflow trains itself (offline, on packaged data) and saves with save_pretrained.


rule train_model:
    output:
        directory("results/models/{model}"),
    log:
        "logs/train_model/{model}.log",
    params:
        model=lambda wc: wc.model,
        train=lambda wc: config["models"][wc.model].get("train"),
    # the small MLP generators (vae, flow) train fastest on one thread and can run side by side
    threads: lambda wc: 1 if config["models"][wc.model]["kind"] in ("vae", "flow") else workflow.cores
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/train_model.py"
