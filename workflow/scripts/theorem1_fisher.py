from _job import start

device, batch_size, log = start(snakemake, forkserver="network")
from antithetic.workflow.jobs import run_fisher  # noqa: E402

record = run_fisher(
    models=snakemake.params.models,
    fisher=snakemake.params.fisher,
    seed=int(snakemake.params.seed),
    data_sampler=snakemake.params.data_sampler,
    weights={m: snakemake.input.get(f"weights_{m}") for m in snakemake.params.models},
    out_csv=snakemake.output.csv,
    out_json=snakemake.output.json,
    device=device,
    batch_size=batch_size,
)
for model, entry in record["models"].items():
    log.info("%s: bound holds %s (max ratio %.3f)", model, entry["bound_holds"], entry["max_ratio_to_bound"])
