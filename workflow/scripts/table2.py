from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs import run_table2  # noqa: E402

out = snakemake.output
run_table2(
    estimates=list(snakemake.input.estimates),
    coverage=list(snakemake.input.coverage),
    out_csv=out.csv,
    out_markdown=out.markdown,
    out_latex=out.latex,
    cov_csv=out.coverage_csv,
    cov_markdown=out.coverage_markdown,
    cov_latex=out.coverage_latex,
)
