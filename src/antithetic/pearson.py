"""Pearson correlation along an axis, with one rule for constant inputs.

Every correlation of the library goes through :func:`pearson`: pair correlations of Table 1
(across pixels), per-pixel correlation maps and trajectory curves (across pairs), the
on-distribution probe and the estimators' ``rho`` (across samples).
"""

from __future__ import annotations

import numpy as np

__all__ = ["pearson"]

#: an input whose RMS deviation from its mean is below this fraction of its largest magnitude is constant
#: (what is left of a constant after subtracting its float mean is rounding error, not signal)
CONSTANT_TOLERANCE = 1e-12


def pearson(a: np.ndarray, b: np.ndarray, *, axis: int = 0) -> np.ndarray:
    """Pearson correlation of ``a`` and ``b`` along ``axis`` (float64; the axis is reduced).

    A correlation with a constant input is undefined: NaN wherever ``a`` or ``b`` is constant along
    ``axis`` (to within :data:`CONSTANT_TOLERANCE`).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"pearson needs equal shapes, got {a.shape} and {b.shape}")
    n = a.shape[axis]
    if n < 2:
        raise ValueError(f"pearson needs at least 2 values along axis {axis}, got {n}")
    scale_a, scale_b = np.abs(a).max(axis), np.abs(b).max(axis)
    a = a - a.mean(axis, keepdims=True)
    b = b - b.mean(axis, keepdims=True)
    ssa, ssb = (a * a).sum(axis), (b * b).sum(axis)
    constant = (np.sqrt(ssa / n) <= CONSTANT_TOLERANCE * scale_a) | (np.sqrt(ssb / n) <= CONSTANT_TOLERANCE * scale_b)
    constant |= (ssa == 0) | (ssb == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(axis) / np.sqrt(np.where(constant, 1.0, ssa * ssb))
    return np.where(constant, np.nan, np.clip(r, -1.0, 1.0))
