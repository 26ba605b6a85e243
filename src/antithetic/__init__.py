"""Antithetic noise in diffusion models.

Pair each initial noise z with -z: both samples are exact, but strongly negatively correlated, which
tightens Monte Carlo estimates of any statistic of the generated images at no extra compute.

Modules: :mod:`~antithetic.noise` (seed-addressed noise designs), :mod:`~antithetic.models` (one model
interface, diffusers adapters, analytic models), :mod:`~antithetic.samplers` (DDIM, DDPM),
:mod:`~antithetic.sampling` (batched generation), :mod:`~antithetic.correlation` (pair correlations),
:mod:`~antithetic.training` (the workflow's own digits DDPM).
"""

from .noise import AntitheticNoise, IIDNoise, KAntitheticNoise, PartialAntitheticNoise, make_design
from .rqmc import RQMCNoise  # noqa: F401  (registers the "rqmc" design)

__version__ = "0.1.0"

__all__ = ["AntitheticNoise", "IIDNoise", "KAntitheticNoise", "PartialAntitheticNoise", "make_design"]
