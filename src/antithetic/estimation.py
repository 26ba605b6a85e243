"""One call from per-sample values to an estimate with its CI and its efficiency against plain MC.

:func:`estimate` takes the values ``S(x_k)`` of the samples ``k = start .. start + N - 1`` of a noise
design, arranges them in the design's groups (the design says which group and member every sample
index belongs to: :meth:`~antithetic.noise.NoiseDesign.locate`), and hands the groups to the design's
estimator (:data:`antithetic.kinds.DESIGN_KINDS` names it, :data:`antithetic.estimators.ESTIMATORS`
holds it): MC for iid noise, AMC for antithetic pairs, K-AMC for K-antithetic groups, RQMC for
scrambled Sobol replicates.

The efficiency against plain MC at equal sample count is ``sigma^2 / (N Var(estimator))``:

* without ``baseline``, ``sigma^2`` is the per-sample variance of the same samples (the mean over
  members of the variance across groups: unbiased, since groups are independent and every member is
  exactly distributed as an iid sample); for AMC and K-AMC the efficiency is then exactly
  ``1 / (1 + (K - 1) rho_w)`` with ``rho_w`` the variance-weighted within-group correlation. Its CI is a
  delete-a-block jackknife of the log-efficiency over blocks of groups.
* with ``baseline`` (values of an independent iid run), ``sigma^2`` is that run's variance and the CI is
  the F interval of :func:`antithetic.estimators.efficiency_interval`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .estimators import (
    Estimate,
    ci_quantile,
    efficiency_interval,
    estimate_groups,
    weighted_correlation_of_parts,
    weighted_group_correlation_parts,
)
from .kinds import DESIGN_KINDS
from .noise import NoiseDesign

__all__ = ["EstimateResult", "estimate", "group_values", "estimator_name"]

#: blocks of groups of the jackknife CI of the efficiency
JACKKNIFE_BLOCKS = 20


@dataclass
class EstimateResult:
    """An estimate of ``E[S]`` with its CI and its efficiency against plain Monte Carlo.

    Attributes:
        estimate: the estimate (an array for a vector statistic).
        ci_low, ci_high: the ``level`` confidence interval (Student t, ``num_groups - 1`` degrees of freedom).
        std_error: the standard error of the estimate.
        level: the confidence level.
        method: the estimator (``"mc"``, ``"amc"``, ``"k_amc"``, ``"rqmc"``).
        design: the design's parameters (:meth:`~antithetic.noise.NoiseDesign.describe`).
        num_samples, num_groups, group_size: ``N = G * g``.
        correlation: the variance-weighted within-group correlation ``rho_w`` (``None`` for MC).
        efficiency: ``sigma^2 / (N Var(estimator))``, the factor of samples plain MC would need for the
            same variance; ``efficiency_low`` and ``efficiency_high`` its ``level`` CI.
        efficiency_method: ``"same samples (jackknife)"``, ``"independent baseline (F)"`` or ``"mc"``
            (plain MC against itself: exactly 1).
        baseline_samples: the size of the independent iid baseline run, if one was given.
    """

    estimate: Any
    ci_low: Any
    ci_high: Any
    std_error: Any
    level: float
    method: str
    design: dict[str, Any]
    num_samples: int
    num_groups: int
    group_size: int
    correlation: float | None
    efficiency: float
    efficiency_low: float
    efficiency_high: float
    efficiency_method: str
    baseline_samples: int | None = None
    details: Estimate | None = field(default=None, repr=False)

    @property
    def half_width(self) -> Any:
        """Half the CI length."""
        return (np.asarray(self.ci_high) - np.asarray(self.ci_low)) / 2 if np.ndim(self.estimate) else (self.ci_high - self.ci_low) / 2

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready Python values (arrays as nested lists)."""
        out = asdict(self)
        out.pop("details")
        return {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in out.items()}

    def __str__(self) -> str:
        if np.ndim(self.estimate):
            head = f"{self.method}: {np.size(self.estimate)} components, mean estimate {np.mean(self.estimate):.6g}"
        else:
            head = (f"{self.method}: {self.estimate:.6g}  [{self.ci_low:.6g}, {self.ci_high:.6g}] "
                    f"({100 * self.level:g}% CI, SE {self.std_error:.4g})")
        corr = "" if self.correlation is None else f", within-group correlation {self.correlation:.3f}"
        return (f"{head}\n  {self.num_samples} samples in {self.num_groups} groups of {self.group_size}{corr}\n"
                f"  efficiency vs MC {self.efficiency:.3g} [{self.efficiency_low:.3g}, {self.efficiency_high:.3g}] "
                f"({self.efficiency_method})")


def estimator_name(design: NoiseDesign) -> str:
    """The estimator of ``design``'s kind (:attr:`antithetic.kinds.DesignKind.estimator`).

    Raises:
        ValueError: the design feeds no estimator (the partial-antithetic ablation).
    """
    kind = DESIGN_KINDS.get(design.name)
    if kind is None or kind.estimator is None:
        feeding = sorted(k for k, d in DESIGN_KINDS.items() if d.estimator)
        raise ValueError(f"design {design.name!r} feeds no estimator; use one of {feeding}")
    return kind.estimator


