from _job import start

device, batch_size, log = start(snakemake, forkserver="table")
from antithetic.workflow.jobs import run_pair_figures  # noqa: E402

run_pair_figures(
    pn_path=snakemake.input.pn,
    rr_path=snakemake.input.rr,
    pairs_csv=snakemake.input.pairs,
    out_histogram=snakemake.output.histogram,
    out_grid=snakemake.output.grid,
    title=snakemake.params.title,
    grid_pairs=snakemake.params.grid_pairs,
)
