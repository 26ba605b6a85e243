from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs import run_uq_figures  # noqa: E402

run_uq_figures(
    ci_vs_n=list(snakemake.input.ci_vs_n),
    coverage=list(snakemake.input.coverage),
    pixels=dict(zip(snakemake.params.labels, snakemake.input.pixels)),
    out_ci_vs_n=snakemake.output.ci_vs_n,
    out_coverage=snakemake.output.coverage,
    out_maps=snakemake.output.maps,
    maps_statistic=snakemake.params.statistic,
    maps_methods=tuple(snakemake.params.methods),
)
