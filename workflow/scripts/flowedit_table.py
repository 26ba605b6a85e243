from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs.flowedit import run_flowedit_table  # noqa: E402

run_flowedit_table(
    summary=snakemake.input.summary,
    out_csv=snakemake.output.csv,
    out_markdown=snakemake.output.markdown,
    out_latex=snakemake.output.latex,
)
