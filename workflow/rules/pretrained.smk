# The paper's pretrained checkpoints: fetch hub weights once into results/models/<name> (so compute
# nodes run offline), and the classifier-free-guidance sweep (PN and RR correlation vs scale).

import re

FETCH_KINDS = {"unet", "stable_diffusion", "dit", "consistency"}


def _is_hub_id(source):
    """owner/name that is not a local path (mirrors antithetic.models.fetch.is_hub_id)."""
    if not source or source.startswith((".", "/", "~")) or Path(source).expanduser().exists():
        return False
    parts = source.split("/")
    return len(parts) == 2 and all(parts)


# models whose weights the workflow downloads (hub ids); local folders are used in place
FETCHED_MODELS = [
    name for name, spec in config["models"].items()
    if spec.get("kind") in FETCH_KINDS and "train" not in spec and spec.get("fetch", True) and _is_hub_id(spec.get("pretrained"))
]


rule fetch_model:
    output:
        directory("results/models/{model}"),
    log:
        "logs/fetch_model/{model}.log",
    params:
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


GUIDANCE = config.get("guidance") or {}
GUIDANCE_RUNS = [(m, s) for m, samplers in (GUIDANCE.get("runs") or {}).items() for s in samplers]
GUIDED_KINDS = {"stable_diffusion", "dit", "class_gaussian_mixture"}

for _m, _s in GUIDANCE_RUNS:
    if _m not in config["models"] or _s not in config["samplers"]:
        raise WorkflowError(
            f"Invalid config: 'guidance.runs.{_m}' names model {_m!r} and sampler {_s!r}; both must be defined "
            f"under 'models:' and 'samplers:' (models: {sorted(config['models'])}, samplers: {sorted(config['samplers'])})"
        )
    if config["models"][_m]["kind"] not in GUIDED_KINDS:
        raise WorkflowError(
            f"Invalid config: 'guidance.runs.{_m}': kind {config['models'][_m]['kind']!r} has no classifier-free "
            f"guidance; use a model of kind {sorted(GUIDED_KINDS)}"
        )
if GUIDANCE_RUNS:
    for _d in ("iid", "antithetic"):
        if _d not in config["designs"]:
            raise WorkflowError(f"Invalid config: the guidance sweep needs design {_d!r} under 'designs:'")


def scale_label(scale):
    return f"{float(scale):g}"


GUIDED = "results/guidance/{model}/{sampler}/w{scale}/{design}_n{n}_seed{seed}"


def guided_path(model, sampler, scale, design, n):
    return GUIDED.format(model=model, sampler=sampler, scale=scale_label(scale), design=design, n=n, seed=config["seed"]) + ".npz"


rule guided_sample:
    input:
        unpack(weights_input),
    output:
        samples=GUIDED + ".npz",
        provenance=GUIDED + ".json",
    log:
        "logs/guided_sample/{model}/{sampler}/w{scale}/{design}_n{n}_seed{seed}.log",
    params:
        model=lambda wc: config["models"][wc.model],
        sampler=lambda wc: config["samplers"][wc.sampler],
        design=lambda wc: config["designs"][wc.design],
    wildcard_constraints:
        scale=r"[0-9]+(\.[0-9]+)?",
    threads: min(2, workflow.cores)
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/guided_sample.py"


def guidance_sweep_inputs(wildcards):
    n = 2 * int(wildcards.pairs)
    return {
        f"{kind}_{scale_label(w)}": guided_path(wildcards.model, wildcards.sampler, w, design, n)
        for w in GUIDANCE["scales"]
        for kind, design in (("pn", "antithetic"), ("rr", "iid"))
    }


rule guidance_sweep:
    input:
        unpack(guidance_sweep_inputs),
    output:
        csv="results/guidance/{model}/{sampler}/sweep_{pairs}.csv",
        pairs="results/guidance/{model}/{sampler}/sweep_{pairs}_pairs.csv",
        figure=report(
            "figures/guidance/{model}_{sampler}_{pairs}.png",
            caption="../report/guidance_sweep.rst",
            category="Ablation: guidance scale",
        ),
    log:
        "logs/guidance_sweep/{model}/{sampler}/{pairs}.log",
    params:
        scales=lambda wc: [scale_label(w) for w in GUIDANCE["scales"]],
        labels=lambda wc: {"model": wc.model, "data": config["models"][wc.model].get("data", ""), "sampler": wc.sampler},
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/guidance_sweep.py"


if GUIDANCE_RUNS:
    TARGETS["guidance"] = [
        path
        for m, s in GUIDANCE_RUNS
        for path in expand(rules.guidance_sweep.output, model=m, sampler=s, pairs=GUIDANCE["pairs"])
    ]
