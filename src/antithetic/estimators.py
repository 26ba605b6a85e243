"""Estimators of ``E[S(DM(z))]`` with confidence intervals (paper, "Definitions": MC, AMC, K-AMC, RQMC).

Every estimator here is a *group-mean* estimator. The samples come in ``G`` independent groups of
``g`` members (MC: ``g = 1``; AMC: pairs ``(z, -z)``, ``g = 2``; K-AMC: K-antithetic groups; RQMC:
replicates of ``2^m`` scrambled Sobol points). Each group mean is an unbiased estimate, groups are
independent, so

    estimate = mean of the G group means,   CI = estimate +- q * sd(group means) / sqrt(G),

with ``q`` the ``1 - (1 - level)/2`` quantile of Student's t with ``G - 1`` degrees of freedom
(``quantile="t"``, the default) or of the normal law (``quantile="normal"``, the paper's MC/AMC
formula). For ``G >= 100`` the two differ by < 1.5%; for RQMC with few replicates only t is valid.

Efficiency at equal sample count (paper: ``(CI_MC / CI)^2``) is computed as the variance ratio
``(sigma^2 / N) / Var(estimator)``, where ``sigma^2`` is the per-sample variance of the statistic
(estimated from an iid run) and ``N`` the estimator's sample count: the MC variance it would have
had with the same ``N``. For AMC it is ``1 / (1 + rho)`` with ``rho = Corr(S(DM(z)), S(DM(-z)))``.

Control variates (a reviewer's request): with a feature ``phi(z)`` of the initial noise whose mean is
known to be 0, regress the group means of ``S`` on the group means of ``phi`` and subtract
``beta * phibar``. A *linear* feature is odd, so its mean over an antithetic pair is exactly 0:
antithetic pairing already removes every linear function of ``z`` and a linear control variate adds
nothing to AMC (the combined estimator is returned equal to AMC, flagged ``degenerate``). An even
feature such as ``||z||^2 - D`` complements it.

Vector statistics (``values`` with trailing dimensions, e.g. a per-pixel mean image) are estimated
component-wise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from .pearson import pearson

__all__ = [
    "Estimate",
    "amc_estimate",
    "ci_quantile",
    "cv_estimate",
    "efficiency",
    "group_estimate",
    "kamc_estimate",
    "mc_estimate",
    "noise_feature",
    "pair_correlation",
    "rqmc_estimate",
]

QUANTILES = ("t", "normal")


@dataclass
class Estimate:
    """An estimate with its confidence interval (arrays for vector statistics, floats for scalars)."""

    method: str
    estimate: Any
    std_error: Any
    ci_low: Any
    ci_high: Any
    level: float
    quantile: float
    num_samples: int
    num_groups: int
    group_size: int
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def ci_length(self) -> Any:
        """Length of the CI, ``2 q SE``."""
        return self.ci_high - self.ci_low

    @property
    def variance(self) -> Any:
        """Estimated variance of the estimator, ``SE^2``."""
        return self.std_error**2

    def covers(self, truth: Any) -> Any:
        """Whether the CI contains ``truth`` (component-wise)."""
        return (self.ci_low <= truth) & (truth <= self.ci_high)


def ci_quantile(level: float, dof: int, quantile: str = "t") -> float:
    """Two-sided quantile ``q`` of a ``level`` CI: Student t with ``dof`` degrees of freedom, or normal."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"uq.level must lie in (0, 1), got {level}")
    if quantile not in QUANTILES:
        raise ValueError(f"uq.quantile must be one of {QUANTILES}, got {quantile!r}")
    p = 1.0 - (1.0 - level) / 2.0
    if quantile == "normal":
        return float(stats.norm.ppf(p))
    if dof < 1:
        raise ValueError(f"a t interval needs at least 2 groups, got dof={dof}")
    return float(stats.t.ppf(p, dof))


def _scalarize(x: np.ndarray) -> Any:
    return float(x) if np.ndim(x) == 0 else x


