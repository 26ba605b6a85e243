"""Jobs of the expensive stages: training a model and sampling it under a noise design."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..config import require
from ..device import describe_device, resolve_device, resolve_dtype
from ..io import environment_info, save_samples, write_json
from ..models import build_model
from ..models.base import DiffusionModel
from ..models.generator import GENERATOR_KINDS
from ..noise import NoiseDesign, make_design
from ..sampling import SampleSet, generate

#: model kinds whose networks run in float16 on CUDA under ``dtype: auto`` (the others stay float32)
HALF_PRECISION_KINDS = {"unet", "stable_diffusion", "dit", "consistency"}

__all__ = ["design_from_config", "model_from_config", "run_sampling", "run_training", "sampler_from_config"]


# ------------------------------------------------------------------------------------ lookups
def model_from_config(
    config: dict[str, Any], name: str, *, weights_dir: str | Path | None = None, device: str = "auto"
) -> DiffusionModel:
    """Build model ``name`` of ``config`` on ``device``."""
    spec = require(config, "models", name, used_at=f"models.{name}")
    model = build_model(name, spec, weights_dir=weights_dir)
    device = resolve_device(device)
    half_safe = spec.get("kind") in HALF_PRECISION_KINDS
    return model.to(device, resolve_dtype(spec.get("dtype", "auto"), device, half_safe=half_safe))


def design_from_config(config: dict[str, Any], name: str, *, seed: int | None = None) -> NoiseDesign:
    """Build noise design ``name`` with base seed ``seed`` (default: the config's ``seed``)."""
    spec = dict(require(config, "designs", name, used_at=f"designs.{name}"))
    kind = spec.pop("kind")
    return make_design(kind, seed=int(config.get("seed", 0) if seed is None else seed), **spec)


def sampler_from_config(config: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    """Return ``(kind, options)`` of sampler ``name``."""
    spec = dict(require(config, "samplers", name, used_at=f"samplers.{name}"))
    return spec.pop("kind"), spec


# ------------------------------------------------------------------------------------ jobs
def run_training(config: dict[str, Any], name: str, *, out_dir: str | Path, progress: bool = True) -> None:
    """Train model ``name`` (its ``train:`` block) and save it with ``save_pretrained`` into ``out_dir``."""
    from ..models.base import state_dict_sha256
    from ..training import TrainConfig, config_dict, save_pipeline_atomically, train_ddpm

    spec = require(config, "models", name, used_at=f"models.{name}")
    if spec.get("kind") in GENERATOR_KINDS:  # VAE, normalizing flow
        from .generators import run_generator_training

        run_generator_training(config, name, out_dir=out_dir, progress=progress)
        return
    if "train" not in spec:
        raise ValueError(f"models.{name} has no 'train:' block; nothing to train")
    cfg = TrainConfig(**spec["train"])
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
    config: dict[str, Any],
    *,
    model: str,
    sampler: str,
    design: str,
    num_samples: int,
    seed: int | None = None,
    out_samples: str | Path,
    out_provenance: str | Path,
    weights_dir: str | Path | None = None,
    device: str = "auto",
    batch_size: int = 500,
    progress: bool = True,
) -> SampleSet:
    """Sample ``num_samples`` of ``model`` with ``sampler`` under ``design``; write samples and provenance."""
    net = model_from_config(config, model, weights_dir=weights_dir, device=device)
    noise = design_from_config(config, design, seed=seed)
    kind, options = sampler_from_config(config, sampler)
    samples = generate(
        net, design=noise, num_samples=num_samples, sampler=kind, sampler_options=options,
        batch_size=batch_size, progress=progress,
    )
    save_samples(out_samples, samples)
    write_json(
        out_provenance,
        {
            "model": {"name": model, **require(config, "models", model, used_at=model), **net.info},
            "weights_sha256": net.weights_sha256(),
            "weights_dir": weights_dir,
            "sampler": {"name": sampler, **samples.sampler},
            "design": {"name": design, **samples.design},
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
