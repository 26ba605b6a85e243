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
from .generate import generate
from .models.base import DiffusionModel
from .noise import NoiseDesign
from .pearson import pearson

__all__ = ["MIN_PAIRS", "leave_pair_out_mean", "pixel_correlation_map", "record_trajectories", "trajectory_correlations"]


def record_trajectories(
    model: DiffusionModel,
    *,
    design: NoiseDesign,
    num_samples: int,
    sampler: str,
    sampler_options: dict[str, Any],
    batch_size: int = 512,
    progress: bool = True,
) -> dict[str, np.ndarray | None]:
    """Sample under ``design`` and keep every step's state ``x_t`` and prediction ``eps_t(x_t)``.

    Returns:
        ``{"x": (S, N, D), "eps": (S, N, D) or None, "t": (S,), "output": (N, D_out)}`` in
        sample-index order. ``x`` and ``eps`` live in the sampler's state space (latents for latent
        models); ``eps`` is None for samplers that predict no noise (consistency models). ``output``
        is the sampler's result in data space (decoded by the VAE for latent models, so ``D_out`` may
        differ from ``D``).
    """
    steps: dict[int, dict[str, Any]] = {}

    def keep(batch: Sequence[int], info: dict[str, Any]) -> None:
        slot = steps.setdefault(info["step"], {"t": info["t"], "x": {}, "eps": {}})
        slot["x"][int(batch[0])] = info["x"].float().cpu().numpy().reshape(len(batch), -1)
        if info.get("eps") is not None:
            slot["eps"][int(batch[0])] = info["eps"].float().cpu().numpy().reshape(len(batch), -1)

    out = generate(
        model, design=design, num_samples=num_samples, sampler=sampler, sampler_options=sampler_options,
        batch_size=batch_size, callback=keep, progress=progress,
    )
    order = sorted(steps)

    def stacked(key: str) -> np.ndarray | None:
        if any(not steps[s][key] for s in order):
            return None
        return np.stack([np.concatenate([steps[s][key][k] for k in sorted(steps[s][key])]) for s in order])

    return {
        "x": stacked("x"),
        "eps": stacked("eps"),
        "t": np.array([steps[s]["t"] for s in order]),
        "output": out.samples[np.argsort(out.indices)].reshape(num_samples, -1),
    }


#: pairs per design that the held-out centering of :func:`trajectory_correlations` needs
MIN_PAIRS = 2


def leave_pair_out_mean(values: np.ndarray) -> np.ndarray:
    """For pairs ``(2g, 2g + 1)`` of the rows of ``values`` ``(2P, D)``: the mean of the other ``P - 1``
    pairs' rows, ``(P, D)``. Pair sums are formed first, so for exact antithetic pairs ``(z, -z)`` the
    result is exactly 0 (the antithetic mean estimator is exact on odd functions)."""
    sums = values[0::2] + values[1::2]
    pairs = len(sums)
    if pairs < MIN_PAIRS:
        raise ValueError(f"a leave-pair-out mean needs at least {MIN_PAIRS} pairs, got {pairs}")
    return (sums.sum(0, keepdims=True) - sums) / (2 * (pairs - 1))


def trajectory_correlations(
    model: DiffusionModel,
    *,
    pn_design: NoiseDesign,
    rr_design: NoiseDesign,
    sampler: str,
    sampler_options: dict[str, Any],
    pairs: int,
    batch_size: int = 512,
    progress: bool = True,
) -> pd.DataFrame:
    """Per-step correlation between the two members of PN and RR pairs (paper, Figure 3).

    PN pairs are samples ``(2g, 2g + 1)`` of ``pn_design`` (antithetic; stochastic samplers negate every
    injected noise of the twin too), RR pairs samples ``(2g, 2g + 1)`` of ``rr_design`` (iid).

    Returns:
        long frame with columns ``step, t, quantity`` (``x`` or ``eps``), ``kind`` (PN / RR),
        ``variant``, ``mean, sd, pairs``. ``standard``: raw correlation; ``centered``: both members
        minus a *held-out* estimate of the per-step mean ``E[x_t]``: for pair ``g``, the mean of the
        other pairs of the same design (:func:`leave_pair_out_mean`), so no pair is centred by a mean
        that contains itself. The row with ``step = num_steps`` and ``t = -1`` is the sampler output
        (in data space: decoded for latent models). Samplers without a noise prediction (consistency
        models) give no ``eps`` rows.
    """
    if pairs < MIN_PAIRS:
        raise ValueError(f"trajectory correlations need at least {MIN_PAIRS} pairs, got {pairs}")
    runs = {}
    for kind, design in (("PN", pn_design), ("RR", rr_design)):
        runs[kind] = record_trajectories(
            model, design=design, num_samples=2 * pairs, sampler=sampler, sampler_options=sampler_options,
            batch_size=batch_size, progress=progress,
        )
    ts = runs["PN"]["t"]
    rows = []

    def add(step: int, t: int, quantity: str, kind: str, v: np.ndarray) -> None:
        # pair g = samples (2g, 2g + 1): (z, -z) for PN, independent for RR
        a, b = v[0::2], v[1::2]
        mean = leave_pair_out_mean(v)
        for variant, shift in (("standard", 0.0), ("centered", mean)):
            r = pair_correlations(a - shift, b - shift)
            rows.append(
                {
                    "step": step, "t": t, "quantity": quantity, "kind": kind, "variant": variant,
                    "mean": float(np.nanmean(r)), "sd": float(np.nanstd(r, ddof=1)), "pairs": int(np.isfinite(r).sum()),
                }
            )

    for quantity in ("x", "eps"):
        if runs["PN"][quantity] is None:
            continue
        for step in range(len(ts)):
            for kind in ("PN", "RR"):
                add(step, int(ts[step]), quantity, kind, runs[kind][quantity][step])
        if quantity == "x":
            for kind in ("PN", "RR"):
                add(len(ts), -1, "x", kind, runs[kind]["output"])
    return pd.DataFrame(rows)


def pixel_correlation_map(pairs: np.ndarray) -> np.ndarray:
    """Per-pixel Pearson correlation across pairs: ``(P, 2, C, H, W)`` -> ``(C, H, W)`` (float64).

    A pixel that is constant over the pairs (e.g. a background pixel clipped to -1 in every sample)
    has no defined correlation: NaN.
    """
    if pairs.ndim < 3 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must have shape (P, 2, ...), got {pairs.shape}")
    return pearson(pairs[:, 0], pairs[:, 1], axis=0)
