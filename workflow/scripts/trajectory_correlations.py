from _job import start

device, batch_size, log = start(snakemake, forkserver="network")
from antithetic.workflow.jobs import run_trajectories  # noqa: E402

frame = run_trajectories(
    model=snakemake.wildcards.model,
    spec=snakemake.params.spec,
    sampler=snakemake.wildcards.sampler,
    sampler_spec=snakemake.params.sampler,
    designs=snakemake.params.designs,
    pairs=int(snakemake.params.pairs),
    seed=int(snakemake.params.seed),
    weights_dir=snakemake.input.get("weights"),
    out_csv=snakemake.output.csv,
    device=device,
    batch_size=batch_size,
)
final = frame[(frame["quantity"] == "x") & (frame["variant"] == "standard") & (frame["t"] == -1)]
log.info("output correlation: %s", dict(zip(final["kind"], final["mean"].round(3))))
