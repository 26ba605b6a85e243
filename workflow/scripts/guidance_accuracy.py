from _job import start

device, batch_size, log = start(snakemake, forkserver="network")
from antithetic.workflow.jobs import run_guidance_accuracy  # noqa: E402

inputs, params = snakemake.input, snakemake.params
samples = [{"scale": float(w), "pn": inputs[f"pn_{w}"], "rr": inputs[f"rr_{w}"]} for w in params.scales]
table = run_guidance_accuracy(
    samples=samples,
    classifier_dir=inputs.classifier,
    labels=params.labels,
    pairs=int(snakemake.wildcards.pairs),
    out_csv=snakemake.output.csv,
    device=device,
)
scored = table[table["scored"]].groupby("guidance_scale")["correct"].mean()
log.info("accuracy of the scored samples per guidance scale:\n%s", scored.to_string())
