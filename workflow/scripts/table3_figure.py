from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs.inverse import run_table3_figure  # noqa: E402

run_table3_figure(csv=snakemake.input.csv, out_figure=snakemake.output.figure)
