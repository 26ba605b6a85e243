from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs.inverse import run_table3  # noqa: E402

run_table3(
    summaries=list(snakemake.input.summaries),
    out_csv=snakemake.output.csv,
    out_markdown=snakemake.output.markdown,
    out_latex=snakemake.output.latex,
    labels=snakemake.params.labels,
)
