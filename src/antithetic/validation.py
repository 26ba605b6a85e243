"""Ground truth for statistics of the analytic models, and coverage of the estimators' CIs.

**Closed-form truth (affine_odd model).** The exact noise predictor of Gaussian data is affine in
``x``, so a deterministic sampler (DDIM, eta = 0) is an affine map ``x_0 = alpha * z + beta`` (the
same ``alpha`` for every coordinate, ``beta`` a per-pixel offset): its output is exactly Gaussian,
``N(beta, alpha^2 I)``, whatever the number of steps (the discretised map, not the data law).
:func:`affine_output_law` reads ``alpha`` and ``beta`` off two sampler runs (``z = 0`` and ``z = 1``),
and :func:`affine_truth` integrates the clamped intensity ``255 clamp((x + 1)/2, 0, 1)`` of a Gaussian
in closed form, which gives the true value of :func:`~antithetic.statistics.brightness` and
:func:`~antithetic.statistics.mean_image`.

**Reference truth.** For other statistics or models the truth is estimated from a large independent
reference sample; its standard error ``se_ref`` is carried along: a CI with standard error ``se``
covers the *reference* value with probability about ``2 Phi(q / sqrt(1 + se_ref^2 / se^2)) - 1``,
which :func:`coverage_summary` reports as the ``target`` next to the nominal level.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy import stats

from .models.base import DiffusionModel
from .samplers import get_sampler, is_stochastic
from .statistics import brightness, mean_image

__all__ = ["affine_output_law", "affine_truth", "clamped_gaussian_mean", "coverage_summary"]


def clamped_gaussian_mean(mean: np.ndarray, sd: float | np.ndarray, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """``E[clamp(Y, low, high)]`` for ``Y ~ N(mean, sd^2)`` in closed form."""
    m = np.asarray(mean, dtype=np.float64)
    s = np.asarray(sd, dtype=np.float64)
    a, b = (low - m) / s, (high - m) / s
    inside = m * (stats.norm.cdf(b) - stats.norm.cdf(a)) + s * (stats.norm.pdf(a) - stats.norm.pdf(b))
    return low * stats.norm.cdf(a) + inside + high * stats.norm.sf(b)


def affine_output_law(model: DiffusionModel, sampler: str, options: dict[str, Any]) -> tuple[float, np.ndarray]:
    """``(alpha, beta)`` of the affine sampler map ``x_0 = alpha z + beta`` of an ``affine_odd`` model.

    Raises:
        ValueError: if the model is not ``affine_odd`` or the sampler is stochastic.
    """
    if model.info.get("kind") != "affine_odd":
        raise ValueError(f"closed-form truth needs an affine_odd model, got {model.info.get('kind')!r} ({model.name})")
    if is_stochastic(sampler, options):
        raise ValueError(f"closed-form truth needs a deterministic sampler (DDIM, eta = 0), got {sampler} {options}")
    z = torch.stack([torch.zeros(model.sample_shape), torch.ones(model.sample_shape)]).to(model.device, model.dtype)
    x = get_sampler(sampler)(model, z, **options).double().cpu().numpy()
    beta = x[0]
    alphas = x[1] - x[0]
    alpha = float(alphas.mean())
    if not np.allclose(alphas, alpha, rtol=1e-4, atol=1e-6):
        raise ValueError("the sampler map is not isotropic-affine; closed-form truth does not apply")
    return alpha, beta


def affine_truth(statistic, alpha: float, beta: np.ndarray) -> np.ndarray | float | None:
    """True value of ``statistic`` under ``x_0 ~ N(beta, alpha^2 I)``, or None without a closed form."""
    pixel = 255.0 * clamped_gaussian_mean((beta + 1.0) / 2.0, abs(alpha) / 2.0)
    if statistic is brightness:
        return float(pixel.mean())
    if statistic is mean_image:
        return pixel
    return None


def coverage_summary(
    estimates: np.ndarray,
    ci_low: np.ndarray,
    ci_high: np.ndarray,
    std_errors: np.ndarray,
    *,
    truth: float,
    truth_se: float = 0.0,
    level: float = 0.95,
) -> dict[str, float]:
    """Bias and empirical coverage of ``R`` repeated estimates of a scalar with known ``truth``.

    Returns ``coverage`` with its exact (Clopper-Pearson) 95% interval, ``bias`` with its standard
    error (including the reference's error ``truth_se``), the mean CI length, ``se_calibration`` = mean
    ``SE^2`` / variance of the estimates (1 for a calibrated CI; coverage alone misses CIs that are too
    long, which cover every time), and ``target``: the coverage expected when the truth is itself a
    reference estimate with standard error ``truth_se`` (equal to ``level`` when ``truth_se = 0``).
    """
    est = np.asarray(estimates, np.float64)
    covered = (np.asarray(ci_low) <= truth) & (truth <= np.asarray(ci_high))
    reps = len(est)
    hits = int(covered.sum())
    interval = stats.binomtest(hits, reps).proportion_ci(confidence_level=0.95, method="exact")
    se2 = float(np.mean(np.asarray(std_errors, np.float64) ** 2))
    ratio2 = truth_se**2 / se2 if se2 > 0 else math.inf
    target = float(2 * stats.norm.cdf(stats.norm.ppf(1 - (1 - level) / 2) / math.sqrt(1 + ratio2)) - 1)
    return {
        "repetitions": reps,
        "coverage": hits / reps,
        "coverage_low": float(interval.low),
        "coverage_high": float(interval.high),
        "binomial_se": math.sqrt(level * (1 - level) / reps),
        "target": target,
        "bias": float(est.mean() - truth),
        "bias_se": float(math.sqrt(est.var(ddof=1) / reps + truth_se**2)),
        "mean_ci_length": float(np.mean(np.asarray(ci_high) - np.asarray(ci_low))),
        "se_calibration": se2 / float(est.var(ddof=1)) if est.var(ddof=1) > 0 else float("nan"),
        "truth": float(truth),
        "truth_se": float(truth_se),
    }
