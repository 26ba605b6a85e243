from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs import run_correlation  # noqa: E402

row = run_correlation(
    pn_path=snakemake.input.pn,
    rr_path=snakemake.input.rr,
    out_pairs=snakemake.output.pairs,
    out_summary=snakemake.output.summary,
    labels=snakemake.params.labels,
)
log.info("PN standard %.3f, RR standard %.3f", row["pn_standard_mean"], row["rr_standard_mean"])
