# Uncertainty quantification (paper, Table 2): MC vs AMC vs K-AMC vs RQMC and control variates, CI
# length vs N, CI coverage on the analytic models, per-pixel CI-width maps.
# cross references of the uq section are checked by antithetic.workflow.config.check_references (Snakefile)


rule uq_estimates:
    input:
        unpack(uq_inputs),
    output:
        estimates="results/uq/{model}/{sampler}/estimates.csv",
        ci_vs_n="results/uq/{model}/{sampler}/ci_vs_n.csv",
        pixels="results/uq/{model}/{sampler}/pixel_maps.npz",
    log:
        "logs/uq_estimates/{model}/{sampler}.log",
    params:
        uq=uq_params(),
        methods=list(UQ.get("methods") or {}),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/uq_estimates.py"


rule uq_coverage:
    output:
        coverage="results/uq/{model}/{sampler}/coverage.csv",
        provenance="results/uq/{model}/{sampler}/coverage.json",
    log:
        "logs/uq_coverage/{model}/{sampler}.log",
    params:
        uq={**uq_params(), "coverage": uq_coverage_section()},
        model=model_entry,
        sampler=sampler_spec,
        designs={name: config["designs"][name] for name in sorted(set(((UQ.get("coverage") or {}).get("methods") or {}).values()))},
        seed=config["seed"],
    threads: NETWORK_THREADS
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/uq_coverage.py"


rule table2:
    input:
        estimates=[f"results/uq/{m}/{s}/estimates.csv" for m, s in UQ_RUNS],
        coverage=[f"results/uq/{m}/{s}/coverage.csv" for m, s in UQ_COVERAGE_RUNS],
    output:
        csv="results/tables/table2.csv",
        markdown=report("results/tables/table2.md", category="Table 2: uncertainty quantification"),
        latex="results/tables/table2.tex",
        coverage_csv="results/tables/coverage.csv",
        coverage_markdown=report("results/tables/coverage.md", category="Table 2: uncertainty quantification"),
        coverage_latex="results/tables/coverage.tex",
    log:
        "logs/table2.log",
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/table2.py"


rule uq_figures:
    input:
        ci_vs_n=[f"results/uq/{m}/{s}/ci_vs_n.csv" for m, s in UQ_RUNS],
        coverage=[f"results/uq/{m}/{s}/coverage.csv" for m, s in UQ_COVERAGE_RUNS],
        pixels=[f"results/uq/{m}/{s}/pixel_maps.npz" for m, s in UQ_RUNS],
    output:
        ci_vs_n=report("figures/uq/ci_vs_n.png", caption="../report/uq_ci_vs_n.rst", category="Table 2: uncertainty quantification"),
        coverage=report("figures/uq/coverage.png", caption="../report/uq_coverage.rst", category="Table 2: uncertainty quantification"),
        maps=report("figures/uq/ci_width_maps.png", caption="../report/uq_ci_width_maps.rst", category="Table 2: uncertainty quantification"),
    log:
        "logs/uq_figures.log",
    params:
        labels=[f"{m} ({s})" for m, s in UQ_RUNS],
        statistic=UQ.get("maps", {}).get("statistic"),
        methods=UQ.get("maps", {}).get("methods"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/uq_figures.py"


if UQ_RUNS:
    TARGETS["uq"] = [*rules.table2.output, *rules.uq_figures.output]
