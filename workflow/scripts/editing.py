from _job import start

device, batch_size, log = start(snakemake, forkserver="network")
from antithetic.workflow.jobs.editing import run_editing  # noqa: E402

rows = run_editing(
    model=snakemake.wildcards.model,
    model_spec=snakemake.params.model_spec,
    classifier_dir=snakemake.input.classifier,
    settings=snakemake.params.settings,
    out_csv=snakemake.output.csv,
    out_summary=snakemake.output.summary,
    weights_dir=snakemake.input.get("weights"),
    device=device,
)
for row in rows:
    log.info("t0=%d %s: PN win rate %.2f [%.2f, %.2f]", row["t0"], row["measure"], row["win_rate"], row["ci_low"], row["ci_high"])
