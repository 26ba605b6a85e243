# Sampling: the expensive stage. One job per (model, sampler, design, sample count, seed); analyses
# and plots re-run freely from its output.


rule sample:
    input:
        unpack(weights_input),
    output:
        samples=paths.SAMPLES,
        provenance=paths.SAMPLES_PROVENANCE,
    log:
        "logs/sample/{model}/{sampler}/{design}_n{n}_seed{seed}.log",
    benchmark:
        "results/benchmarks/sample/{model}/{sampler}/{design}_n{n}_seed{seed}.tsv"
    params:
        code=script_code("sample.py"),
        model=model_spec,
        sampler=sampler_spec,
        design=design_spec,
    threads: NETWORK_THREADS
    resources:
        mem_mb=rule_mem_mb("sample"),
        runtime=rule_runtime("sample"),
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/sample.py"
