"""Models behind one interface: ``eps(x_t, t, cond)`` plus the training noise schedule.

Names are imported from their module on first use, so a job pays only for the kinds it builds: the
analytic and generator models never import diffusers' UNet, pipelines or their ``transformers`` stack.
"""

from __future__ import annotations

from .._lazy import attach

#: public name -> the module that defines it
_EXPORTS = {
    "GaussianMixtureScore": "analytic",
    "default_schedule": "analytic",
    "gaussian_mixture_model": "analytic",
    "gaussian_model": "analytic",
    "ContinuousDiffusionModel": "base",
    "DiffusionModel": "base",
    "EDMModel": "base",
    "VPSDEModel": "base",
    "state_dict_sha256": "base",
    "ModelNotAvailableError": "errors",
    "load_dit": "latent",
    "load_stable_diffusion": "latent",
    "GENERATOR_KINDS": "generator",
    "GeneratorModel": "generator",
    "load_generator": "generator",
    "conditional_unet_model": "pretrained",
    "load_conditional_unet_model": "pretrained",
    "load_pipeline": "pretrained",
    "load_unet_model": "pretrained",
    "unet_model": "pretrained",
    "build_model": "registry",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = attach(__name__, _EXPORTS)
