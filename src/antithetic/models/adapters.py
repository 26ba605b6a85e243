"""Build the conditional and few-step models from their description ``spec`` (a mapping of settings).

Kinds:

* ``stable_diffusion``: Stable Diffusion from ``pretrained`` (hub id or folder); prompts from the
  text file ``prompts``; ``negative_prompt``, ``guidance_scale`` (default 7.5), ``image_size``.
* ``dit``: class-conditional DiT; ``class_labels`` (``random`` or a list), ``label_seed``,
  ``guidance_scale`` (default 4.0, the DiT pipeline's default).
* ``consistency``: a consistency-model pipeline (sampler kind ``consistency``); class labels as for
  ``dit`` when the checkpoint is class-conditional.
* ``class_gaussian_mixture``: exact guided noise predictor of a class-conditional Gaussian mixture
  (``means: digits``: one class per digit), offline and analytic; ``guidance_scale`` default 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..data import digits_class_means
from .analytic import default_schedule
from .base import DiffusionModel
from .conditional import ClassLabels, class_gaussian_mixture_model, read_prompts

__all__ = ["ADAPTER_KINDS", "build_adapter_model"]

ADAPTER_KINDS = ("stable_diffusion", "dit", "consistency", "class_gaussian_mixture")


def build_adapter_model(name: str, spec: dict[str, Any], *, weights_dir: str | Path | None = None) -> DiffusionModel:
    """Instantiate model ``name`` of one of :data:`ADAPTER_KINDS` from its description ``spec``.

    Raises:
        ValueError: ``spec`` lacks a setting its kind needs, or has a bad value (the message names the setting).
        ModelNotAvailableError: the pipeline of ``spec["pretrained"]`` (or ``weights_dir``) cannot be loaded.
    """
    kind = spec["kind"]
    labels = {"class_labels": spec.get("class_labels", "random"), "label_seed": int(spec.get("label_seed", 0))}
    if kind == "class_gaussian_mixture":
        if spec.get("means", "digits") != "digits":
            raise ValueError(f"model {name!r}: 'means' of a class_gaussian_mixture must be 'digits' (one class per digit)")
        means = digits_class_means()
        schedule = default_schedule(spec.get("num_train_timesteps", 1000), spec.get("beta_schedule", "squaredcos_cap_v2"))
        return class_gaussian_mixture_model(
            means=means, std=spec.get("std", 0.3), scheduler=schedule, name=name, data="digits class means",
            guidance_scale=spec.get("guidance_scale", 1.0),
            labels=ClassLabels(labels["class_labels"], num_classes=len(means), seed=labels["label_seed"]),
        )
    source = weights_dir or spec.get("pretrained")
    if source is None:
        raise ValueError(f"model {name!r}: a {kind!r} model needs 'pretrained' (hub id or local directory)")
    if kind == "stable_diffusion":
        from .latent import load_stable_diffusion

        if "prompts" not in spec:
            raise ValueError(f"model {name!r}: a stable_diffusion model needs 'prompts' (a text file, one prompt per line)")
        return load_stable_diffusion(
            source, name=name, prompts=read_prompts(spec["prompts"]),
            negative_prompt=spec.get("negative_prompt", ""), guidance_scale=spec.get("guidance_scale", 7.5),
            image_size=spec.get("image_size"),
        )
    if kind == "dit":
        from .latent import load_dit

        return load_dit(source, name=name, guidance_scale=spec.get("guidance_scale", 4.0), **labels)
    if kind == "consistency":
        from .consistency import load_consistency_model

        return load_consistency_model(source, name=name, **labels)
    raise ValueError(f"model {name!r}: kind {kind!r} is not one of {ADAPTER_KINDS}")
