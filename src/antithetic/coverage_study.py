"""Ground truth for statistics of the analytic models, and coverage of the estimators' CIs.

**Closed-form truth (affine_odd model).** The exact noise predictor of Gaussian data is affine in
``x``, so a deterministic sampler (DDIM, eta = 0) is an affine map ``x_0 = alpha * z + beta`` (the
same ``alpha`` for every coordinate, ``beta`` a per-pixel offset): its output is exactly Gaussian,
``N(beta, alpha^2 I)``, whatever the number of steps (the discretised map, not the data law).
:func:`affine_output_law` reads ``alpha`` and ``beta`` off two sampler runs (``z = 0`` and ``z = 1``),
and :func:`affine_truth` integrates the clamped intensity ``255 clamp((x + 1)/2, 0, 1)`` of a Gaussian
in closed form, which gives the true value of :func:`~antithetic.image_statistics.brightness` and
:func:`~antithetic.image_statistics.mean_image`.

**Reference truth.** For other statistics or models the truth is estimated from a large independent
reference sample; its standard error ``se_ref`` is carried along: a CI with standard error ``se``
covers the *reference* value with probability about ``2 Phi(q / sqrt(1 + se_ref^2 / se^2)) - 1``,
which :func:`coverage_summary` reports as the ``target`` next to the nominal level.

**Coverage study.** :func:`coverage_study` draws ``repetitions x num_samples`` samples per design at
once (repetition ``r`` owns samples ``r n .. (r + 1) n - 1``), estimates every statistic with the
design's estimator (:func:`antithetic.estimators.estimate_groups`) and with the control variates,
and summarises bias, coverage and calibration against the truth (:func:`truths_of`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats

from .estimators import cv_estimate, estimate_groups, group_estimate, noise_feature
from .image_statistics import brightness, evaluate_statistic, mean_image
from .kinds import DESIGN_KINDS, design_kind
from .models.base import DiffusionModel
from .noise import NoiseDesign, make_design
from .sample_set import SampleSet
from .samplers import get_sampler, is_stochastic

__all__ = [
    "affine_output_law",
    "affine_truth",
    "check_coverage_designs",
    "clamped_gaussian_mean",
    "coverage_study",
    "coverage_summary",
    "estimator_of",
    "group_noise_features",
    "grouped_file_values",
    "grouped_values",
    "truths_of",
]


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


# ------------------------------------------------------------------------------------ sample sets
def estimator_of(design: dict[str, Any]) -> str:
    """The estimator fed by samples of ``design`` (a ``describe()`` dict): its kind's
    :attr:`~antithetic.kinds.DesignKind.estimator`.

    Raises:
        ValueError: the design's kind feeds no estimator (or is not registered).
    """
    estimator = design_kind(design["name"]).estimator
    if estimator is None:
        raise ValueError(
            f"design kind {design['name']!r} feeds no estimator; use a design of kind "
            f"{sorted(k for k, d in DESIGN_KINDS.items() if d.estimator)}"
        )
    return estimator


def _order(samples: SampleSet) -> np.ndarray:
    return np.lexsort((samples.members, samples.groups))


def grouped_values(samples: SampleSet, values: np.ndarray) -> np.ndarray:
    """Per-sample values ``(N, ...)`` -> ``(G, g, ...)`` in group and member order."""
    size = int(samples.design["group_size"])
    return np.asarray(values)[_order(samples)].reshape(-1, size, *np.shape(values)[1:])


def grouped_file_values(
    path: str | Path,
    samples: SampleSet,
    fn: Callable[[np.ndarray], np.ndarray],
    *,
    name: str = "statistic",
    columns: slice | None = None,
    chunk_size: int = 64,
) -> np.ndarray:
    """:func:`grouped_values` of a statistic of the samples in the file ``path``, read ``chunk_size`` at a time.

    ``samples`` holds the file's addresses (:func:`antithetic.artifacts.load_sample_addresses`). With
    ``columns``, only those components of the flattened per-sample value are kept: ``(G, g, width)``,
    so a vector statistic can be estimated block by block without holding ``N`` copies of its size.
    A statistic gives one value per sample, so it is the same whatever the chunks (bit for bit for the
    built-in ones, which reduce each sample on its own).
    """
    from .artifacts import iter_samples

    out: np.ndarray | None = None
    lo = 0
    for chunk in iter_samples(path, chunk_size):
        values = evaluate_statistic(fn, chunk, name=name, indices=samples.indices[lo : lo + len(chunk)])
        if columns is not None:
            values = values.reshape(len(values), -1)[:, columns]
        if out is None:
            out = np.empty((len(samples.indices), *values.shape[1:]), dtype=values.dtype)
        out[lo : lo + len(values)] = values
        lo += len(values)
    if out is None or lo != len(samples.indices):
        raise ValueError(f"samples file {str(path)!r} holds {lo} samples, its addresses {len(samples.indices)}")
    return grouped_values(samples, out)


def group_noise_features(samples: SampleSet, features: list[str], *, chunk: int = 4096) -> dict[str, np.ndarray]:
    """Control-variate features ``phi(z)`` of the initial noises of ``samples``, each ``(G, g)``.

    The noise is regenerated from the design recorded with the samples, in the noise shape recorded
    with them (a VAE's or latent model's latent, not the output's shape).

    Raises:
        ValueError: if the samples file predates the recorded noise shape (re-run its sampling job).
    """
    if not features:
        return {}
    if samples.noise_shape is None:
        raise ValueError("the samples carry no noise shape (written by an older version); re-run the sampling job that wrote them")
    params = {k: v for k, v in samples.design.items() if k not in ("name", "seed", "group_size")}
    design = make_design(samples.design["name"], seed=int(samples.design["seed"]), **params)
    indices = samples.indices[_order(samples)]
    out: dict[str, list[np.ndarray]] = {f: [] for f in features}
    for i in range(0, len(indices), chunk):
        z = design.initial_noise(indices[i : i + chunk], samples.noise_shape).numpy()
        for f in features:
            out[f].append(noise_feature(z, f))
    size = int(samples.design["group_size"])
    return {f: np.concatenate(v).reshape(-1, size) for f, v in out.items()}


# ------------------------------------------------------------------------------------ coverage study
def truths_of(
    model: DiffusionModel,
    sampler: str,
    options: dict[str, Any],
    statistics: dict[str, Any],
    *,
    reference_design: NoiseDesign,
    reference_samples: int,
    level: float = 0.95,
    quantile: str = "t",
    batch_size: int = 4096,
    progress: bool = False,
) -> tuple[dict[str, tuple[np.ndarray, float, str]], float]:
    """True value of every statistic: ``name -> (truth, truth_se, kind)`` and the reference's seconds.

    Closed form (``truth_se = 0``, kind ``"closed form"``) for the affine model under DDIM with
    ``eta = 0`` where :func:`affine_truth` has one; else the AMC estimate of ``reference_samples``
    samples of ``reference_design`` (kind ``"reference"``, with its standard error).
    """
    from .generate import generate

    truths: dict[str, tuple[np.ndarray, float, str]] = {}
    if model.info.get("kind") == "affine_odd" and not is_stochastic(sampler, options) and sampler == "ddim":
        alpha, beta = affine_output_law(model, sampler, options)
        for name, fn in statistics.items():
            value = affine_truth(fn, alpha, beta)
            if value is not None:
                truths[name] = (np.asarray(value), 0.0, "closed form")
    missing = [name for name in statistics if name not in truths]
    seconds = 0.0
    if missing:
        ref = generate(model, design=reference_design, num_samples=reference_samples, sampler=sampler,
                       sampler_options=options, batch_size=batch_size, progress=progress)
        seconds = ref.seconds
        for name in missing:
            values = grouped_values(ref, evaluate_statistic(statistics[name], ref.samples, name=name, indices=ref.indices))
            est = group_estimate(values, level=level, quantile=quantile)
            truths[name] = (np.asarray(est.estimate), float(np.sqrt(np.mean(est.variance))), "reference")
    return truths, seconds


def check_coverage_designs(
    designs: dict[str, NoiseDesign], *, num_samples: int, control_variates: list[str] = ()
) -> dict[str, str]:
    """The estimator of every design of a coverage study (:func:`coverage_study`, same arguments).

    Raises:
        ValueError: a design feeds no estimator, or ``num_samples`` does not fill at least 2 of its groups
            (4 for the MC and AMC methods when ``control_variates`` are asked for).
    """
    estimators = {}
    for method, design in designs.items():
        try:
            estimators[method] = estimator = estimator_of(design.describe())
        except ValueError as err:
            raise ValueError(f"designs[{method!r}]: {err}") from None
        with_cv = bool(control_variates) and estimator in ("mc", "amc")
        min_groups = 4 if with_cv else 2  # a cross-fitted control variate needs 4 groups, a t interval 2
        if num_samples % design.group_size or num_samples // design.group_size < min_groups:
            raise ValueError(
                f"num_samples={num_samples} must be a multiple of the group size {design.group_size} "
                f"of designs[{method!r}] with at least {min_groups} groups"
            )
    return estimators


def coverage_study(
    model: DiffusionModel,
    sampler: str,
    options: dict[str, Any],
    *,
    designs: dict[str, NoiseDesign],
    statistics: dict[str, Any],
    truths: dict[str, tuple[np.ndarray, float, str]],
    repetitions: int,
    num_samples: int,
    control_variates: list[str] = (),
    level: float = 0.95,
    quantile: str = "t",
    batch_size: int = 4096,
    progress: bool = False,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Bias, coverage and calibration of every method's CI over ``repetitions`` independent runs.

    Args:
        designs: method label -> noise design; its kind picks the estimator.
        truths: from :func:`truths_of`.
        control_variates: features (``"linear"``, ``"quadratic"``) added to the MC and AMC methods.

    Returns:
        One row per (statistic, method) (scalar statistics: :func:`coverage_summary`; vector statistics:
        pixel-averaged coverage and mean absolute bias), and the sampling seconds per method.
    """
    from .generate import generate

    estimators = check_coverage_designs(designs, num_samples=num_samples, control_variates=control_variates)
    rows, seconds = [], {}
    for method, design in designs.items():
        estimator = estimators[method]
        with_cv = bool(control_variates) and estimator in ("mc", "amc")
        ss = generate(model, design=design, num_samples=repetitions * num_samples, sampler=sampler, sampler_options=options,
                      batch_size=batch_size, progress=progress)
        seconds[method] = ss.seconds
        features = group_noise_features(ss, list(control_variates)) if with_cv else {}
        features = {f: v.reshape(repetitions, -1, design.group_size) for f, v in features.items()}
        for name, fn in statistics.items():
            v = grouped_values(ss, evaluate_statistic(fn, ss.samples, name=name, indices=ss.indices))
            v = v.reshape(repetitions, -1, *v.shape[1:])
            truth, truth_se, truth_kind = truths[name]
            variants = [(method, estimator, None)]
            if v.ndim == 3:
                variants += [(f"{method}+cv:{f}", f"{estimator}+cv", f) for f in features]
            for label, kind, feature in variants:
                if feature is None:
                    ests = [estimate_groups(estimator, v[r], level=level, quantile=quantile) for r in range(repetitions)]
                else:
                    ests = [cv_estimate(v[r], features[feature][r], level=level, quantile=quantile, method=kind) for r in range(repetitions)]
                base = {"statistic": name, "method": label, "estimator": kind, "design": design.name,
                        "num_samples": num_samples, "truth_kind": truth_kind}
                if v.ndim == 3:
                    summary = coverage_summary(
                        np.array([e.estimate for e in ests]), np.array([e.ci_low for e in ests]),
                        np.array([e.ci_high for e in ests]), np.array([e.std_error for e in ests]),
                        truth=float(truth), truth_se=truth_se, level=level,
                    )
                    rows.append({**base, "components": 1, **summary})
                else:
                    estimates = np.array([e.estimate for e in ests])
                    se2 = np.mean([e.variance for e in ests], axis=0)
                    var = estimates.var(axis=0, ddof=1)
                    rows.append({
                        **base, "components": int(np.size(truth)), "repetitions": repetitions,
                        "coverage": float(np.mean([np.mean(e.covers(truth)) for e in ests])),
                        "coverage_low": float("nan"), "coverage_high": float("nan"), "binomial_se": float("nan"),
                        "target": level if truth_se == 0 else float("nan"),
                        "bias": float(np.mean(np.abs(estimates.mean(axis=0) - truth))), "bias_se": float("nan"),
                        "mean_ci_length": float(np.mean([np.mean(e.ci_length) for e in ests])),
                        "se_calibration": float(se2.sum() / var.sum()) if var.sum() > 0 else float("nan"),
                        "truth": float(np.mean(truth)), "truth_se": truth_se,
                    })
    return rows, seconds