def group_estimate(values: np.ndarray, *, level: float = 0.95, quantile: str = "t", method: str = "group") -> Estimate:
    """Group-mean estimate and CI from ``values`` of shape ``(G, g, *stat_shape)`` (see module docs)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim < 2:
        raise ValueError(f"values must have shape (groups, group_size, ...), got {values.shape}")
    num_groups, size = values.shape[:2]
    if num_groups < 2:
        raise ValueError(f"{method}: a CI needs at least 2 independent groups, got {num_groups}")
    means = values.mean(axis=1)
    est = means.mean(axis=0)
    se = means.std(axis=0, ddof=1) / math.sqrt(num_groups)
    q = ci_quantile(level, num_groups - 1, quantile)
    return Estimate(
        method=method, estimate=_scalarize(est), std_error=_scalarize(se),
        ci_low=_scalarize(est - q * se), ci_high=_scalarize(est + q * se), level=level, quantile=q,
        num_samples=num_groups * size, num_groups=num_groups, group_size=size,
    )


def mc_estimate(values: np.ndarray, *, level: float = 0.95, quantile: str = "t") -> Estimate:
    """Plain Monte Carlo from ``N`` iid values ``(N, *stat_shape)``: CI ``mu +- q sd / sqrt(N)``."""
    values = np.asarray(values, dtype=np.float64)
    return group_estimate(values[:, None], level=level, quantile=quantile, method="mc")


def pair_correlation(pairs: np.ndarray) -> Any:
    """``rho = Corr(S(DM(z)), S(DM(-z)))`` over pairs ``(P, 2, *stat_shape)`` (component-wise)."""
    return _scalarize(pearson(pairs[:, 0], pairs[:, 1], axis=0))


def amc_estimate(pairs: np.ndarray, *, level: float = 0.95, quantile: str = "t") -> Estimate:
    """Antithetic MC from pairs ``(P, 2, *stat_shape)``: CI from the SD of the ``P`` pair means.

    ``extras["rho"]`` is the sample pair correlation ``rho``; ``Var(AMC) = sigma^2 (1 + rho) / N``.
    """
    pairs = np.asarray(pairs, dtype=np.float64)
    if pairs.ndim < 2 or pairs.shape[1] != 2:
        raise ValueError(f"AMC needs pairs of shape (P, 2, ...), got {pairs.shape}")
    est = group_estimate(pairs, level=level, quantile=quantile, method="amc")
    est.extras["rho"] = pair_correlation(pairs)
    return est


def kamc_estimate(groups: np.ndarray, *, level: float = 0.95, quantile: str = "t") -> Estimate:
    """K-antithetic MC from groups ``(G, K, *stat_shape)``: CI from the SD of the ``G`` group means."""
    return group_estimate(groups, level=level, quantile=quantile, method="k_amc")


def rqmc_estimate(replicates: np.ndarray, *, level: float = 0.95, quantile: str = "t") -> Estimate:
    """RQMC from ``R`` independent scramblings ``(R, 2^m, *stat_shape)``: CI from the replicate means."""
    return group_estimate(replicates, level=level, quantile=quantile, method="rqmc")


def noise_feature(z: np.ndarray, kind: str) -> np.ndarray:
    """Control-variate feature ``phi(z)`` with known mean 0 and variance 1, one per noise ``(N, ...)``.

    * ``"linear"``: ``sum(z) / sqrt(D)`` (odd in ``z``; N(0, 1)).
    * ``"quadratic"``: ``(||z||^2 - D) / sqrt(2 D)`` (even in ``z``; mean 0, variance 1).
    """
    z = np.asarray(z, dtype=np.float64).reshape(len(z), -1)
    d = z.shape[1]
    if kind == "linear":
        return z.sum(1) / math.sqrt(d)
    if kind == "quadratic":
        return ((z * z).sum(1) - d) / math.sqrt(2 * d)
    raise ValueError(f"uq.control_variates: unknown feature {kind!r}; choose 'linear' or 'quadratic'")


def cv_estimate(
    values: np.ndarray, features: np.ndarray, *, level: float = 0.95, quantile: str = "t", method: str = "cv"
) -> Estimate:
    """Control-variate estimate from groups ``values (G, g, *stat_shape)`` and features ``(G, g)``.

    Regresses the group means ``y_g`` on the feature group means ``f_g`` (known mean 0):
    ``estimate = mean(y) - beta mean(f)``, ``beta = Cov(y, f) / Var(f)``, with a CI from the regression
    residuals (``G - 2`` degrees of freedom). If the feature's group means vanish (a linear feature
    under antithetic pairs), ``beta = 0`` and the estimate equals the group-mean estimate;
    ``extras["degenerate"]`` is then True.
    """
    values = np.asarray(values, dtype=np.float64)
    features = np.asarray(features, dtype=np.float64)
    if features.shape != values.shape[:2]:
        raise ValueError(f"features must have shape {values.shape[:2]} (groups, group_size), got {features.shape}")
    num_groups = values.shape[0]
    if num_groups < 3:
        raise ValueError(f"{method}: a control-variate CI needs at least 3 groups, got {num_groups}")
    y = values.mean(axis=1)
    f = features.mean(axis=1)
    fc = f - f.mean()
    sff = float((fc * fc).sum())
    scale = float((features * features).mean()) * num_groups
    degenerate = sff <= 1e-12 * max(scale, 1e-300)
    if degenerate:
        est = group_estimate(values, level=level, quantile=quantile, method=method)
        est.extras.update(beta=0.0 * np.asarray(est.estimate), degenerate=True)
        return est
    yc = y - y.mean(axis=0)
    fshape = (-1,) + (1,) * (y.ndim - 1)
    beta = (yc * fc.reshape(fshape)).sum(axis=0) / sff
    adjusted = y - beta * f.reshape(fshape)
    est = adjusted.mean(axis=0)
    resid = yc - beta * fc.reshape(fshape)
    se = np.sqrt((resid**2).sum(axis=0) / (num_groups - 2)) / math.sqrt(num_groups) * np.sqrt(1 + f.mean() ** 2 / (sff / num_groups))
    q = ci_quantile(level, num_groups - 2, quantile)
    return Estimate(
        method=method, estimate=_scalarize(est), std_error=_scalarize(se),
        ci_low=_scalarize(est - q * se), ci_high=_scalarize(est + q * se), level=level, quantile=q,
        num_samples=int(values.shape[0] * values.shape[1]), num_groups=num_groups, group_size=int(values.shape[1]),
        extras={"beta": _scalarize(beta), "degenerate": False},
    )


def efficiency(sample_variance: Any, estimate: Estimate) -> Any:
    """Efficiency vs MC at equal sample count: ``(sigma^2 / N) / Var(estimator)``, ~ ``(CI_MC / CI)^2``.

    Args:
        sample_variance: per-sample variance ``sigma^2`` of the statistic (from an iid run).
        estimate: the estimator, with ``N = estimate.num_samples``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return _scalarize(np.asarray(sample_variance) / estimate.num_samples / np.asarray(estimate.variance))
