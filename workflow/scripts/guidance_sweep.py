from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs import run_guidance_sweep  # noqa: E402

inputs = snakemake.input
samples = [{"scale": float(w), "pn": inputs[f"pn_{w}"], "rr": inputs[f"rr_{w}"]} for w in snakemake.params.scales]
table = run_guidance_sweep(
    samples=samples,
    out_csv=snakemake.output.csv,
    out_pairs=snakemake.output.pairs,
    out_summary=snakemake.output.summary,
    labels=snakemake.params.labels,
    pairs=int(snakemake.wildcards.pairs),
    accuracy=inputs.get("accuracy"),
)
columns = [c for c in ("guidance_scale", "pn_standard_mean", "rr_standard_mean", "accuracy") if c in table]
log.info("guidance sweep:\n%s", table[columns].to_string(index=False))
