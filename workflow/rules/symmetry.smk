# Score symmetry (paper, Conjecture, Lemma 1, Theorem 1, Figures 3-4, Table 10): AS scores of eps_t slices,
# on-distribution antisymmetry, trajectory correlations, Theorem 1's Fisher-information bound, and the
# partial-negation ablation.

SYMMETRY = config.get("symmetry") or {}
SYMMETRY_MODELS = list(SYMMETRY.get("models") or [])
TRAJECTORY = SYMMETRY.get("trajectories") or {}
TRAJECTORY_RUNS = [(m, s) for m, samplers in (TRAJECTORY.get("runs") or {}).items() for s in samplers]
FISHER = SYMMETRY.get("fisher") or {}
FISHER_MODELS = list(FISHER.get("models") or [])
PARTIAL = SYMMETRY.get("partial") or {}
PARTIAL_RUNS = [(m, s) for m, samplers in (PARTIAL.get("runs") or {}).items() for s in samplers]


def _symmetry_check(kind, name, used_at):
    if name not in (config.get(kind) or {}):
        raise WorkflowError(
            f"Invalid config: '{used_at}' refers to {kind[:-1]} {name!r}, which is not defined under '{kind}:' "
            f"(defined: {sorted(config.get(kind) or {})}). Add it there or fix the name."
        )


for _m in SYMMETRY_MODELS:
    _symmetry_check("models", _m, "symmetry.models")
for _m in FISHER_MODELS:
    _symmetry_check("models", _m, "symmetry.fisher.models")
for _m, _s in TRAJECTORY_RUNS:
    _symmetry_check("models", _m, f"symmetry.trajectories.runs.{_m}")
    _symmetry_check("samplers", _s, f"symmetry.trajectories.runs.{_m}")
for _m, _s in PARTIAL_RUNS:
    _symmetry_check("models", _m, f"symmetry.partial.runs.{_m}")
    _symmetry_check("samplers", _s, f"symmetry.partial.runs.{_m}")
if PARTIAL_RUNS:
    _symmetry_check("designs", PARTIAL["design"], "symmetry.partial.design")
    if config["designs"][PARTIAL["design"]]["kind"] != "partial":
        raise WorkflowError(f"Invalid config: 'symmetry.partial.design' must name a design of kind 'partial', got {PARTIAL['design']!r}")
    _symmetry_check("designs", "antithetic", "symmetry.partial (full-negation reference)")


rule symmetry_probe:
    input:
        unpack(weights_input),
    output:
        scores="results/symmetry/{model}/as_scores.csv",
        summary="results/symmetry/{model}/summary.csv",
        slices="results/symmetry/{model}/slices.npz",
        figure=report(
            "figures/symmetry/{model}_slices.png",
            caption="../report/symmetry_slices.rst",
            category="Score symmetry",
        ),
    log:
        "logs/symmetry_probe/{model}.log",
    threads: min(2, workflow.cores)
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/symmetry_probe.py"


rule symmetry_table:
    input:
        summaries=expand("results/symmetry/{model}/summary.csv", model=SYMMETRY_MODELS),
    output:
        csv="results/tables/symmetry_as.csv",
        markdown=report("results/tables/symmetry_as.md", category="Score symmetry"),
        latex="results/tables/symmetry_as.tex",
        breaks="results/symmetry/breaks.json",
        figure=report(
            "figures/symmetry/as_vs_noise.png",
            caption="../report/symmetry_as_vs_noise.rst",
            category="Score symmetry",
        ),
    log:
        "logs/symmetry_table.log",
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/symmetry_table.py"


rule trajectory_correlations:
    input:
        unpack(weights_input),
    output:
        csv="results/symmetry/{model}/{sampler}/trajectory_{pairs}.csv",
        figure=report(
            "figures/symmetry/{model}_{sampler}_{pairs}_trajectory.png",
            caption="../report/symmetry_trajectory.rst",
            category="Score symmetry",
        ),
    log:
        "logs/trajectory_correlations/{model}/{sampler}/{pairs}.log",
    threads: min(2, workflow.cores)
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/trajectory_correlations.py"


def fisher_weights(wildcards):
    return {
        f"weights_{m}": f"results/models/{m}" for m in FISHER_MODELS if "train" in config["models"][m]
    }


rule theorem1_fisher:
    input:
        unpack(fisher_weights),
    output:
        csv="results/symmetry/fisher.csv",
        json="results/symmetry/fisher.json",
        figure=report(
            "figures/symmetry/theorem1_fisher.png",
            caption="../report/symmetry_fisher.rst",
            category="Score symmetry",
        ),
    log:
        "logs/theorem1_fisher.log",
    params:
        models=FISHER_MODELS,
    threads: min(2, workflow.cores)
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/theorem1_fisher.py"


def partial_inputs(wildcards):
    pairs = int(wildcards.pairs)
    full = pairs
    if (wildcards.model, wildcards.sampler) in CORRELATION_RUNS:
        full = int(CORRELATION["pairs"])  # reuse the correlation stage's PN samples
    return {
        "partial": samples_path(wildcards.model, wildcards.sampler, PARTIAL["design"], 2 * pairs),
        "antithetic": samples_path(wildcards.model, wildcards.sampler, "antithetic", 2 * full),
    }


rule partial_map:
    input:
        unpack(partial_inputs),
    output:
        npz="results/symmetry/{model}/{sampler}/partial_map_{pairs}.npz",
        summary="results/symmetry/{model}/{sampler}/partial_map_{pairs}.json",
        figure=report(
            "figures/symmetry/{model}_{sampler}_{pairs}_partial_map.png",
            caption="../report/symmetry_partial.rst",
            category="Score symmetry",
        ),
    log:
        "logs/partial_map/{model}/{sampler}/{pairs}.log",
    params:
        title=lambda wc: f"{wc.model}, {wc.sampler}",
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/partial_map.py"


TARGETS["symmetry"] = (
    (rules.symmetry_table.output if SYMMETRY_MODELS else [])
    + [
        path
        for m, s in TRAJECTORY_RUNS
        for path in expand(rules.trajectory_correlations.output, model=m, sampler=s, pairs=TRAJECTORY["pairs"])
    ]
    + (rules.theorem1_fisher.output if FISHER_MODELS else [])
    + [
        path
        for m, s in PARTIAL_RUNS
        for path in expand(rules.partial_map.output, model=m, sampler=s, pairs=PARTIAL["pairs"])
    ]
)
