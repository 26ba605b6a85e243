from _job import start

device, batch_size, log = start(snakemake, forkserver="network")
from antithetic.workflow.jobs import run_uq_estimates  # noqa: E402

frame = run_uq_estimates(
    snakemake.params.uq,
    model=snakemake.wildcards.model,
    sampler=snakemake.wildcards.sampler,
    inputs={method: snakemake.input[method] for method in snakemake.params.methods},
    out_estimates=snakemake.output.estimates,
    out_ci_vs_n=snakemake.output.ci_vs_n,
    out_pixels=snakemake.output.pixels,
)
log.info("%d estimate rows", len(frame))
