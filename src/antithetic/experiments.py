"""Workflow jobs: each function is one Snakemake rule's work, called by a thin script.

They take the validated config and explicit paths, write their outputs atomically and record
provenance next to them (resolved parameters, seeds, package versions, device, weights hash).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .config import require
from .correlation import correlation_frame, pn_pairs, rr_pairs, summarize
from .device import describe_device, resolve_device
from .io import atomic_path, environment_info, load_samples, save_samples, write_json
from .models import build_model
from .models.base import DiffusionModel
from .noise import NoiseDesign, make_design
from .sampling import SampleSet, generate

__all__ = [
    "design_from_config",
    "model_from_config",
    "run_correlation",
    "run_pair_figures",
    "run_sampling",
    "run_table1",
    "run_training",
    "sampler_from_config",
]


# ------------------------------------------------------------------------------------ lookups
def model_from_config(
    config: dict[str, Any], name: str, *, weights_dir: str | Path | None = None, device: str = "auto"
) -> DiffusionModel:
    """Build model ``name`` of ``config`` on ``device``."""
    spec = require(config, "models", name, used_at=f"models.{name}")
    model = build_model(name, spec, weights_dir=weights_dir)
    return model.to(resolve_device(device))


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
    from .models.base import state_dict_sha256
    from .training import TrainConfig, config_dict, save_pipeline_atomically, train_ddpm

    spec = require(config, "models", name, used_at=f"models.{name}")
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


def run_correlation(
    *, pn_path: str | Path, rr_path: str | Path, out_pairs: str | Path, out_summary: str | Path, labels: dict[str, Any]
) -> dict[str, Any]:
    """Per-pair PN and RR correlations (CSV) and their mean (SD) summary (JSON, one Table 1 row)."""
    frame = correlation_frame(load_samples(pn_path), load_samples(rr_path))
    with atomic_path(out_pairs) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    row = {**labels, **summarize(frame)}
    write_json(out_summary, row)
    return row


def run_table1(*, summaries: list[str | Path], out_csv, out_markdown, out_latex) -> None:
    """Assemble Table 1 from the per-(model, sampler) summaries."""
    from .tables import table1, write_table

    rows = [json.loads(Path(p).read_text()) for p in summaries]
    numeric, formatted = table1(rows)
    write_table(
        numeric, formatted, csv=out_csv, markdown=out_markdown, latex=out_latex,
        caption="Table 1: pixel-wise Pearson correlation of PN and RR pairs, mean (SD) over pairs.",
        label="tab:correlation",
    )


def run_pair_figures(
    *, pn_path, rr_path, pairs_csv, out_histogram, out_grid, title: str, grid_pairs: int = 8
) -> None:
    """Histogram of per-pair correlations and the Figure-1-style grid of PN vs RR pairs."""
    import pandas as pd

    from .plotting import plot_correlation_histogram, plot_pair_grid

    frame = pd.read_csv(pairs_csv)
    plot_correlation_histogram(frame, title=title, path=out_histogram)
    plot_pair_grid(pn_pairs(load_samples(pn_path)), rr_pairs(load_samples(rr_path)), title=title, path=out_grid, num_pairs=grid_pairs)
