"""Job of the non-diffusion generators: train a VAE or a normalizing flow and save it atomically.

Sampling, correlations and Table 1 reuse the diffusion path unchanged: the trained folder is loaded by
:func:`antithetic.models.build_model` (kinds ``vae`` and ``flow``) and sampled with the one-shot
sampler ``kind: decode`` under the same noise designs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ...artifacts import environment_info
from ..config import naming_key

__all__ = ["run_generator_training"]


def run_generator_training(name: str, spec: dict[str, Any], *, out_dir: str | Path, progress: bool = True) -> dict[str, Any]:
    """Train generator ``name`` from its resolved ``models.<name>`` entry and ``save_pretrained`` it into ``out_dir``.

    The folder holds ``config.json``, the safetensors weights and ``training.json`` (hyper-parameters,
    loss history, final loss, weights hash, seconds); it is written under a temporary name and renamed.
    Returns the training record.
    """
    import time

    from ...generator_training import config_dict, train_config, train_generator
    from ...models.base import state_dict_sha256
    from ...training import save_pipeline_atomically

    kind = spec.get("kind")
    if "train" not in spec:
        raise ValueError(f"models.{name} has no 'train:' block; nothing to train")
    with naming_key(f"models.{name}.train"):
        cfg = train_config(kind, spec["train"])
    began = time.perf_counter()
    model, history = train_generator(kind, cfg, progress=progress)
    seconds = time.perf_counter() - began
    final = {key: sum(values[-100:]) / min(len(values), 100) for key, values in history.items()}
    record = {
        "model": name,
        "kind": kind,
        "train": config_dict(cfg),
        "final_mean_last_100": final,
        "history": history,
        "describe": model.describe(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "weights_sha256": state_dict_sha256(model),
        "seconds": seconds,
        "threads": torch.get_num_threads(),
        **environment_info(),
    }
    # the training record travels inside the model folder, so a copied model keeps its history
    save_pipeline_atomically(model, out_dir, extra_json={"training.json": record})
    return record
