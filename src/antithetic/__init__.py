"""Antithetic noise in diffusion models.

Pair each initial noise z with -z: both samples are exact, but strongly negatively correlated, which
tightens Monte Carlo estimates of any statistic of the generated images at no extra compute.

Modules: :mod:`~antithetic.noise` (seed-addressed noise designs), :mod:`~antithetic.models` (one model
interface, diffusers adapters, analytic models), :mod:`~antithetic.samplers` (DDIM, DDPM),
:mod:`~antithetic.generate` (batched generation), :mod:`~antithetic.correlation` (pair correlations),
:mod:`~antithetic.training` (the workflow's own digits DDPM).
"""

from __future__ import annotations

from ._lazy import attach

__version__ = "0.1.0"

__all__ = ["AntitheticNoise", "IIDNoise", "KAntitheticNoise", "PartialAntitheticNoise", "make_design"]


# Lazy: ``import antithetic.workflow.config`` (the Snakefile's DAG build, table and plot jobs) must not pay for
# importing torch.
_EXPORTS = {
    "AntitheticNoise": "noise",
    "IIDNoise": "noise",
    "KAntitheticNoise": "noise",
    "PartialAntitheticNoise": "noise",
    "make_design": "noise",
}

__getattr__, __dir__ = attach(__name__, _EXPORTS)
