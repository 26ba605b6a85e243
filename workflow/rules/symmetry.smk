# Score symmetry (paper, Conjecture, Lemma 1, Theorem 1, Corollary 1, Figures 3-4, Table 10): AS scores of
# eps_t slices, on-distribution antisymmetry, trajectory correlations, Theorem 1's Fisher-information bound,
# and the partial-negation ablation. Cross references are checked by antithetic.workflow.config.check_references.


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
    params:
        spec=model_entry,
        probe={key: SYMMETRY[key] for key in PROBE_KEYS},
        seed=config["seed"],
        data_sampler=lambda wc: symmetry_data_sampler([wc.model]),
    threads: NETWORK_THREADS
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
    params:
        as_threshold=SYMMETRY["as_threshold"],
        corr_threshold=SYMMETRY["corr_threshold"],
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
    params:
        spec=model_entry,
        sampler=sampler_spec,
        designs={"PN": config["designs"][PN_DESIGN], "RR": config["designs"][RR_DESIGN]},
        pairs=TRAJECTORY["pairs"],
        seed=config["seed"],
    threads: NETWORK_THREADS
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/trajectory_correlations.py"


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
        models={m: config["models"][m] for m in FISHER_MODELS},
        fisher={"samples": FISHER["samples"], "points": FISHER["points"]},
        seed=config["seed"],
        data_sampler=symmetry_data_sampler(FISHER_MODELS),
    threads: NETWORK_THREADS
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/theorem1_fisher.py"


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
        # the design and pair count reach this job through its input files (their names and contents)
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
