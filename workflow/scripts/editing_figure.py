from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs.editing import run_editing_figure  # noqa: E402

run_editing_figure(csv=snakemake.input.csv, out_figure=snakemake.output.figure)
