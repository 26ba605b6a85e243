"""Correlation along sampling trajectories (paper, Figure 3) and per-pixel pair correlation maps.

* :func:`trajectory_correlations`: run PN pairs ``(z, -z)`` and RR pairs ``(z_1, z_2)`` through a
  sampler and record, at every step, the pixel-wise Pearson correlation between the two trajectories'
  states ``x_t`` and between their predictions ``eps_t(x_t)`` (mean and SD over pairs). PN starts at
  exactly -1; the paper reports it stays strongly negative and weakens near the data end.
* :func:`pixel_correlation_map`: for each pixel, the Pearson correlation *across pairs* of the two
  members' values; with the top half of ``z`` negated (paper's partial-negation ablation) the top
  half comes out negative and the bottom half positive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .correlation import pair_correlations
from .models.base import DiffusionModel
from .noise import AntitheticNoise, IIDNoise
from .pearson import pearson
from .sampling import generate

__all__ = ["pixel_correlation_map", "record_trajectories", "trajectory_correlations"]


def record_trajectories(
    model: DiffusionModel,
    *,
    design,
    num_samples: int,
    sampler: str,
    sampler_options: dict[str, Any],
    batch_size: int = 512,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Sample under ``design`` and keep every step's ``x_t`` and ``eps_t(x_t)``.

    Returns:
        ``{"x": (S + 1, N, D), "eps": (S, N, D), "t": (S,)}`` in sample-index order; ``x[S]`` is the
        sampler output ``x_0``.
    """
    steps: dict[int, dict[str, Any]] = {}

    def keep(batch: Sequence[int], info: dict[str, Any]) -> None:
        slot = steps.setdefault(info["step"], {"t": info["t"], "x": {}, "eps": {}})
        slot["x"][int(batch[0])] = info["x"].float().cpu().numpy().reshape(len(batch), -1)
        slot["eps"][int(batch[0])] = info["eps"].float().cpu().numpy().reshape(len(batch), -1)

    out = generate(
        model, design=design, num_samples=num_samples, sampler=sampler, sampler_options=sampler_options,
        batch_size=batch_size, callback=keep, progress=progress,
    )
    order = sorted(steps)
    x = [np.concatenate([steps[s]["x"][k] for k in sorted(steps[s]["x"])]) for s in order]
    eps = [np.concatenate([steps[s]["eps"][k] for k in sorted(steps[s]["eps"])]) for s in order]
    final = out.samples[np.argsort(out.indices)].reshape(num_samples, -1)
    return {
        "x": np.stack([*x, final]),
        "eps": np.stack(eps),
        "t": np.array([steps[s]["t"] for s in order]),
    }


def trajectory_correlations(
    model: DiffusionModel,
    *,
    sampler: str,
    sampler_options: dict[str, Any],
    pairs: int,
    seed: int,
    batch_size: int = 512,
    progress: bool = True,
) -> pd.DataFrame:
    """Per-step correlation between the two members of PN and RR pairs (paper, Figure 3).

    PN pairs come from :class:`~antithetic.noise.AntitheticNoise` (stochastic samplers negate every
    injected noise of the twin too), RR pairs are samples ``(2g, 2g + 1)`` of
    :class:`~antithetic.noise.IIDNoise`, both with base seed ``seed``.

    Returns:
        long frame with columns ``step, t, quantity`` (``x`` or ``eps``), ``kind`` (PN / RR),
        ``variant`` (``standard``: raw; ``centered``: minus the per-step mean over all PN and RR
        trajectories, as in Table 1), ``mean, sd, pairs``. The row with ``step = num_steps`` and
        ``t = -1`` is the sampler output ``x_0``.
    """
    if pairs < 2:
        raise ValueError(f"trajectory correlations need at least 2 pairs, got {pairs}")
    runs = {}
    for kind, design in (("PN", AntitheticNoise(seed=seed)), ("RR", IIDNoise(seed=seed))):
        runs[kind] = record_trajectories(
            model, design=design, num_samples=2 * pairs, sampler=sampler, sampler_options=sampler_options,
            batch_size=batch_size, progress=progress,
        )
    ts = runs["PN"]["t"]
    rows = []
    for quantity in ("x", "eps"):
        num = runs["PN"][quantity].shape[0]
        for step in range(num):
            # 1. the per-step mean over every trajectory (both designs are exact draws of one law)
            mean = np.concatenate([runs["PN"][quantity][step], runs["RR"][quantity][step]]).mean(0)
            for kind in ("PN", "RR"):
                # 2. pair g = samples (2g, 2g + 1): (z, -z) for PN, independent for RR
                v = runs[kind][quantity][step]
                a, b = v[0::2], v[1::2]
                for variant, shift in (("standard", 0.0), ("centered", mean)):
                    r = pair_correlations(a - shift, b - shift)
                    rows.append(
                        {
                            "step": step,
                            "t": int(ts[step]) if step < len(ts) else -1,
                            "quantity": quantity,
                            "kind": kind,
                            "variant": variant,
                            "mean": float(np.nanmean(r)),
                            "sd": float(np.nanstd(r, ddof=1)),
                            "pairs": int(np.isfinite(r).sum()),
                        }
                    )
    return pd.DataFrame(rows)


def pixel_correlation_map(pairs: np.ndarray) -> np.ndarray:
    """Per-pixel Pearson correlation across pairs: ``(P, 2, C, H, W)`` -> ``(C, H, W)`` (float64).

    A pixel that is constant over the pairs (e.g. a background pixel clipped to -1 in every sample)
    has no defined correlation: NaN.
    """
    if pairs.ndim < 3 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must have shape (P, 2, ...), got {pairs.shape}")
    return pearson(pairs[:, 0], pairs[:, 1], axis=0)
