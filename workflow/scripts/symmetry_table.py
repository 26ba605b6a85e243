from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs import run_symmetry_table  # noqa: E402

breaks = run_symmetry_table(
    summaries=list(snakemake.input.summaries),
    as_threshold=float(snakemake.params.as_threshold),
    corr_threshold=float(snakemake.params.corr_threshold),
    out_csv=snakemake.output.csv,
    out_markdown=snakemake.output.markdown,
    out_latex=snakemake.output.latex,
    out_breaks=snakemake.output.breaks,
)
for model, entry in breaks.items():
    log.info("%s: AS criterion breaks at sigma_t=%s", model, entry["as_q10"]["break_sigma"])
