from _job import start

device, batch_size, log = start(snakemake)
from antithetic.experiments import run_uq_estimates  # noqa: E402

inputs = {method: snakemake.input[method] for method in snakemake.config["uq"]["methods"]}
frame = run_uq_estimates(
    snakemake.config,
    model=snakemake.wildcards.model,
    sampler=snakemake.wildcards.sampler,
    inputs=inputs,
    out_estimates=snakemake.output.estimates,
    out_ci_vs_n=snakemake.output.ci_vs_n,
    out_pixels=snakemake.output.pixels,
)
log.info("%d estimate rows", len(frame))
