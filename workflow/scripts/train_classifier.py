from _job import start

device, batch_size, log = start(snakemake, forkserver="network")
from antithetic.workflow.jobs.classifier import run_classifier_training  # noqa: E402

record = run_classifier_training(settings=snakemake.params.settings, out_dir=snakemake.output[0])
log.info("held-out accuracy %.4f (%d test digits)", record["test_accuracy"], record["test_size"])
