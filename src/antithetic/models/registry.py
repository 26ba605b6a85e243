"""Build a model from its ``models:`` entry in ``config.yaml``.

Kinds:

* ``unet``: a diffusers pipeline with an unconditional UNet2DModel, loaded from ``pretrained`` (hub id
  or local directory) or, for models with a ``train:`` block, from the directory the workflow trained
  it into.
* ``affine_odd``: the exact, affine noise predictor of Gaussian data ``N(mean, std^2 I)``.
* ``gaussian_mixture``: the exact noise predictor of an isotropic Gaussian mixture; ``means: digits``
  puts one component on each digit class mean, ``means: random`` draws ``components`` means from
  N(0, 0.5^2 I) with ``seed``.
* ``vae``, ``flow``: one-shot generators ``x = G(z)`` (:mod:`antithetic.models.generator`), loaded from
  the folder the workflow trained them into (or a local ``pretrained`` folder); sampler kind ``decode``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..data import digits_class_means
from .adapters import ADAPTER_KINDS, build_adapter_model
from .analytic import default_schedule, gaussian_mixture_model, gaussian_model
from .base import DiffusionModel
from .generator import GENERATOR_KINDS, load_generator
from .pretrained import load_unet_model

__all__ = ["build_model", "ANALYTIC_KINDS"]

ANALYTIC_KINDS = {"affine_odd", "gaussian_mixture"}


def build_model(name: str, spec: dict[str, Any], *, weights_dir: str | Path | None = None) -> DiffusionModel:
    """Instantiate model ``name`` from its config ``spec``.

    Args:
        weights_dir: directory of trained weights; overrides ``spec["pretrained"]`` (the workflow passes
            the folder it trained or fetched the model into).
    """
    kind = spec.get("kind")
    key = f"models.{name}"
    if kind in ADAPTER_KINDS:  # Stable Diffusion, DiT, consistency models, class-conditional mixture
        return build_adapter_model(name, spec, weights_dir=weights_dir)
    if kind in GENERATOR_KINDS:  # VAE, normalizing flow
        source = weights_dir or spec.get("pretrained")
        if source is None:
            raise ValueError(f"{key}: a {kind!r} model needs a 'train' block or 'pretrained' (a local directory)")
        return load_generator(kind, source, name=name, config_key=f"{key}.pretrained")
    if kind == "unet":
        source = weights_dir or spec.get("pretrained")
        if source is None:
            raise ValueError(f"{key}: a 'unet' model needs 'pretrained' (hub id or directory) or a 'train' block")
        return load_unet_model(source, name=name, config_key=f"{key}.pretrained")
    if kind in ANALYTIC_KINDS:
        schedule = default_schedule(spec.get("num_train_timesteps", 1000), spec.get("beta_schedule", "squaredcos_cap_v2"))
        shape = (spec.get("channels", 1), spec.get("image_size", 8), spec.get("image_size", 8))
        if kind == "affine_odd":
            return gaussian_model(mean=spec.get("mean", 0.0), std=spec.get("std", 0.5), sample_shape=shape, scheduler=schedule, name=name)
        means_kind = spec.get("means", "digits")
        if means_kind == "digits":
            means = digits_class_means()
            if means.shape[1:] != shape:
                raise ValueError(f"{key}: 'means: digits' gives 1x8x8 samples; set channels: 1 and image_size: 8")
            data = "digits class means"
        elif means_kind == "random":
            gen = torch.Generator().manual_seed(int(spec.get("seed", 0)))
            means = 0.5 * torch.randn((int(spec.get("components", 10)), *shape), generator=gen)
            data = "random means"
        else:
            raise ValueError(f"{key}.means must be 'digits' or 'random', got {means_kind!r}")
        return gaussian_mixture_model(means=means, std=spec.get("std", 0.3), scheduler=schedule, name=name, data=data)
    raise ValueError(f"{key}.kind must be one of {['unet', 'affine_odd', 'gaussian_mixture', *ADAPTER_KINDS, *GENERATOR_KINDS]}, got {kind!r}")
