from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs import run_guidance_sweep_figure  # noqa: E402

run_guidance_sweep_figure(csv=snakemake.input.csv, title=snakemake.params.title, out_figure=snakemake.output.figure)
