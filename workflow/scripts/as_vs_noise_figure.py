from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs import run_as_vs_noise_figure  # noqa: E402

run_as_vs_noise_figure(csv=snakemake.input.csv, breaks=snakemake.input.breaks, out_figure=snakemake.output.figure)
