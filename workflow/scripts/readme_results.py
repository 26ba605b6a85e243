from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.artifacts import atomic_path, compute_platform  # noqa: E402
from antithetic.workflow.readme import results_block  # noqa: E402

with atomic_path(snakemake.output[0]) as tmp:
    tables = {name: path for name, path in snakemake.input.items() if name != "claims"}
    # in a local run every job ran on this machine; the line lets `make check` tell another CPU's rounding from a change
    tmp.write_text(results_block(claims_json=snakemake.input.claims, tables=tables, platform=compute_platform()))
log.info("wrote %s", snakemake.output[0])
