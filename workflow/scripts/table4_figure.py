from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs.diversity import run_diversity_figure  # noqa: E402

run_diversity_figure(csv=snakemake.input.csv, out_figure=snakemake.output.figure)
