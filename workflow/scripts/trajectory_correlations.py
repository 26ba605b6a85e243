from _job import start

device, batch_size, log = start(snakemake)
from antithetic.experiments import run_trajectories  # noqa: E402

frame = run_trajectories(
    snakemake.config,
    model=snakemake.wildcards.model,
    sampler=snakemake.wildcards.sampler,
    weights_dir=snakemake.input.get("weights"),
    out_csv=snakemake.output.csv,
    out_figure=snakemake.output.figure,
    device=device,
    batch_size=batch_size,
)
final = frame[(frame["quantity"] == "x") & (frame["variant"] == "standard") & (frame["t"] == -1)]
log.info("output correlation: %s", dict(zip(final["kind"], final["mean"].round(3))))
