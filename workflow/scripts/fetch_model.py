from _job import start

device, batch_size, log = start(snakemake, forkserver="network")
from antithetic.workflow.jobs import run_fetch_model  # noqa: E402

record = run_fetch_model(source=snakemake.params.source, revision=snakemake.params.revision, out_dir=snakemake.output[0])
log.info("fetched %s: %d files, %.1f MB", snakemake.params.source, len(record["files"]), record["bytes"] / 1e6)
