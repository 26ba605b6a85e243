# Digits classifier: held-out accuracy, and the feature space of the quality, diversity and editing stages.


# results/models/{model} of rule train_model would also match the classifier's folder
ruleorder: train_classifier > train_model


rule train_classifier:
    output:
        directory(CLASSIFIER),
    log:
        "logs/train_classifier.log",
    params:
        code=script_code("train_classifier.py"),
        settings=config["classifier"],
    threads: min(2, workflow.cores)
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/train_classifier.py"


if QUALITY_RUNS or (DIVERSITY_RUNS and "classifier" in DIVERSITY["perceptual"]) or EDITING.get("model"):  # its held-out accuracy is reported with the stages it serves
    TARGETS["classifier"] = [CLASSIFIER]
