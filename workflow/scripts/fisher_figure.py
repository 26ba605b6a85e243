from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs import run_fisher_figure  # noqa: E402

run_fisher_figure(csv=snakemake.input.csv, out_figure=snakemake.output.figure)
