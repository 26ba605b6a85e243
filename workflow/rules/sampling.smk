# Sampling: the expensive stage. One job per (model, sampler, design, sample count, seed); analyses
# and plots re-run freely from its output.


rule sample:
    input:
        unpack(weights_input),
    output:
        samples="results/samples/{model}/{sampler}/{design}_n{n}_seed{seed}.npz",
        provenance="results/samples/{model}/{sampler}/{design}_n{n}_seed{seed}.json",
    log:
        "logs/sample/{model}/{sampler}/{design}_n{n}_seed{seed}.log",
    params:
        model=lambda wc: config["models"][wc.model],
        sampler=lambda wc: config["samplers"][wc.sampler],
        design=lambda wc: config["designs"][wc.design],
    threads: min(2, workflow.cores)
    conda:
        "../../envs/antithetic.yaml"
    script:
        "../scripts/sample.py"
