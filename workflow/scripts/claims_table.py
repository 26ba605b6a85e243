from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs.claims import run_ledger  # noqa: E402

out = snakemake.output
records = run_ledger(rows=list(snakemake.input.rows), out_csv=out.csv, out_markdown=out.markdown, out_latex=out.latex,
                     out_json=out.json)
log.info("%d ledger rows", len(records))
