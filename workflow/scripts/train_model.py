from _job import start

device, batch_size, log = start(snakemake, forkserver="network")
from antithetic.workflow.jobs import run_training  # noqa: E402

run_training(snakemake.wildcards.model, snakemake.params.spec, out_dir=snakemake.output[0])
log.info("saved %s", snakemake.output[0])
