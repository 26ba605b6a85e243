"""Scores and criteria of the symmetry stage that need only numpy and pandas (the table and figure jobs
import them without torch): the AS score of sampled slices (paper, Table 10) and the noise level where a
criterion breaks."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["MIN_GRID_POINTS", "as_score", "break_level", "symmetric_grid", "trapezoid_weights"]


#: points of an AS grid at the least: ``c = -1, 0, 1``
MIN_GRID_POINTS = 3


def symmetric_grid(points: int) -> np.ndarray:
    """``points`` equally spaced values of ``c`` in ``[-1, 1]``; ``c[i] = -c[-1 - i]`` exactly."""
    if points < MIN_GRID_POINTS:
        raise ValueError(f"an AS grid needs at least {MIN_GRID_POINTS} points, got {points}")
    half = np.linspace(-1.0, 1.0, points)
    return 0.5 * (half - half[::-1])  # exact antisymmetry in floating point


def trapezoid_weights(grid: np.ndarray) -> np.ndarray:
    """Trapezoidal-rule quadrature weights of ``grid`` (they sum to ``grid[-1] - grid[0]``)."""
    grid = np.asarray(grid, dtype=np.float64)
    dx = np.diff(grid)
    w = np.zeros_like(grid)
    w[:-1] += dx / 2
    w[1:] += dx / 2
    return w


def as_score(values: np.ndarray, grid: np.ndarray, *, axis: int = -1) -> np.ndarray:
    """Affine-antisymmetry score ``AS(f)`` of functions sampled on a symmetric grid (paper, Table 10).

    ``AS(f) = 1 - int (f(c)/2 + f(-c)/2 - fbar)^2 dc / int (f(c) - fbar)^2 dc`` with ``fbar`` the mean
    of ``f`` on ``[-1, 1]``; both integrals and ``fbar`` by the trapezoidal rule on ``grid``. The
    numerator is the energy of the even part of ``f - fbar``, the denominator the total energy, so
    ``AS = 1`` exactly for ``f(c) = odd(c) + const`` and ``AS = 0`` for an even ``f``.

    Args:
        values: ``f`` on ``grid`` along ``axis`` (any leading / trailing shape).
        grid: increasing, symmetric about 0 (``grid[i] == -grid[-1 - i]``), e.g. :func:`symmetric_grid`.

    Returns:
        AS scores with ``axis`` removed; NaN where ``f`` is constant (0 / 0).
    """
    grid = np.asarray(grid, dtype=np.float64)
    if grid.ndim != 1 or not np.allclose(grid, -grid[::-1], atol=1e-12) or np.any(np.diff(grid) <= 0):
        raise ValueError("the AS grid must be increasing and symmetric about 0 (use symmetric_grid)")
    f = np.moveaxis(np.asarray(values, dtype=np.float64), axis, -1)
    if f.shape[-1] != len(grid):
        raise ValueError(f"values have {f.shape[-1]} points along axis {axis}, the grid {len(grid)}")
    w = trapezoid_weights(grid)
    fbar = (f * w).sum(-1, keepdims=True) / w.sum()
    even = 0.5 * (f + f[..., ::-1]) - fbar
    num = (even**2 * w).sum(-1)
    den = ((f - fbar) ** 2 * w).sum(-1)
    # a constant f has no odd or even part: 0 / 0; a slice that is flat to rounding is reported as NaN
    scale = np.abs(f).max(-1) ** 2 * w.sum()
    flat = den <= 1e-24 * np.maximum(scale, 1e-300)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(flat, np.nan, 1.0 - num / np.where(flat, 1.0, den))


def break_level(summary: pd.DataFrame, *, column: str, threshold: float, holds_above: bool = True) -> dict:
    """Noise level below which a symmetry criterion fails (scanning from high to low noise).

    The criterion holds at ``t`` when ``summary[column] >= threshold`` (``holds_above``) or
    ``<= threshold`` (otherwise). Returns the largest probed ``sigma_t`` at which it fails
    (``break_sigma``, with its ``t``) and the smallest ``sigma_t`` above that at which it still holds
    (``last_holding_sigma``); ``break_sigma`` is None if it holds at every probed level.
    """
    s = summary.sort_values("sigma", ascending=False)
    ok = s[column] >= threshold if holds_above else s[column] <= threshold
    failed = s[~ok.to_numpy()]
    out = {"column": column, "threshold": threshold, "holds_if": ">=" if holds_above else "<="}
    if failed.empty:
        return {**out, "break_sigma": None, "break_t": None, "last_holding_sigma": float(s["sigma"].min()),
                "last_holding_t": int(s.loc[s["sigma"].idxmin(), "t"])}
    first = failed.iloc[0]
    above = s[s["sigma"] > first["sigma"]]
    return {
        **out,
        "break_sigma": float(first["sigma"]),
        "break_t": int(first["t"]),
        "break_value": float(first[column]),
        "last_holding_sigma": float(above["sigma"].min()) if len(above) else None,
        "last_holding_t": int(above.loc[above["sigma"].idxmin(), "t"]) if len(above) else None,
    }
