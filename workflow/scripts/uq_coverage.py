from _job import start

device, batch_size, log = start(snakemake, forkserver="network")
from antithetic.workflow.jobs import run_uq_coverage  # noqa: E402

params = snakemake.params
frame = run_uq_coverage(
    params.uq,
    model=snakemake.wildcards.model,
    model_spec=params.model,
    sampler=snakemake.wildcards.sampler,
    sampler_spec=params.sampler,
    designs=params.designs,
    seed=params.seed,
    out_coverage=snakemake.output.coverage,
    out_provenance=snakemake.output.provenance,
    device=device,
    batch_size=batch_size,
)
log.info("coverage:\n%s", frame[["statistic", "method", "coverage", "target", "se_calibration"]].to_string(index=False))
