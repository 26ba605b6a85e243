from _job import start

device, batch_size, log = start(snakemake, forkserver="network")
from antithetic.workflow.jobs import run_sampling  # noqa: E402

wc, params = snakemake.wildcards, snakemake.params
samples = run_sampling(
    model=wc.model,
    model_spec=params.model,
    sampler=wc.sampler,
    sampler_spec=params.sampler,
    design=wc.design,
    design_spec=params.design,
    num_samples=int(wc.n),
    seed=int(wc.seed),
    weights_dir=snakemake.input.get("weights"),
    out_samples=snakemake.output.samples,
    out_provenance=snakemake.output.provenance,
    device=device,
    batch_size=batch_size,
)
log.info("%d samples in %.1f s", len(samples.samples), samples.seconds)
