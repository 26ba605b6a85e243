from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs import run_eta_sweep  # noqa: E402

frame = run_eta_sweep(
    summaries=list(snakemake.input.summaries),
    out_csv=snakemake.output.csv,
)
for row in frame.itertuples():
    log.info("%s eta=%.2f PN %.3f RR %.3f (standard)", row.model, row.eta, row.pn_standard_mean, row.rr_standard_mean)
