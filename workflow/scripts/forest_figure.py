from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs.claims import run_forest_figure  # noqa: E402

run_forest_figure(ledger=snakemake.input.ledger, out_figure=snakemake.output.figure)
