"""Antithetic noise in diffusion models.

Pair each initial noise z with -z: both samples are exact, but strongly negatively correlated, which
tightens Monte Carlo estimates of any statistic of the generated images at no extra compute.

Modules: :mod:`~antithetic.noise` (seed-addressed noise designs), :mod:`~antithetic.models` (one model
interface, diffusers adapters, analytic models), :mod:`~antithetic.samplers` (DDIM, DDPM),
:mod:`~antithetic.sampling` (batched generation), :mod:`~antithetic.correlation` (pair correlations),
:mod:`~antithetic.training` (the workflow's own digits DDPM).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

__all__ = ["AntitheticNoise", "IIDNoise", "KAntitheticNoise", "PartialAntitheticNoise", "make_design"]


def __getattr__(name: str) -> Any:
    # Lazy: ``import antithetic.config`` (the Snakefile's DAG build, table and plot jobs) must not pay
    # for importing torch.
    if name in __all__:
        return getattr(import_module(".noise", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
