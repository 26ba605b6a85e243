from _job import start

device, batch_size, log = start(snakemake, forkserver="network")
from antithetic.workflow.jobs.diversity import run_diversity  # noqa: E402

rows = run_diversity(
    pn_path=snakemake.input.pn,
    rr_path=snakemake.input.rr,
    classifier_dir=snakemake.input.get("classifier"),
    settings=snakemake.params.settings,
    labels=snakemake.params.labels,
    out_pairs=snakemake.output.pairs,
    out_summary=snakemake.output.summary,
)
for row in rows:
    log.info("%s: improvement %.1f%% [%.1f, %.1f]", row["measure"], row["improvement_pct"], row["ci_low"], row["ci_high"])
