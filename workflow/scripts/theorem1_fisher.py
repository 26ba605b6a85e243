from _job import start

device, batch_size, log = start(snakemake)
from antithetic.experiments import run_fisher  # noqa: E402

weights = {m: snakemake.input.get(f"weights_{m}") for m in snakemake.params.models}
record = run_fisher(
    snakemake.config,
    weights=weights,
    out_csv=snakemake.output.csv,
    out_json=snakemake.output.json,
    out_figure=snakemake.output.figure,
    device=device,
    batch_size=batch_size,
)
for model, entry in record["models"].items():
    log.info("%s: bound holds %s (max ratio %.3f)", model, entry["bound_holds"], entry["max_ratio_to_bound"])
