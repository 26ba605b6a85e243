from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs import run_trajectory_figure  # noqa: E402

run_trajectory_figure(csv=snakemake.input.csv, title=snakemake.params.title, out_figure=snakemake.output.figure)
