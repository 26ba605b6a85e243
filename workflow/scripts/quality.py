from _job import start

device, batch_size, log = start(snakemake, forkserver="network")
from antithetic.workflow.jobs.quality import run_quality  # noqa: E402

verdict = run_quality(
    pn_path=snakemake.input.pn,
    iid_path=snakemake.input.iid,
    classifier_dir=snakemake.input.classifier,
    settings=snakemake.params.settings,
    labels=snakemake.params.labels,
    out_csv=snakemake.output.csv,
    out_json=snakemake.output.summary,
)
log.info("no-loss verdict %s", verdict)
