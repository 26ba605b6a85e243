from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs import run_slices_figure  # noqa: E402

run_slices_figure(slices=snakemake.input.slices, title=snakemake.params.title, out_figure=snakemake.output.figure)
