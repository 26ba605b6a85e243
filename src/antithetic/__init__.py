"""Antithetic noise in diffusion models.

Pair each initial noise z with -z: both samples are exact, but strongly negatively correlated, which
tightens Monte Carlo estimates of any statistic of the generated images at no extra compute.

On your own diffusers pipeline (docs/library.md, "Use it on your pipeline")::

    from antithetic import antithetic_latents, brightness, estimate, make_design

    design = make_design("antithetic", seed=0)
    latents = antithetic_latents(pipe, 16, design=design)
    images = pipe(prompt, num_images_per_prompt=16, latents=latents, output_type="pt").images
    print(estimate(brightness(images, value_range=(0, 1)), design))

Public API (imported lazily: ``import antithetic`` loads neither torch nor diffusers):

* noise: :func:`antithetic_latents` (latents for ``pipe(latents=...)``), :func:`injects_noise`,
  :class:`InexactPairingWarning`, the designs :class:`IIDNoise`, :class:`AntitheticNoise`,
  :class:`KAntitheticNoise`, :class:`PartialAntitheticNoise`, :class:`RQMCNoise`, :class:`NoiseDesign`,
  :func:`make_design`;
* estimation: :func:`estimate` (:class:`EstimateResult`), :func:`sequential_estimate` (Stein's two-stage
  procedure, :class:`SequentialResult`), and the estimators :func:`mc_estimate`, :func:`amc_estimate`,
  :func:`kamc_estimate`, :func:`rqmc_estimate`, :func:`estimate_groups`, :data:`ESTIMATORS`,
  :func:`efficiency`, :func:`efficiency_interval`;
* statistics: :func:`brightness`, :func:`contrast`, :func:`mean_image`, :func:`to_model_range`;
* exact pairing for pipelines without ``latents=`` or with stochastic samplers: the models
  :func:`load_unet_model`, :func:`load_stable_diffusion`, :func:`load_dit` sampled with
  ``from antithetic.generate import generate`` (the library's samplers negate every per-step noise too;
  ``antithetic.generate`` is the module that holds the function ``generate``).

Modules: :mod:`~antithetic.noise` (seed-addressed noise designs), :mod:`~antithetic.models` (one model
interface, diffusers adapters, analytic models), :mod:`~antithetic.samplers` (DDIM, DDPM),
:mod:`~antithetic.generate` (batched generation), :mod:`~antithetic.correlation` (pair correlations),
:mod:`~antithetic.training` (the workflow's own digits DDPM).
"""

from __future__ import annotations

from ._lazy import attach

__version__ = "0.1.0"

# Lazy: ``import antithetic.workflow.config`` (the Snakefile's DAG build, table and plot jobs) must not pay for
# importing torch.
_EXPORTS = {
    "AntitheticNoise": "noise",
    "IIDNoise": "noise",
    "KAntitheticNoise": "noise",
    "NoiseDesign": "noise",
    "PartialAntitheticNoise": "noise",
    "make_design": "noise",
    "RQMCNoise": "rqmc",
    "InexactPairingWarning": "pipelines",
    "antithetic_latents": "pipelines",
    "injects_noise": "pipelines",
    "latent_shape": "pipelines",
    "EstimateResult": "estimation",
    "estimate": "estimation",
    "SequentialResult": "sequential",
    "sequential_estimate": "sequential",
    "ESTIMATORS": "estimators",
    "Estimate": "estimators",
    "amc_estimate": "estimators",
    "efficiency": "estimators",
    "efficiency_interval": "estimators",
    "estimate_groups": "estimators",
    "kamc_estimate": "estimators",
    "mc_estimate": "estimators",
    "rqmc_estimate": "estimators",
    "brightness": "image_statistics",
    "contrast": "image_statistics",
    "mean_image": "image_statistics",
    "to_model_range": "image_statistics",
    "load_unet_model": "models",
    "load_stable_diffusion": "models",
    "load_dit": "models",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = attach(__name__, _EXPORTS)
