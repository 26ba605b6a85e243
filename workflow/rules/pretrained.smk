# The paper's pretrained checkpoints: fetch hub weights once into results/models/<name> (so compute
# nodes run offline), and the classifier-free-guidance sweep (PN and RR correlation vs scale).
# Which kinds can be fetched or guided is the kind registry's word (antithetic.kinds); the config
# checker (antithetic.workflow.config.check_references) has already checked guidance.runs.

import re


rule fetch_model:
    output:
        directory(paths.MODEL),
    log:
        "logs/fetch_model/{model}.log",
    params:
        code=script_code("fetch_model.py"),
        source=lambda wc: config["models"][wc.model]["pretrained"],
        revision=lambda wc: config["models"][wc.model].get("revision"),
    wildcard_constraints:
        model="|".join(re.escape(m) for m in FETCHED_MODELS) or "(?!)",
    localrule: True
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/fetch_model.py"


ruleorder: fetch_model > train_model


rule guided_sample:
    input:
        unpack(weights_input),
    output:
        samples=paths.GUIDED,
        provenance=paths.GUIDED_PROVENANCE,
    log:
        "logs/guided_sample/{model}/{sampler}/w{scale}/{design}_n{n}_seed{seed}.log",
    benchmark:
        "results/benchmarks/guided_sample/{model}/{sampler}/w{scale}/{design}_n{n}_seed{seed}.tsv"
    params:
        code=script_code("guided_sample.py"),
        model=model_spec,
        sampler=sampler_spec,
        design=design_spec,
    wildcard_constraints:
        scale=r"[0-9]+(\.[0-9]+)?",
    threads: NETWORK_THREADS
    resources:
        mem_mb=rule_mem_mb("guided_sample"),
        runtime=rule_runtime("guided_sample"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/guided_sample.py"


# The digits classifier's class of every guided sample of a model of the digit classes (PLAN.guidance_classified),
# against the class it asked for; the sweep table reports the accuracy per scale.
rule guidance_accuracy:
    input:
        unpack(guidance_accuracy_inputs),
    output:
        csv=paths.GUIDANCE_ACCURACY,
    log:
        "logs/guidance_accuracy/{model}/{sampler}/{pairs}.log",
    params:
        code=script_code("guidance_accuracy.py"),
        scales=lambda wc: [scale_label(w) for w in GUIDANCE["scales"]],
        labels=guidance_labels,
    threads: NETWORK_THREADS
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/guidance_accuracy.py"


rule guidance_sweep:
    input:
        unpack(guidance_sweep_inputs),
    output:
        csv=paths.GUIDANCE_SWEEP,
        pairs=paths.GUIDANCE_SWEEP_PAIRS,
        summary=paths.GUIDANCE_SWEEP_SUMMARY,
    log:
        "logs/guidance_sweep/{model}/{sampler}/{pairs}.log",
    params:
        code=script_code("guidance_sweep.py"),
        scales=lambda wc: [scale_label(w) for w in GUIDANCE["scales"]],
        labels=lambda wc: {"model": wc.model, "data": config["models"][wc.model].get("data", ""), "sampler": wc.sampler},
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/guidance_sweep.py"


rule guidance_sweep_figure:
    input:
        csv=paths.GUIDANCE_SWEEP,
    output:
        figure=report(paths.GUIDANCE_SWEEP_FIGURE, caption="../report/guidance_sweep.rst", category="Ablation: guidance scale"),
    log:
        "logs/guidance_sweep_figure/{model}/{sampler}/{pairs}.log",
    params:
        code=script_code("guidance_sweep_figure.py"),
        title=lambda wc: f"{wc.model}, {wc.sampler}",
        accuracy=lambda wc: PLAN.guidance_classified(wc.model),  # the caption names the accuracy panel
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/guidance_sweep_figure.py"


if GUIDANCE_RUNS:
    TARGETS["guidance"] = [
        path
        for m, s in GUIDANCE_RUNS
        for path in expand([*rules.guidance_sweep.output, paths.GUIDANCE_SWEEP_FIGURE], model=m, sampler=s, pairs=GUIDANCE["pairs"])
    ]
