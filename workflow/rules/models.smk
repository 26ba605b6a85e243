# Models the workflow trains itself (offline, on packaged data) and saves with save_pretrained.


rule train_model:
    output:
        directory(paths.MODEL),
    log:
        "logs/train_model/{model}.log",
    benchmark:
        "results/benchmarks/train_model/{model}.tsv"
    params:
        code=script_code("train_model.py"),
        spec=model_spec,
    # the small MLP generators (vae, flow) train fastest on one thread and can run side by side
    threads: lambda wc: 1 if MODEL_KINDS[config["models"][wc.model]["kind"]].family == "generator" else workflow.cores
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/train_model.py"
