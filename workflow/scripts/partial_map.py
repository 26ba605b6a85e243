from _job import start

device, batch_size, log = start(snakemake, forkserver="network")
from antithetic.workflow.jobs import run_partial_map  # noqa: E402

summary = run_partial_map(
    partial_path=snakemake.input.partial,
    antithetic_path=snakemake.input.antithetic,
    out_npz=snakemake.output.npz,
    out_summary=snakemake.output.summary,
)
log.info("negated region %.3f, kept region %.3f", summary["partial_negated_mean"], summary["partial_kept_mean"])
