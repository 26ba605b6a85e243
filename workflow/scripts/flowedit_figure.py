from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs.flowedit import run_flowedit_figure  # noqa: E402

run_flowedit_figure(csv=snakemake.input.csv, edits=snakemake.input.edits, out_figure=snakemake.output.figure, out_grid=snakemake.output.grid)
