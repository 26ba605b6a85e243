"""Workflow jobs: each function is one Snakemake rule's work, called by a thin script.

Jobs load their inputs, call the tested library and write their outputs atomically, with provenance
next to them (resolved parameters, seeds, package versions, device, weights hash). They take the
values their rule declares as ``params`` (resolved config entries), never the whole config. One
module per workflow stage; importing this package imports none of them, so a job pays only for the
stage it runs (a table job never imports torch or diffusers).
"""

from __future__ import annotations

from ..._lazy import attach

#: job function -> the stage module that defines it
_JOBS = {
    "run_claim": "claims",
    "run_forest_figure": "claims",
    "run_ledger": "claims",
    "run_correlation": "correlation",
    "run_pair_figures": "correlation",
    "run_table1": "correlation",
    "run_eta_sweep": "eta_sweep",
    "run_eta_sweep_figure": "eta_sweep",
    "run_generator_training": "generators",
    "run_fetch_model": "guidance",
    "run_guidance_accuracy": "guidance",
    "run_guidance_sweep": "guidance",
    "run_guidance_sweep_figure": "guidance",
    "run_guided_sampling": "guidance",
    "design_from_spec": "sampling",
    "load_model": "sampling",
    "run_sampling": "sampling",
    "run_training": "sampling",
    "sampler_from_spec": "sampling",
    "run_as_vs_noise_figure": "symmetry",
    "run_fisher": "symmetry",
    "run_fisher_figure": "symmetry",
    "run_partial_map": "symmetry",
    "run_partial_map_figure": "symmetry",
    "run_slices_figure": "symmetry",
    "run_symmetry_probe": "symmetry",
    "run_symmetry_table": "symmetry",
    "run_trajectories": "symmetry",
    "run_trajectory_figure": "symmetry",
    "run_table2": "uq",
    "run_uq_coverage": "uq",
    "run_uq_estimates": "uq",
    "run_uq_figures": "uq",
}

__all__ = sorted(_JOBS)


__getattr__, __dir__ = attach(__name__, _JOBS)
