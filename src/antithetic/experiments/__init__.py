"""Workflow jobs: each function is one Snakemake rule's work, called by a thin script.

Jobs take the validated config and explicit paths, write their outputs atomically and record
provenance next to them (resolved parameters, seeds, package versions, device, weights hash).
One module per workflow stage.
"""

from .correlation import run_correlation, run_pair_figures, run_table1
from .eta_sweep import run_eta_sweep
from .generators import run_generator_training
from .guidance import run_fetch_model, run_guidance_sweep, run_guided_sampling
from .sampling import design_from_config, model_from_config, run_sampling, run_training, sampler_from_config
from .symmetry import run_fisher, run_partial_map, run_symmetry_probe, run_symmetry_table, run_trajectories
from .uq import run_table2, run_uq_coverage, run_uq_estimates, run_uq_figures

__all__ = [
    "design_from_config",
    "model_from_config",
    "run_correlation",
    "run_eta_sweep",
    "run_fetch_model",
    "run_guidance_sweep",
    "run_guided_sampling",
    "run_fisher",
    "run_generator_training",
    "run_partial_map",
    "run_pair_figures",
    "run_sampling",
    "run_symmetry_probe",
    "run_symmetry_table",
    "run_table1",
    "run_training",
    "run_uq_coverage",
    "run_uq_estimates",
    "run_uq_figures",
    "run_table2",
    "run_trajectories",
    "sampler_from_config",
]
