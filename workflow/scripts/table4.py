from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs.diversity import run_diversity_table  # noqa: E402

run_diversity_table(
    summaries=list(snakemake.input.summaries),
    out_csv=snakemake.output.csv,
    out_markdown=snakemake.output.markdown,
    out_latex=snakemake.output.latex,
    labels=snakemake.params.labels,
)
