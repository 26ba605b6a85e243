from _job import start

device, batch_size, log = start(snakemake)
from antithetic.experiments import run_uq_coverage  # noqa: E402

frame = run_uq_coverage(
    snakemake.config,
    model=snakemake.wildcards.model,
    sampler=snakemake.wildcards.sampler,
    out_coverage=snakemake.output.coverage,
    out_provenance=snakemake.output.provenance,
    device=device,
    batch_size=batch_size,
)
log.info("coverage:\n%s", frame[["statistic", "method", "coverage", "target"]].to_string(index=False))
