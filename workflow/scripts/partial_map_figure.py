from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs import run_partial_map_figure  # noqa: E402

run_partial_map_figure(npz=snakemake.input.npz, summary=snakemake.input.summary, title=snakemake.params.title,
                       out_figure=snakemake.output.figure)
