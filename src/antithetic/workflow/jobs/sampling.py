"""Jobs of the expensive stages: training a model and sampling it under a noise design."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ...artifacts import environment_info, save_samples, write_json
from ...device import describe_device, resolve_device, resolve_dtype
from ...generate import SampleSet, generate
from ...kinds import GENERATOR, model_kind
from ...models import ModelNotAvailableError, build_model
from ...models.base import DiffusionModel
from ...noise import NoiseDesign, make_design
from ..config import ConfigError, naming_key

__all__ = [
    "design_from_spec",
    "load_model",
    "run_sampling",
    "run_training",
    "sampler_from_spec",
]


# ------------------------------------------------------------------------------------ builders
def load_model(
    name: str, spec: dict[str, Any], *, weights_dir: str | Path | None = None, device: str = "auto"
) -> DiffusionModel:
    """Build model ``name`` from its resolved ``models.<name>`` entry ``spec``, on ``device``.

    ``dtype: auto`` runs the network in float16 on CUDA for kinds registered ``half_precision``
    (:mod:`antithetic.kinds`), else float32.

    Raises:
        ConfigError: a value of the entry is bad (the message names ``models.<name>`` and the setting).
        ModelNotAvailableError: the weights cannot be loaded (the message names ``models.<name>``).
    """
    try:
        with naming_key(f"models.{name}"):
            model = build_model(name, spec, weights_dir=weights_dir)
    except ModelNotAvailableError as err:
        err.add_note(
            f"The rules train_model and fetch_model write results/models/{name} (a 'train' block or a hub id in "
            f"models.{name}.pretrained); or set models.{name}.pretrained to a local folder of the model."
        )
        raise
    device = resolve_device(device)
    half_safe = model_kind(spec["kind"]).half_precision
    with naming_key(f"models.{name}.dtype"):
        dtype = resolve_dtype(spec.get("dtype", "auto"), device, half_safe=half_safe)
    return model.to(device, dtype)


def design_from_spec(spec: dict[str, Any], *, seed: int) -> NoiseDesign:
    """Build a noise design from its resolved ``designs.<name>`` entry with base seed ``seed``."""
    spec = dict(spec)
    return make_design(spec.pop("kind"), seed=int(seed), **spec)


def sampler_from_spec(spec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(kind, options)`` of a resolved ``samplers.<name>`` entry."""
    spec = dict(spec)
    return spec.pop("kind"), spec


# ------------------------------------------------------------------------------------ jobs
def run_training(name: str, spec: dict[str, Any], *, out_dir: str | Path, progress: bool = True) -> None:
    """Train model ``name`` from its resolved ``models.<name>`` entry (its ``train:`` block) into ``out_dir``.

    A diffusion UNet (class-conditional for kind ``conditional_unet``, whose ``train`` block sets ``num_classes``)
    is saved with ``save_pipeline_atomically``; VAEs and flows go through
    :func:`~antithetic.workflow.jobs.generators.run_generator_training`.
    """
    from ...models.base import state_dict_sha256
    from ...training import TrainConfig, config_dict, save_pipeline_atomically, train_ddpm

    with naming_key(f"models.{name}.kind"):
        kind = model_kind(spec.get("kind"))
    if not kind.trainable or "train" not in spec:
        raise ValueError(f"models.{name} has no 'train:' block or its kind {kind.name!r} cannot be trained; nothing to train")
    if kind.family == GENERATOR:  # VAE, normalizing flow
        from .generators import run_generator_training

        run_generator_training(name, spec, out_dir=out_dir, progress=progress)
        return
    settings = dict(spec["train"])
    # the kind says whether the UNet is class-conditional; its train block must agree
    if kind.guided and settings.get("num_classes") is None:
        raise ConfigError(
            f"config key 'models.{name}.train.num_classes': a {kind.name} model is class-conditional; set the number "
            "of classes of the data set's labels (10 for digits)"
        )
    if not kind.guided and settings.get("num_classes") is not None:
        raise ConfigError(
            f"config key 'models.{name}.train.num_classes': a {kind.name} model is unconditional; remove the key or "
            "use kind conditional_unet"
        )
    with naming_key(f"models.{name}.train"):
        cfg = TrainConfig(**settings)
    pipeline, losses = train_ddpm(cfg, progress=progress)
    record = {
        "model": name,
        "train": config_dict(cfg),
        "final_loss_mean_last_100": sum(losses[-100:]) / min(len(losses), 100),
        "losses": losses,
        "weights_sha256": state_dict_sha256(pipeline.unet),
        "threads": torch.get_num_threads(),
        **environment_info(),
    }
    # the training record travels inside the model folder, so a copied model keeps its history
    save_pipeline_atomically(pipeline, out_dir, extra_json={"training.json": record})


def run_sampling(
    *,
    model: str,
    model_spec: dict[str, Any],
    sampler: str,
    sampler_spec: dict[str, Any],
    design: str,
    design_spec: dict[str, Any],
    num_samples: int,
    seed: int,
    out_samples: str | Path,
    out_provenance: str | Path,
    weights_dir: str | Path | None = None,
    device: str = "auto",
    batch_size: int = 500,
    progress: bool = True,
) -> SampleSet:
    """Sample ``num_samples`` of ``model`` with ``sampler`` under ``design``; write samples and provenance.

    The ``*_spec`` arguments are the resolved config entries of the named model, sampler and design;
    the provenance records them under their config names.
    """
    net = load_model(model, model_spec, weights_dir=weights_dir, device=device)
    noise = design_from_spec(design_spec, seed=seed)
    kind, options = sampler_from_spec(sampler_spec)
    samples = generate(
        net, design=noise, num_samples=num_samples, sampler=kind, sampler_options=options,
        batch_size=batch_size, progress=progress,
    )
    save_samples(out_samples, samples)
    write_json(
        out_provenance,
        {
            "model": {**model_spec, **net.info, "name": model},
            "weights_sha256": net.weights_sha256(),
            "weights_dir": weights_dir,
            "sampler": {**samples.sampler, "name": sampler},
            # the design's config name (e.g. k-antithetic-8) and its kind (k_antithetic)
            "design": {**samples.design, "name": design, "kind": samples.design["name"]},
            "num_samples": num_samples,
            "seconds": samples.seconds,
            "batch_size": batch_size,
            "device": describe_device(net.device),
            "dtype": str(net.dtype),
            "threads": torch.get_num_threads(),
            **environment_info(),
        },
    )
    return samples
