"""Models of the user's own code: ``kind: python`` with ``factory: "package.module:function"``.

A model description ``spec``::

    {
        "kind": "python",
        "factory": "mypackage.models:build",  # resolved with pkgutil.resolve_name
        "options": {"checkpoint": "/path/to/weights.pt", "beta_max": 20.0},  # keyword arguments of the factory
        "parametrization": "vp_sde_score",  # optional: lets the samplers be checked before the model is built
    }

The factory returns a model object of the library's interface (:mod:`antithetic.models.base`): a
:class:`~antithetic.models.base.DiffusionModel` (discrete DDPM eps), a
:class:`~antithetic.models.base.VPSDEModel` (continuous-time score-SDE network) or an
:class:`~antithetic.models.base.EDMModel` (EDM denoiser). :func:`load_python_model` checks it and runs
it once on a probe batch, so a wrong return type, a shape mismatch or a parametrization that
contradicts ``spec`` fails at load with a message naming the setting of ``spec``.
"""

from __future__ import annotations

import math
import pkgutil
from typing import Any

import torch

from .base import ContinuousDiffusionModel, DiffusionModel

__all__ = ["load_python_model", "resolve_factory"]


def resolve_factory(factory: Any) -> Any:
    """The callable that ``factory`` names (``"package.module:function"``).

    Raises:
        ValueError: ``factory`` is not of that form, cannot be resolved or names no callable.
    """
    if not isinstance(factory, str) or ":" not in factory:
        raise ValueError(f"'factory' is {factory!r}; give it as 'package.module:function'")
    try:
        obj = pkgutil.resolve_name(factory)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(
            f"'factory' = {factory!r} cannot be resolved ({type(err).__name__}: {err}); make the package "
            "importable by this Python (pip install -e it, or add its folder to PYTHONPATH) and check the "
            "module path and the function name after ':'"
        ) from err
    if not callable(obj):
        raise ValueError(f"'factory' = {factory!r} names a {type(obj).__name__}, not a callable factory")
    return obj


def load_python_model(name: str, spec: dict[str, Any]) -> DiffusionModel:
    """Call ``spec["factory"](**spec["options"])``, check the model it returns and name it ``name``.

    Raises:
        ValueError: a setting of ``spec`` is bad, or the model does not fit it (the message names the setting).
    """
    factory = resolve_factory(spec.get("factory"))
    options = spec.get("options") or {}
    if not isinstance(options, dict):
        raise ValueError(f"'options' must be a mapping of keyword arguments, got {type(options).__name__}")
    try:
        model = factory(**options)
    except TypeError as err:
        raise ValueError(
            f"'factory' = {spec['factory']!r} rejected the keyword arguments of 'options' "
            f"({sorted(options)}): {err}; fix 'options' to match the factory's signature"
        ) from err
    if not isinstance(model, DiffusionModel):
        raise ValueError(
            f"'factory' = {spec['factory']!r} returned a {type(model).__module__}.{type(model).__qualname__}; "
            "it must return an antithetic.models.DiffusionModel, VPSDEModel or EDMModel (docs/own-model.md)"
        )
    declared = spec.get("parametrization")
    if declared is not None and declared != model.parametrization:
        raise ValueError(
            f"'parametrization' is {declared!r} but the factory's model has parametrization "
            f"{model.parametrization!r}; set it to {model.parametrization!r} or remove it"
        )
    model.name = name
    model.info = {**model.info, "kind": "python", "factory": spec["factory"], "parametrization": model.parametrization}
    _probe(model)
    return model


def _probe(model: DiffusionModel) -> None:
    # one forward pass on two zero samples at a middle grid step: shape errors surface at load
    steps = int(model.scheduler.config.num_train_timesteps)
    x = torch.zeros((2, *model.sample_shape), dtype=model.dtype, device=model.device)
    try:
        model.eps(x, steps // 2)
        if isinstance(model, ContinuousDiffusionModel):
            model.denoise(x, math.sqrt(model.sigma_min * model.sigma_max))
    except Exception as err:  # re-raised with what to fix; the original error is chained
        raise ValueError(
            f"the model of 'factory' fails on a probe batch of shape {tuple(x.shape)} (its sample_shape "
            f"{model.sample_shape}): {err}. The network must take and return tensors of shape (batch, *sample_shape)"
        ) from err
