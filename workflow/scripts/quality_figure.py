from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs.quality import run_quality_figure  # noqa: E402

run_quality_figure(csv=snakemake.input.csv, out_figure=snakemake.output.figure)
