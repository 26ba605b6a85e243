# Uncertainty quantification (paper, Table 2): MC vs AMC vs K-AMC vs RQMC and control variates, CI
# length vs N, CI coverage on the analytic models, per-pixel CI-width maps.
# cross references of the uq section are checked by antithetic.workflow.config.check_references (Snakefile)


rule uq_estimates:
    input:
        unpack(uq_inputs),
    output:
        estimates=paths.UQ_ESTIMATES,
        ci_vs_n=paths.UQ_CI_VS_N,
        pixels=paths.UQ_PIXEL_MAPS,
    log:
        "logs/uq_estimates/{model}/{sampler}.log",
    params:
        code=script_code("uq_estimates.py"),
        uq=uq_params(),
        methods=list(UQ.get("methods") or {}),
        semantic=uq_semantic,
        # a guided model's consecutive samples share their condition (class label, prompt): MC groups them
        conditional=lambda wc: MODEL_KINDS[config["models"][wc.model]["kind"]].guided,
    resources:
        mem_mb=rule_mem_mb("uq_estimates"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/uq_estimates.py"


rule uq_coverage:
    output:
        coverage=paths.UQ_COVERAGE,
        provenance=paths.UQ_COVERAGE_RECORD,
    log:
        "logs/uq_coverage/{model}/{sampler}.log",
    params:
        code=script_code("uq_coverage.py"),
        uq={**uq_params(), "coverage": uq_coverage_section()},
        model=model_entry,
        sampler=sampler_spec,
        designs={name: config["designs"][name] for name in sorted(set(((UQ.get("coverage") or {}).get("methods") or {}).values()))},
        seed=config["seed"],
    threads: NETWORK_THREADS
    resources:
        mem_mb=rule_mem_mb("uq_coverage"),
        runtime=rule_runtime("uq_coverage"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/uq_coverage.py"


rule table2:
    input:
        estimates=[fill(paths.UQ_ESTIMATES, model=m, sampler=s) for m, s in UQ_RUNS],
        coverage=[fill(paths.UQ_COVERAGE, model=m, sampler=s) for m, s in UQ_COVERAGE_RUNS],
    output:
        csv=table("table2"),
        markdown=report(table("table2", "md"), category="Table 2: uncertainty quantification"),
        latex=table("table2", "tex"),
        coverage_csv=table("coverage"),
        coverage_markdown=report(table("coverage", "md"), category="Table 2: uncertainty quantification"),
        coverage_latex=table("coverage", "tex"),
    log:
        "logs/table2.log",
    params:
        code=script_code("table2.py"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/table2.py"


rule uq_figures:
    input:
        ci_vs_n=[fill(paths.UQ_CI_VS_N, model=m, sampler=s) for m, s in UQ_RUNS],
        coverage=[fill(paths.UQ_COVERAGE, model=m, sampler=s) for m, s in UQ_COVERAGE_RUNS],
        pixels=[fill(paths.UQ_PIXEL_MAPS, model=m, sampler=s) for m, s in UQ_RUNS],
    output:
        ci_vs_n=report(paths.CI_VS_N, caption="../report/uq_ci_vs_n.rst", category="Table 2: uncertainty quantification"),
        coverage=report("figures/uq/coverage.png", caption="../report/uq_coverage.rst", category="Table 2: uncertainty quantification"),
        maps=report("figures/uq/ci_width_maps.png", caption="../report/uq_ci_width_maps.rst", category="Table 2: uncertainty quantification"),
    log:
        "logs/uq_figures.log",
    params:
        code=script_code("uq_figures.py"),
        labels=[f"{m} ({s})" for m, s in UQ_RUNS],
        statistic=UQ.get("maps", {}).get("statistic"),
        methods=UQ.get("maps", {}).get("methods"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/uq_figures.py"


if UQ_RUNS:
    TARGETS["uq"] = [*rules.table2.output, *rules.uq_figures.output]
