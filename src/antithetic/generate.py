"""Generate samples of a model under a noise design, batch by batch.

The noise of sample ``k`` is a function of ``(design seed, k)`` only (see :mod:`antithetic.noise`),
so the result does not depend on ``batch_size`` or on how the indices are split into jobs.

This is the one generation loop of the library: per-sample inputs other than the noise reach the
sampler through ``cond`` and ``batch_options``, both addressed by sample index like the noise, e.g.
the measurements of diffusion posterior sampling (a guidance hook, :func:`antithetic.inverse.solve_measurements`)
or the source images of SDEdit-style editing (a start point, :func:`antithetic.editing.editing_experiment`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .models.base import DiffusionModel
from .noise import NoiseDesign
from .sample_set import SampleSet
from .samplers import get_sampler, is_stochastic

__all__ = ["SampleSet", "generate"]


def generate(
    model: DiffusionModel,
    *,
    design: NoiseDesign,
    num_samples: int,
    sampler: str = "ddim",
    sampler_options: dict[str, Any] | None = None,
    batch_size: int = 256,
    start: int = 0,
    cond: Any = None,
    callback: Callable[[Sequence[int], dict[str, Any]], None] | None = None,
    batch_options: Callable[[np.ndarray], dict[str, Any]] | None = None,
    progress: bool = True,
) -> SampleSet:
    """Generate samples ``start .. start + num_samples - 1`` of ``design`` with ``sampler``.

    Args:
        model: the model, already on its device.
        design: the noise design (it checks that ``num_samples`` fills whole groups).
        sampler: sampler kind, e.g. ``"ddim"`` or ``"ddpm"``; ``sampler_options`` are its keyword
            arguments (``num_steps``, ``eta``).
        batch_size: samples per forward pass; changes no number.
        cond: the condition of every sample, or a callable ``batch_indices -> condition``; by default
            the model's own ``condition(batch_indices)`` (prompts, class labels), if it has one.
        callback: called as ``callback(batch_indices, step_info)`` at every step of every batch.
        batch_options: ``batch_indices -> dict`` of further keyword arguments of the sampler for that batch,
            e.g. ``{"guidance": ...}`` or ``{"start": ...}`` (the hooks of :mod:`antithetic.samplers`).
    """
    options = dict(sampler_options or {})
    design.check_num_samples(num_samples)
    if start % design.group_size:
        raise ValueError(f"start={start} must be a multiple of the design's group size {design.group_size}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    sample_fn = get_sampler(sampler)
    stochastic = is_stochastic(sampler, options)
    # half-precision networks keep the sampler state (noise, x_t, scheduler arithmetic) in float32
    state_dtype = torch.float32 if model.dtype in (torch.float16, torch.bfloat16) else model.dtype

    indices = np.arange(start, start + num_samples)
    outputs = []
    began = time.perf_counter()
    batches = [indices[i : i + batch_size] for i in range(0, num_samples, batch_size)]
    for batch in tqdm(batches, desc=f"{model.name} {sampler} {design.name}", disable=not progress):
        x_T = design.initial_noise(batch, model.sample_shape, device=model.device, dtype=state_dtype)
        step_noise = (
            design.step_noise(batch, model.sample_shape, device=model.device, dtype=state_dtype)
            if stochastic else None
        )
        step_callback = None if callback is None else (lambda info, batch=batch: callback(batch, info))
        # per-sample conditions (prompts, class labels) are addressed by sample index, like the noise
        batch_cond = cond(batch) if callable(cond) else cond
        if batch_cond is None and hasattr(model, "condition"):
            batch_cond = model.condition(batch)
        extra = batch_options(batch) if batch_options is not None else {}
        x0 = sample_fn(model, x_T, step_noise=step_noise, cond=batch_cond, callback=step_callback, **options, **extra)
        if hasattr(model, "decode_latents"):  # latent models: decode to data space with their VAE
            x0 = model.decode_latents(x0)
        outputs.append(x0.float().cpu().numpy())
    seconds = time.perf_counter() - began

    located = np.array([design.locate(int(k)) for k in indices], dtype=np.int64).reshape(-1, 2)
    return SampleSet(
        samples=np.concatenate(outputs).astype(np.float32),
        indices=indices,
        groups=located[:, 0],
        members=located[:, 1],
        design=design.describe(),
        sampler={"kind": sampler, **options},
        seconds=seconds,
        noise_shape=tuple(int(d) for d in model.sample_shape),
    )
