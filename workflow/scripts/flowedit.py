from _job import start

device, batch_size, log = start(snakemake, forkserver="network")
from antithetic.workflow.jobs.flowedit import run_flowedit  # noqa: E402

rows = run_flowedit(
    model=snakemake.wildcards.model,
    model_spec=snakemake.params.model_spec,
    classifier_dir=snakemake.input.classifier,
    settings=snakemake.params.settings,
    out_csv=snakemake.output.csv,
    out_summary=snakemake.output.summary,
    out_edits=snakemake.output.edits,
    weights_dir=snakemake.input.get("weights"),
    device=device,
)
for row in rows:
    log.info("n_max=%d %s: antithetic win rate %.2f [%.2f, %.2f]", row["n_max"], row["measure"], row["win_rate"], row["ci_low"], row["ci_high"])
