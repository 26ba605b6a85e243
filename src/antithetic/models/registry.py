"""Build a model from its description ``spec``: a mapping of its ``kind`` and that kind's settings.

Kinds:

* ``unet``: a diffusers pipeline with an unconditional UNet2DModel, loaded from ``pretrained`` (hub id
  or local directory) or from ``weights_dir``, the folder it was trained into (:mod:`antithetic.training`).
* ``conditional_unet``: the same with a class-conditional UNet2DModel (a class embedding whose last row is
  the null class), under classifier-free guidance: ``class_labels`` (``random``, the default, or a list of
  class indices used in turn), ``label_seed`` (default 0), ``guidance_scale`` (default 4.0, as ``dit``;
  :data:`antithetic.models.pretrained.DEFAULT_GUIDANCE_SCALE`).
* ``affine_odd``: the exact, affine noise predictor of Gaussian data ``N(mean, std^2 I)``.
* ``gaussian_mixture``: the exact noise predictor of an isotropic Gaussian mixture; ``means: digits``
  puts one component on each digit class mean, ``means: random`` draws ``components`` means from
  N(0, 0.5^2 I) with ``seed``.
* ``python``: the user's own model, returned by ``factory: "package.module:function"`` called with the
  keyword arguments ``options`` (:mod:`antithetic.models.python`).
* ``vae``, ``flow``: one-shot generators ``x = G(z)`` (:mod:`antithetic.models.generator`), loaded from
  ``weights_dir``, the folder they were trained into (or a local ``pretrained`` folder); sampler kind ``decode``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..data import digits_class_means
from ..kinds import model_kind
from .adapters import ADAPTER_KINDS, build_adapter_model
from .analytic import default_schedule, gaussian_mixture_model, gaussian_model
from .base import DiffusionModel
from .generator import GENERATOR_KINDS, load_generator
from .python import load_python_model

__all__ = ["build_model"]


def _weights(name: str, spec: dict[str, Any], weights_dir, *, need: str):
    source = weights_dir or spec.get("pretrained")
    if source is None:
        raise ValueError(f"model {name!r}: a {spec['kind']!r} model needs {need}")
    return source


def _generator(name, spec, weights_dir):  # VAE, normalizing flow
    source = _weights(name, spec, weights_dir, need="weights_dir or 'pretrained' (a local directory)")
    return load_generator(spec["kind"], source, name=name)


def _unet(name, spec, weights_dir):
    from .pretrained import load_unet_model  # diffusers' UNet and pipelines: only the jobs of UNet models pay for them

    source = _weights(name, spec, weights_dir, need="'pretrained' (hub id or directory) or weights_dir")
    return load_unet_model(source, name=name)


def _conditional_unet(name, spec, weights_dir):
    from .pretrained import DEFAULT_GUIDANCE_SCALE, load_conditional_unet_model

    source = _weights(name, spec, weights_dir, need="'pretrained' (hub id or directory) or weights_dir")
    return load_conditional_unet_model(
        source, name=name, class_labels=spec.get("class_labels", "random"), label_seed=int(spec.get("label_seed", 0)),
        guidance_scale=float(spec.get("guidance_scale", DEFAULT_GUIDANCE_SCALE)),
    )


def _analytic_schedule(spec):
    return default_schedule(spec.get("num_train_timesteps", 1000), spec.get("beta_schedule", "squaredcos_cap_v2"))


def _analytic_shape(spec):
    return (spec.get("channels", 1), spec.get("image_size", 8), spec.get("image_size", 8))


def _affine_odd(name, spec, weights_dir):
    return gaussian_model(
        mean=spec.get("mean", 0.0), std=spec.get("std", 0.5), sample_shape=_analytic_shape(spec),
        scheduler=_analytic_schedule(spec), name=name,
    )


def _gaussian_mixture(name, spec, weights_dir):
    shape = _analytic_shape(spec)
    means_kind = spec.get("means", "digits")
    if means_kind == "digits":
        means = digits_class_means()
        if means.shape[1:] != shape:
            raise ValueError(f"model {name!r}: 'means: digits' gives 1x8x8 samples; set channels: 1 and image_size: 8")
        data = "digits class means"
    elif means_kind == "random":
        gen = torch.Generator().manual_seed(int(spec.get("seed", 0)))
        means = 0.5 * torch.randn((int(spec.get("components", 10)), *shape), generator=gen)
        data = "random means"
    else:
        raise ValueError(f"model {name!r}: 'means' must be 'digits' or 'random', got {means_kind!r}")
    return gaussian_mixture_model(means=means, std=spec.get("std", 0.3), scheduler=_analytic_schedule(spec), name=name, data=data)


#: model kind -> builder ``(name, spec, weights_dir) -> model``; what each kind can do is in :mod:`antithetic.kinds`
BUILDERS: dict[str, Callable[..., Any]] = {
    "unet": _unet,
    "conditional_unet": _conditional_unet,
    "affine_odd": _affine_odd,
    "gaussian_mixture": _gaussian_mixture,
    "python": lambda name, spec, weights_dir: load_python_model(name, spec),
    **{kind: lambda name, spec, weights_dir: build_adapter_model(name, spec, weights_dir=weights_dir) for kind in ADAPTER_KINDS},
    **{kind: _generator for kind in GENERATOR_KINDS},
}


def build_model(name: str, spec: dict[str, Any], *, weights_dir: str | Path | None = None) -> DiffusionModel:
    """Instantiate model ``name`` from its description ``spec``.

    Args:
        name: the model's name (kept on the model and in its errors).
        spec: ``kind`` (a key of :data:`antithetic.kinds.MODEL_KINDS`) and the kind's settings (module docs).
        weights_dir: directory of trained or fetched weights; overrides ``spec["pretrained"]``.

    Raises:
        UnknownKindError: ``spec["kind"]`` is not a registered model kind.
        ValueError: a setting is missing or bad (the message names it).
        ModelNotAvailableError: the weights cannot be loaded.
    """
    kind = model_kind(spec.get("kind")).name
    if kind not in BUILDERS:
        raise ValueError(f"model kind {kind!r} is registered but has no builder; known: {sorted(BUILDERS)}")
    return BUILDERS[kind](name, spec, weights_dir)
