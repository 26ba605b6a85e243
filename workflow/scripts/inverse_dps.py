from _job import start

device, batch_size, log = start(snakemake, forkserver="network")
from antithetic.workflow.jobs.inverse import run_inverse  # noqa: E402

rows = run_inverse(
    model=snakemake.wildcards.model,
    model_spec=snakemake.params.model_spec,
    task=snakemake.wildcards.task,
    task_params=snakemake.params.task_params,
    settings=snakemake.params.settings,
    split=snakemake.params.split,
    out_csv=snakemake.output.csv,
    out_summary=snakemake.output.summary,
    weights_dir=snakemake.input.get("weights"),
    images=snakemake.input.get("images"),
    device=device,
    batch_size=batch_size,
)
for row in rows:
    log.info("%s: efficiency %.2f [%.2f, %.2f], rho %.2f", row["statistic"], row["efficiency"], row["efficiency_ci_low"], row["efficiency_ci_high"], row["rho_mean"])
