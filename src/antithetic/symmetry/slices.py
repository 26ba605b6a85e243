"""The affine-antisymmetry (AS) score of 1-D slices of ``eps_t`` (paper, "Definitions", Table 10, Figure 4).

* :func:`as_score`: ``AS(f) = 1 - int (f(c)/2 + f(-c)/2 - fbar)^2 dc / int (f(c) - fbar)^2 dc`` of a
  1-D function on ``[-1, 1]``, integrals by the trapezoidal rule on a grid symmetric about 0.
  1 = odd up to a constant, 0 = even.
* :func:`eps_slices`: the slices ``f(c) = [eps_t(c x)]_j`` of a model for directions ``x``.
* :func:`as_distribution`: AS scores over random directions and output coordinates, per ``t``.
* :func:`summarize_as`: per ``t`` the mean and a low quantile, with a bootstrap confidence interval of
  the quantile *over directions*: the slices of one direction share its draw ``x``, so a quantile
  over ``directions x coordinates`` slices rests on ``directions`` independent draws.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..models.base import DiffusionModel
from ..noise import derive_seed
from ._common import BOOTSTRAP_STREAM, DIRECTION_STREAM, batched_eps, schedule_row
from .scores import as_score, symmetric_grid, trapezoid_weights

__all__ = [
    "as_distribution",
    "as_score",
    "eps_slices",
    "random_directions",
    "summarize_as",
    "symmetric_grid",
    "trapezoid_weights",
]


def random_directions(shape: Sequence[int], num: int, *, seed: int) -> torch.Tensor:
    """``num`` directions ``x ~ N(0, I)`` of ``shape`` (seed-addressed; typical ``x_T`` scale)."""
    gen = torch.Generator().manual_seed(derive_seed(seed, DIRECTION_STREAM))
    return torch.randn((num, *shape), generator=gen, dtype=torch.float32)


def eps_slices(
    model: DiffusionModel,
    *,
    directions: torch.Tensor,
    t: int,
    grid: np.ndarray,
    coordinates: np.ndarray | None = None,
    batch_size: int = 1024,
) -> np.ndarray:
    """Slices ``f(c) = [eps_t(c x)]_j`` (paper, Figure 4) for every direction ``x`` and coordinate ``j``.

    Args:
        coordinates: flattened output coordinates ``j`` to keep (default: all).

    Returns:
        float64 array ``(num_directions, J, len(grid))``: slice of direction ``n``, output coordinate
        ``coordinates[k]`` (or ``k``), evaluated at ``grid``.
    """
    c = torch.as_tensor(grid, dtype=torch.float32).view(1, -1, *([1] * (directions.ndim - 1)))
    inputs = (c * directions.unsqueeze(1)).reshape(-1, *directions.shape[1:])  # (N * G, ...)
    eps = batched_eps(model, inputs, t, batch_size)
    n, g = directions.shape[0], len(grid)
    eps = eps.reshape(n, g, -1)
    if coordinates is not None:
        eps = eps[:, :, torch.as_tensor(coordinates, dtype=torch.long)]
    return eps.permute(0, 2, 1).numpy()


def as_distribution(
    model: DiffusionModel,
    *,
    timesteps: Sequence[int],
    num_directions: int,
    grid_points: int,
    seed: int,
    coordinates: int = 0,
    batch_size: int = 1024,
    examples: int = 0,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict[int, np.ndarray]]:
    """AS scores of ``eps_t`` slices over many ``(x, j, t)`` (paper, Table 10).

    Directions ``x ~ N(0, I)`` (the scale of ``x_T``) are shared by all ``t``; every output coordinate
    ``j`` of every direction is scored (they come at no extra model cost), or, if ``coordinates > 0``,
    a seed-addressed random subset of that many coordinates (for large images, to bound the output).

    Returns:
        a frame with one row per ``(t, direction, coordinate)`` (columns ``t, abar, sigma, tau,
        direction, coordinate, as_score``) and, if ``examples > 0``, for each ``t`` the first
        ``examples`` slices ``(examples, len(grid))`` along a fixed random choice of ``(x, j)``.
    """
    if num_directions < 1:
        raise ValueError(f"num_directions must be >= 1, got {num_directions}")
    grid = symmetric_grid(grid_points)
    directions = random_directions(model.sample_shape, num_directions, seed=seed)
    d = int(np.prod(model.sample_shape))
    pick = np.random.default_rng(derive_seed(seed, DIRECTION_STREAM, 1))
    coords = np.arange(d) if coordinates <= 0 or coordinates >= d else np.sort(pick.choice(d, coordinates, replace=False))
    ex_dirs = pick.integers(0, num_directions, size=examples)
    ex_coords = pick.integers(0, len(coords), size=examples)
    frames, kept = [], {}
    for t in tqdm(list(timesteps), desc=f"AS slices {model.name}", disable=not progress):
        # 1. evaluate eps_t along every slice c -> c x
        slices = eps_slices(
            model, directions=directions, t=int(t), grid=grid,
            coordinates=None if len(coords) == d else coords, batch_size=batch_size,
        )
        # 2. score every (direction, coordinate)
        scores = as_score(slices, grid)
        frames.append(
            pd.DataFrame(
                {
                    **schedule_row(model, t),
                    "direction": np.repeat(np.arange(num_directions), len(coords)),
                    "coordinate": np.tile(coords, num_directions),
                    "as_score": scores.reshape(-1),
                }
            )
        )
        if examples:
            kept[int(t)] = slices[ex_dirs, ex_coords]
    return pd.concat(frames, ignore_index=True), kept


def _quantile_bootstrap(
    scores: np.ndarray, *, quantile: float, resamples: int, level: float, rng: np.random.Generator, chunk: int = 64
) -> tuple[float, float]:
    """Percentile CI of the pooled ``quantile`` when the rows (directions) of ``scores`` are resampled."""
    n = len(scores)
    stats = []
    for start in range(0, resamples, chunk):
        idx = rng.integers(0, n, size=(min(chunk, resamples - start), n))
        pooled = scores[idx].reshape(len(idx), -1)  # (chunk, n * J)
        stats.append(np.nanquantile(pooled, quantile, axis=1))
    stats = np.concatenate(stats)
    alpha = (1 - level) / 2
    return float(np.nanquantile(stats, alpha)), float(np.nanquantile(stats, 1 - alpha))


def summarize_as(
    frame: pd.DataFrame, *, quantile: float = 0.1, bootstrap: int = 1000, level: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Per ``t``: mean, ``quantile`` quantile (with a bootstrap CI over directions), median, minimum.

    The quantile pools every ``(direction, coordinate)`` slice of a ``t``, but the coordinates of one
    direction are not independent draws, so its uncertainty is taken from a percentile bootstrap that
    resamples whole directions (``bootstrap`` resamples, seed-addressed); ``bootstrap = 0`` skips it
    (NaN bounds). Columns ``as_qXX``, ``as_qXX_lo``, ``as_qXX_hi`` with ``XX = 100 quantile``, and
    ``directions``.
    """
    name = f"as_q{int(round(100 * quantile)):02d}"
    rows = []
    for i, (key, group) in enumerate(frame.groupby(["t", "abar", "sigma", "tau"], sort=False)):
        s = group["as_score"]
        row = dict(zip(["t", "abar", "sigma", "tau"], key))
        row.update(as_mean=s.mean(), **{name: s.quantile(quantile)}, as_median=s.median(), as_min=s.min(), as_count=int(s.count()))
        by_direction = group.pivot(index="direction", columns="coordinate", values="as_score").to_numpy()
        row["directions"] = len(by_direction)
        lo = hi = float("nan")
        if bootstrap > 0 and len(by_direction) > 1:
            rng = np.random.default_rng(derive_seed(seed, BOOTSTRAP_STREAM, i))
            lo, hi = _quantile_bootstrap(by_direction, quantile=quantile, resamples=bootstrap, level=level, rng=rng)
        row[f"{name}_lo"], row[f"{name}_hi"] = lo, hi
        rows.append(row)
    return pd.DataFrame(rows)
