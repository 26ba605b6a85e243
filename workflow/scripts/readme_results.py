from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.io import atomic_path  # noqa: E402
from antithetic.readme import results_block  # noqa: E402

with atomic_path(snakemake.output[0]) as tmp:
    tables = {name: path for name, path in snakemake.input.items() if name != "claims"}
    tmp.write_text(results_block(claims_json=snakemake.input.claims, tables=tables))
log.info("wrote %s", snakemake.output[0])
