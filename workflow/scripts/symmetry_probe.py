from _job import start

device, batch_size, log = start(snakemake, forkserver="network")
from antithetic.workflow.jobs import run_symmetry_probe  # noqa: E402

summary = run_symmetry_probe(
    model=snakemake.wildcards.model,
    spec=snakemake.params.spec,
    probe=snakemake.params.probe,
    seed=snakemake.params.seed,
    data_sampler=snakemake.params.data_sampler,
    weights_dir=snakemake.input.get("weights"),
    out_scores=snakemake.output.scores,
    out_summary=snakemake.output.summary,
    out_slices=snakemake.output.slices,
    device=device,
    batch_size=batch_size,
)
for row in summary.itertuples():
    log.info("t=%d sigma=%.3f AS mean %.3f q10 %.3f [%.3f, %.3f] corr %.3f residual %.3f", row.t, row.sigma, row.as_mean,
             row.as_q10, row.as_q10_lo, row.as_q10_hi, row.corr_mean, row.residual_median)
