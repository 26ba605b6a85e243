from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.claims import measured_text  # noqa: E402
from antithetic.workflow.jobs.claims import run_claim  # noqa: E402

rows = run_claim(claim=snakemake.params.claim, targets=snakemake.params.targets, out_json=snakemake.output[0])
for row in rows:
    row = row.to_dict()
    where = " ".join(filter(None, (row["model"], row["sampler"]))) or "-"
    log.info("%s %s: %s (%s) -> %s  [paper %s; from %s]", row["id"], where, measured_text(row) or "-", row["test"],
             row["verdict"], row["paper"] or "-", row["file"] or row["detail"].get("command", "-"))
