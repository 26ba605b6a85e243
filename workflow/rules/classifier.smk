# Digits classifier: held-out accuracy, the feature space of the quality, diversity and editing stages, and the
# judge of whether a guided digits model draws the class it was asked for (guidance sweep).


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


# its held-out accuracy is reported with the stages it serves
if QUALITY_RUNS or (DIVERSITY_RUNS and "classifier" in DIVERSITY["perceptual"]) or EDITING.get("model") or PLAN.guidance_accuracy_runs:
    TARGETS["classifier"] = [CLASSIFIER]
