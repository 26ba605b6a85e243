from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs.quality import run_quality_table  # noqa: E402

run_quality_table(
    rows=list(snakemake.input.rows),
    out_csv=snakemake.output.csv,
    out_markdown=snakemake.output.markdown,
    out_latex=snakemake.output.latex,
)
