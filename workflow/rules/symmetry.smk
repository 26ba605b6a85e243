# Score symmetry (paper, Conjecture, Lemma 1, Theorem 1, Corollary 1, Figures 3-4, Table 10): AS scores of
# eps_t slices, on-distribution antisymmetry, trajectory correlations, Theorem 1's Fisher-information bound,
# and the partial-negation ablation. Cross references are checked by antithetic.workflow.config.check_references.


rule symmetry_probe:
    input:
        unpack(weights_input),
    output:
        scores=paths.AS_SCORES,
        summary=paths.SYMMETRY_SUMMARY,
        slices=paths.SYMMETRY_SLICES,
    log:
        "logs/symmetry_probe/{model}.log",
    params:
        code=script_code("symmetry_probe.py"),
        spec=model_entry,
        probe={key: SYMMETRY[key] for key in PROBE_KEYS},
        seed=config["seed"],
        data_sampler=lambda wc: symmetry_data_sampler([wc.model]),
    threads: NETWORK_THREADS
    resources:
        mem_mb=rule_mem_mb("symmetry_probe"),
        runtime=rule_runtime("symmetry_probe"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/symmetry_probe.py"


rule symmetry_table:
    input:
        summaries=expand(paths.SYMMETRY_SUMMARY, model=SYMMETRY_MODELS),
    output:
        csv=table("symmetry_as"),
        markdown=report(table("symmetry_as", "md"), category="Score symmetry"),
        latex=table("symmetry_as", "tex"),
        breaks=paths.SYMMETRY_BREAKS,
    log:
        "logs/symmetry_table.log",
    params:
        code=script_code("symmetry_table.py"),
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
        csv=paths.TRAJECTORY,
    log:
        "logs/trajectory_correlations/{model}/{sampler}/{pairs}.log",
    params:
        code=script_code("trajectory_correlations.py"),
        spec=model_entry,
        sampler=sampler_spec,
        designs={"PN": config["designs"][PN_DESIGN], "RR": config["designs"][RR_DESIGN]},
        pairs=TRAJECTORY["pairs"],
        seed=config["seed"],
    threads: NETWORK_THREADS
    resources:
        mem_mb=rule_mem_mb("trajectory_correlations"),
        runtime=rule_runtime("trajectory_correlations"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/trajectory_correlations.py"


rule theorem1_fisher:
    input:
        unpack(fisher_weights),
    output:
        csv=paths.FISHER,
        json=paths.FISHER_RECORD,
    log:
        "logs/theorem1_fisher.log",
    params:
        code=script_code("theorem1_fisher.py"),
        models={m: config["models"][m] for m in FISHER_MODELS},
        fisher={"samples": FISHER["samples"], "points": FISHER["points"]},
        seed=config["seed"],
        data_sampler=symmetry_data_sampler(FISHER_MODELS),
    threads: NETWORK_THREADS
    resources:
        mem_mb=rule_mem_mb("theorem1_fisher"),
        runtime=rule_runtime("theorem1_fisher"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/theorem1_fisher.py"


# Figures in rules of their own, drawn from the files the jobs above and below wrote: a plotting edit
# redraws them and reruns no network, table or claim job.
rule as_vs_noise_figure:
    input:
        csv=table("symmetry_as"),
        breaks=paths.SYMMETRY_BREAKS,
    output:
        figure=report(paths.AS_VS_NOISE_FIGURE, caption="../report/symmetry_as_vs_noise.rst", category="Score symmetry"),
    log:
        "logs/as_vs_noise_figure.log",
    params:
        code=script_code("as_vs_noise_figure.py"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/as_vs_noise_figure.py"


rule symmetry_slices_figure:
    input:
        slices=paths.SYMMETRY_SLICES,
    output:
        figure=report(paths.SYMMETRY_SLICES_FIGURE, caption="../report/symmetry_slices.rst", category="Score symmetry"),
    log:
        "logs/symmetry_slices_figure/{model}.log",
    params:
        code=script_code("slices_figure.py"),
        title=lambda wc: wc.model,
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/slices_figure.py"


rule trajectory_figure:
    input:
        csv=paths.TRAJECTORY,
    output:
        figure=report(paths.TRAJECTORY_FIGURE, caption="../report/symmetry_trajectory.rst", category="Score symmetry"),
    log:
        "logs/trajectory_figure/{model}/{sampler}/{pairs}.log",
    params:
        code=script_code("trajectory_figure.py"),
        title=lambda wc: f"{wc.model}, {wc.sampler}",
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/trajectory_figure.py"


rule fisher_figure:
    input:
        csv=paths.FISHER,
    output:
        figure=report(paths.FISHER_FIGURE, caption="../report/symmetry_fisher.rst", category="Score symmetry"),
    log:
        "logs/fisher_figure.log",
    params:
        code=script_code("fisher_figure.py"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/fisher_figure.py"


rule partial_map:
    input:
        unpack(partial_inputs),
    output:
        npz=paths.PARTIAL_MAP,
        summary=paths.PARTIAL_SUMMARY,
    log:
        "logs/partial_map/{model}/{sampler}/{pairs}.log",
    params:
        # the design and pair count reach this job through its input files (their names and contents)
        code=script_code("partial_map.py"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/partial_map.py"


rule partial_map_figure:
    input:
        npz=paths.PARTIAL_MAP,
        summary=paths.PARTIAL_SUMMARY,
    output:
        figure=report(paths.PARTIAL_MAP_FIGURE, caption="../report/symmetry_partial.rst", category="Score symmetry"),
    log:
        "logs/partial_map_figure/{model}/{sampler}/{pairs}.log",
    params:
        code=script_code("partial_map_figure.py"),
        title=lambda wc: f"{wc.model}, {wc.sampler}",
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/partial_map_figure.py"


TARGETS["symmetry"] = (
    ([*rules.symmetry_table.output, paths.AS_VS_NOISE_FIGURE] if SYMMETRY_MODELS else [])
    + expand(paths.SYMMETRY_SLICES_FIGURE, model=SYMMETRY_MODELS)
    + [
        path
        for m, s in TRAJECTORY_RUNS
        for path in expand([paths.TRAJECTORY, paths.TRAJECTORY_FIGURE], model=m, sampler=s, pairs=TRAJECTORY["pairs"])
    ]
    + ([*rules.theorem1_fisher.output, paths.FISHER_FIGURE] if FISHER_MODELS else [])
    + [
        path
        for m, s in PARTIAL_RUNS
        for path in expand([*rules.partial_map.output, paths.PARTIAL_MAP_FIGURE], model=m, sampler=s, pairs=PARTIAL["pairs"])
    ]
)
