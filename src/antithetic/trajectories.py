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


def _pair_sums(model, *, design, pairs, sampler, sampler_options, batch_size, progress) -> dict[str, Any]:
    """Pass 1: per step, the sum over pairs of the pair sums ``x_{2g} + x_{2g+1}`` (float32, pair order)."""
    sums: dict[str, dict[int, np.ndarray]] = {"x": {}, "eps": {}}
    ts: dict[int, int] = {}

    def add(quantity: str, step: int, v: np.ndarray) -> None:
        pair_sums = v[0::2] + v[1::2]
        total = sums[quantity].get(step)
        for row in pair_sums:  # one pair after the other, as numpy's sum over the pair axis adds them
            total = row.copy() if total is None else total + row
        sums[quantity][step] = total

    def keep(batch: Sequence[int], info: dict[str, Any]) -> None:
        ts[info["step"]] = info["t"]
        add("x", info["step"], info["x"].float().cpu().numpy().reshape(len(batch), -1))
        if info.get("eps") is not None:
            add("eps", info["step"], info["eps"].float().cpu().numpy().reshape(len(batch), -1))

    out = generate(
        model, design=design, num_samples=2 * pairs, sampler=sampler, sampler_options=sampler_options,
        batch_size=_even(batch_size), callback=keep, progress=progress,
    )
    output = out.samples[np.argsort(out.indices)].reshape(2 * pairs, -1)
    return {"sums": sums, "t": ts, "output": output}


def _even(batch_size: int) -> int:
    # batches of whole pairs: a pair's two members meet in one callback
    return max(2, int(batch_size) - int(batch_size) % 2)


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

    Memory does not grow with ``pairs`` beyond one batch and one state per step: each design is sampled
    twice, in batches of whole pairs. The first pass sums the pairs' states per step (the held-out
    means below need the sum over all pairs); the second computes each pair's correlations as its batch
    passes and keeps only those numbers. Sampling is seed-addressed, so both passes see the same states
    (on a GPU with non-deterministic kernels they may differ in the last bits; the centring mean then
    comes from the first pass).

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
    rows = []
    results: dict[tuple[str, str, int, str], dict[int, np.ndarray]] = {}
    first: dict[str, dict[str, Any]] = {}
    scale = np.float32(2 * (pairs - 1))

    def correlate(kind: str, quantity: str, step: int, v: np.ndarray, start: int, total: np.ndarray) -> None:
        # pair g = samples (2g, 2g + 1): (z, -z) for PN, independent for RR; held-out mean as leave_pair_out_mean
        a, b = v[0::2], v[1::2]
        held_out = (total[None] - (a + b)) / scale
        for variant, shift in (("standard", 0.0), ("centered", held_out)):
            results.setdefault((quantity, kind, step, variant), {})[start] = pair_correlations(a - shift, b - shift)

    for kind, design in (("PN", pn_design), ("RR", rr_design)):
        first[kind] = run = _pair_sums(model, design=design, pairs=pairs, sampler=sampler, sampler_options=sampler_options,
                                       batch_size=batch_size, progress=progress)

        def keep(batch: Sequence[int], info: dict[str, Any], kind=kind, run=run) -> None:
            for quantity in ("x", "eps"):
                if info.get(quantity) is not None and info["step"] in run["sums"][quantity]:
                    v = info[quantity].float().cpu().numpy().reshape(len(batch), -1)
                    correlate(kind, quantity, info["step"], v, int(batch[0]), run["sums"][quantity][info["step"]])

        generate(
            model, design=design, num_samples=2 * pairs, sampler=sampler, sampler_options=sampler_options,
            batch_size=_even(batch_size), callback=keep, progress=progress,
        )
        output = run["output"]
        out_sum = leave_pair_out_mean(output)  # the output row: in data space, from the first pass's samples
        a, b = output[0::2], output[1::2]
        for variant, shift in (("standard", 0.0), ("centered", out_sum)):
            results.setdefault(("x", kind, len(run["t"]), variant), {})[0] = pair_correlations(a - shift, b - shift)

    ts = first["PN"]["t"]
    num_steps = len(ts)
    for quantity in ("x", "eps"):
        if not first["PN"]["sums"][quantity] or len(first["PN"]["sums"][quantity]) != num_steps:
            continue
        for step in range(num_steps + (quantity == "x")):
            for kind in ("PN", "RR"):
                for variant in ("standard", "centered"):
                    parts = results[(quantity, kind, step, variant)]
                    r = np.concatenate([parts[k] for k in sorted(parts)])
                    rows.append(
                        {
                            "step": step, "t": int(ts[step]) if step < num_steps else -1, "quantity": quantity, "kind": kind,
                            "variant": variant, "mean": float(np.nanmean(r)), "sd": float(np.nanstd(r, ddof=1)),
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
