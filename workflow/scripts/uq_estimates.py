from _job import start

device, batch_size, log = start(snakemake, forkserver="network")
from antithetic.workflow.jobs import run_uq_estimates  # noqa: E402
from antithetic.models.conditional import SAMPLES_PER_CONDITION  # noqa: E402
from antithetic.workflow.jobs.uq import semantic_statistics  # noqa: E402

semantic = snakemake.params.semantic
extra = None
if semantic["statistics"]:
    extra = semantic_statistics(semantic["statistics"], model=snakemake.wildcards.model, classifier=snakemake.input.classifier,
                                class_labels=semantic["class_labels"])
    log.info("semantic statistics: %s", ", ".join(extra))
frame = run_uq_estimates(
    snakemake.params.uq,
    model=snakemake.wildcards.model,
    sampler=snakemake.wildcards.sampler,
    inputs={method: snakemake.input[method] for method in snakemake.params.methods},
    out_estimates=snakemake.output.estimates,
    out_ci_vs_n=snakemake.output.ci_vs_n,
    out_pixels=snakemake.output.pixels,
    extra_statistics=extra,
    samples_per_condition=SAMPLES_PER_CONDITION if snakemake.params.conditional else 1,
)
log.info("%d estimate rows", len(frame))