def group_values(values: Any, design: NoiseDesign, *, start: int = 0, indices: Sequence[int] | None = None) -> np.ndarray:
    """Arrange per-sample ``values`` into the design's groups, ``(G, group_size, *stat_shape)``.

    Args:
        values: one value (or array) per sample, in the order of ``indices``.
        design: the design that drew the samples' noise; it locates each sample's group and member.
        start: the first sample index (``indices`` default to ``start, start + 1, ...``).
        indices: the samples' indices, when they are not consecutive.

    Raises:
        ValueError: a group is incomplete, or an index occurs twice.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 0:
        raise ValueError("values must have one entry per sample, got a scalar")
    if indices is None:
        indices = range(int(start), int(start) + len(values))
    indices = [int(k) for k in indices]
    if len(indices) != len(values):
        raise ValueError(f"{len(values)} values for {len(indices)} indices")
    size = design.group_size
    slots: dict[int, list[int | None]] = {}
    for row, k in enumerate(indices):
        group, member = design.locate(k)
        members = slots.setdefault(group, [None] * size)
        if members[member] is not None:
            raise ValueError(f"sample index {k} occurs twice")
        members[member] = row
    incomplete = sorted(g for g, m in slots.items() if any(r is None for r in m))
    if incomplete:
        raise ValueError(
            f"design {design.name!r} groups samples by {size}; groups {incomplete[:5]} are incomplete: pass the values "
            f"of whole groups (start a multiple of {size}, a multiple of {size} values)"
        )
    order = [r for g in sorted(slots) for r in slots[g]]
    return values[order].reshape(len(slots), size, *values.shape[1:])


def _member_variance(groups: np.ndarray) -> np.ndarray:
    """Per-component per-sample variance: the mean over members of the variance across groups."""
    flat = groups.reshape(groups.shape[0], groups.shape[1], -1)
    return flat.var(axis=0, ddof=1).mean(axis=0)


def _log_efficiency(groups: np.ndarray) -> float:
    sigma2 = float(_member_variance(groups).sum())
    means = groups.reshape(groups.shape[0], groups.shape[1], -1).mean(axis=1)
    var = float(means.var(axis=0, ddof=1).sum()) * groups.shape[1]  # N Var(estimate) = g Var(group mean)
    if sigma2 <= 0 or var <= 0:
        return float("nan") if sigma2 <= 0 else float("inf")
    return math.log(sigma2 / var)


def _jackknife_efficiency(groups: np.ndarray, level: float) -> tuple[float, float, float]:
    full = _log_efficiency(groups)
    num = len(groups)
    blocks = min(JACKKNIFE_BLOCKS, num)
    if not np.isfinite(full) or blocks < 3:
        eff = math.exp(full) if np.isfinite(full) else (full if full == full else float("nan"))
        return eff, float("nan"), float("nan")
    edges = np.linspace(0, num, blocks + 1).astype(int)
    loo = np.array([_log_efficiency(np.concatenate([groups[:lo], groups[hi:]])) for lo, hi in zip(edges[:-1], edges[1:])])
    if not np.all(np.isfinite(loo)):
        return math.exp(full), float("nan"), float("nan")
    se = math.sqrt((blocks - 1) / blocks * float(((loo - loo.mean()) ** 2).sum()))
    q = ci_quantile(level, blocks - 1, "t")
    return math.exp(full), math.exp(full - q * se), math.exp(full + q * se)


def estimate(
    values: Any,
    design: NoiseDesign,
    *,
    level: float = 0.95,
    start: int = 0,
    indices: Sequence[int] | None = None,
    baseline: Any = None,
) -> EstimateResult:
    """Estimate ``E[S]`` from the values of a design's samples, with a CI and the efficiency against MC.

    Args:
        values: ``S`` of each sample, ``(N,)`` or ``(N, *stat_shape)``, in sample-index order.
        design: the noise design the samples were drawn with (e.g. ``AntitheticNoise(seed=0)``); its kind
            picks the estimator (MC, AMC, K-AMC, RQMC) and its addressing the groups.
        level: confidence level of the CIs.
        start: the index of the first sample (``indices`` for non-consecutive samples).
        baseline: values of an *independent* iid run (e.g. ``IIDNoise(seed=0, offset=2**32)``); when given,
            the efficiency uses its variance and its F interval.

    Returns:
        :class:`EstimateResult`.

    Raises:
        ValueError: the values do not fill whole groups, fewer than 2 groups, or the design feeds no estimator.

    Example:

    ```py
    >>> import numpy as np
    >>> from antithetic import AntitheticNoise, estimate
    >>> z = AntitheticNoise(seed=0).initial_noise(range(200), (1,)).numpy()[:, 0]
    >>> result = estimate(z + z**2, AntitheticNoise(seed=0))   # E = 1
    >>> result.method, result.num_groups
    ('amc', 100)
    ```
    """
    method = estimator_name(design)
    groups = group_values(values, design, start=start, indices=indices)
    est = estimate_groups(method, groups, level=level)
    size = groups.shape[1]
    correlation = None
    if size >= 2:
        correlation = weighted_correlation_of_parts(*weighted_group_correlation_parts(groups), size)
    baseline_samples = None
    if baseline is not None:
        base = np.asarray(baseline, dtype=np.float64)
        if len(base) < 2:
            raise ValueError(f"baseline needs at least 2 values, got {len(base)}")
        baseline_samples = len(base)
        sigma2 = base.reshape(len(base), -1).var(axis=0, ddof=1)
        eff = efficiency_interval(sigma2, len(base), est, level=level)
        efficiency, low, high, how = eff["efficiency"], eff["efficiency_low"], eff["efficiency_high"], "independent baseline (F)"
    elif method == "mc":
        efficiency = low = high = 1.0
        how = "mc"
    else:
        efficiency, low, high = _jackknife_efficiency(groups, level)
        how = "same samples (jackknife)"
    return EstimateResult(
        estimate=est.estimate, ci_low=est.ci_low, ci_high=est.ci_high, std_error=est.std_error, level=level,
        method=method, design=design.describe(), num_samples=est.num_samples, num_groups=est.num_groups,
        group_size=est.group_size, correlation=correlation, efficiency=float(efficiency), efficiency_low=float(low),
        efficiency_high=float(high), efficiency_method=how, baseline_samples=baseline_samples, details=est,
    )
