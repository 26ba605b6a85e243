"""Models behind one interface: ``eps(x_t, t, cond)`` plus the training noise schedule."""

from .analytic import GaussianMixtureScore, default_schedule, gaussian_mixture_model, gaussian_model
from .base import ContinuousDiffusionModel, DiffusionModel, EDMModel, VPSDEModel, state_dict_sha256
from .generator import GENERATOR_KINDS, GeneratorModel, load_generator
from .pretrained import ModelNotAvailableError, load_pipeline, load_unet_model, unet_model
from .registry import build_model

__all__ = [
    "ContinuousDiffusionModel",
    "DiffusionModel",
    "EDMModel",
    "VPSDEModel",
    "GENERATOR_KINDS",
    "GeneratorModel",
    "GaussianMixtureScore",
    "ModelNotAvailableError",
    "build_model",
    "default_schedule",
    "gaussian_mixture_model",
    "gaussian_model",
    "load_generator",
    "load_pipeline",
    "load_unet_model",
    "state_dict_sha256",
    "unet_model",
]
