"""Estimators of ``E[S(DM(z))]`` with confidence intervals (paper, "Definitions": MC, AMC, K-AMC, RQMC).

Every estimator here is a *group-mean* estimator. The samples come in ``G`` independent groups of
``g`` members (MC: ``g = 1``; AMC: pairs ``(z, -z)``, ``g = 2``; K-AMC: K-antithetic groups; RQMC:
replicates of ``2^m`` scrambled Sobol points). Each group mean is an unbiased estimate, groups are
independent, so

    estimate = mean of the G group means,   CI = estimate +- q * sd(group means) / sqrt(G),

with ``q`` the ``1 - (1 - level)/2`` quantile of Student's t with ``G - 1`` degrees of freedom
(``quantile="t"``, the default) or of the normal law (``quantile="normal"``, the paper's MC/AMC
formula). For ``G >= 100`` the two differ by < 1.5%; for RQMC with few replicates only t is valid.

Efficiency at equal sample count is the variance ratio ``E = (sigma^2 / N) / Var(estimator)``, where
``sigma^2`` is the per-sample variance of the statistic (estimated from an iid run) and ``N`` the
estimator's sample count: the MC variance it would have had with the same ``N``. It is *not* the
squared ratio of CI lengths: the paper's ``(CI_MC / CI)^2`` also carries the ratio of the two
quantiles, ``(q_MC / q)^2`` (Student t with ``N - 1`` and ``G - 1`` degrees of freedom; 0.85 for
``G = 16``); :func:`efficiency_interval` returns both. Vector statistics use the total-variance ratio
``sum_j sigma_j^2 / N / sum_j Var_j``. Both variances are estimates, so the efficiency gets a CI
(:func:`efficiency_interval`): ``E_hat / E ~ F(N_MC - 1, G - 1)`` for Gaussian data (the MC
per-sample variance has ``N_MC - 1`` degrees of freedom, the variance of ``G`` group means ``G - 1``).

For AMC, ``E = 1 / (1 + rho)`` with ``rho = Corr(S(DM(z)), S(DM(-z)))``. For vector statistics the
efficiency matches the *variance-weighted* correlation ``rho_w = sum_j Cov_j / sum_j Var_j``
(:func:`weighted_group_correlation`), not the mean of the per-pixel correlations: with the pair
sample's own per-sample variance the identity ``E = 1 / (1 + rho_w)`` is exact; constant pixels
weigh nothing.

Control variates (a reviewer's request): with a feature ``phi(z)`` of the initial noise whose mean is
known to be 0, regress the group means of ``S`` on the group means of ``phi`` and subtract
``beta * phibar``. The coefficient is *cross-fitted*: group ``g`` is corrected with the coefficient
fitted on the other ``G - 1`` groups, so ``beta_{-g}`` is independent of ``phibar_g`` and the estimate
is exactly unbiased (the in-sample coefficient is biased when ``S`` depends non-linearly on the
feature). At ``G = 16`` the interval covers at its nominal level on smooth statistics of the feature,
but can undercover on strongly skewed ones, as t-intervals at small ``G`` can (docs/uq.md). A *linear*
feature is odd, so its mean over an antithetic pair is exactly 0:
antithetic pairing already removes every linear function of ``z`` and a linear control variate adds
nothing to AMC (the combined estimator is returned equal to AMC, flagged ``degenerate``). An even
feature such as ``||z||^2 - D`` complements it.

Vector statistics (``values`` with trailing dimensions, e.g. a per-pixel mean image) are estimated
component-wise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from .pearson import pearson

__all__ = [
    "ESTIMATORS",
    "Estimate",
    "amc_estimate",
    "ci_quantile",
    "cv_estimate",
    "efficiency",
    "efficiency_interval",
    "efficiency_interval_bootstrap",
    "efficiency_interval_jackknife",
    "efficiency_interval_of_jackknife",
    "estimate_groups",
    "estimate_summary",
    "group_estimate",
    "jackknife_variances",
    "kamc_estimate",
    "mc_estimate",
    "merge_component_blocks",
    "noise_feature",
    "pair_correlation",
    "rqmc_estimate",
    "weighted_correlation_of_parts",
    "weighted_group_correlation",
    "weighted_group_correlation_parts",
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
    #: degrees of freedom of the variance estimate (``G - 1`` for group means)
    dof: int = 0

    def __post_init__(self) -> None:
        if self.dof <= 0:
            self.dof = self.num_groups - 1

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
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if quantile not in QUANTILES:
        raise ValueError(f"quantile must be one of {QUANTILES}, got {quantile!r}")
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

    ``extras["rho"]`` is the sample pair correlation ``rho`` (component-wise) and ``extras["rho_w"]`` the
    variance-weighted correlation of :func:`weighted_group_correlation`; ``Var(AMC) = sigma^2 (1 + rho) / N``.
    """
    pairs = np.asarray(pairs, dtype=np.float64)
    if pairs.ndim < 2 or pairs.shape[1] != 2:
        raise ValueError(f"AMC needs pairs of shape (P, 2, ...), got {pairs.shape}")
    est = group_estimate(pairs, level=level, quantile=quantile, method="amc")
    est.extras["rho"] = pair_correlation(pairs)
    est.extras["rho_w_parts"] = weighted_group_correlation_parts(pairs)
    est.extras["rho_w"] = weighted_correlation_of_parts(*est.extras["rho_w_parts"], 2)
    return est


def kamc_estimate(groups: np.ndarray, *, level: float = 0.95, quantile: str = "t") -> Estimate:
    """K-antithetic MC from groups ``(G, K, *stat_shape)``: CI from the SD of the ``G`` group means.

    ``extras["rho_w"]`` is the variance-weighted within-group correlation (:func:`weighted_group_correlation`).
    """
    est = group_estimate(groups, level=level, quantile=quantile, method="k_amc")
    est.extras["rho_w_parts"] = weighted_group_correlation_parts(groups)
    est.extras["rho_w"] = weighted_correlation_of_parts(*est.extras["rho_w_parts"], est.group_size)
    return est


def weighted_group_correlation(groups: np.ndarray) -> float:
    """Variance-weighted within-group correlation ``rho_w`` of groups ``(G, K, *stat_shape)``.

    ``rho_w = sum_j mean_{i != i'} C_j[i, i'] / sum_j mean_i C_j[i, i]`` with ``C_j`` the sample covariance
    (``ddof = 1``) of the ``K`` members in component ``j``. With ``s^2 = sum_j mean_i C_j[i, i]`` the pooled
    per-sample variance, the variance of the group means is exactly ``s^2 (1 + (K - 1) rho_w) / K`` (summed
    over components), so the efficiency of :func:`group_estimate` measured with the sample's own ``s^2``
    is ``1 / (1 + (K - 1) rho_w)``; for AMC (``K = 2``) ``1 / (1 + rho_w)``. Components with zero variance
    (a constant pixel) weigh nothing; NaN only if every component is constant.
    """
    return weighted_correlation_of_parts(*weighted_group_correlation_parts(groups), np.shape(groups)[1])


def weighted_group_correlation_parts(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-component terms of :func:`weighted_group_correlation`: ``(sum_{i != i'} C_j[i, i'], mean_i C_j[i, i])``.

    Both have one entry per component (flattened ``stat_shape``); the parts of disjoint blocks of
    components, concatenated in component order, give :func:`weighted_correlation_of_parts` of the whole.
    """
    groups = np.asarray(groups, dtype=np.float64)
    if groups.ndim < 2 or groups.shape[1] < 2:
        raise ValueError(f"groups must have shape (G, K >= 2, ...), got {groups.shape}")
    num_groups, k = groups.shape[:2]
    centred = (groups - groups.mean(axis=0)).reshape(num_groups, k, -1)
    member_var = (centred**2).sum(axis=0) / (num_groups - 1)                       # (K, D)
    total = centred.sum(axis=1)                                                    # (G, D)
    cross = ((total**2).sum(axis=0) / (num_groups - 1) - member_var.sum(axis=0))    # sum_{i != i'} C[i, i'], (D,)
    return cross, member_var.mean(axis=0)


def weighted_correlation_of_parts(cross: np.ndarray, variance: np.ndarray, group_size: int) -> float:
    """``rho_w`` from the per-component parts of :func:`weighted_group_correlation_parts`."""
    k = int(group_size)
    total = float(variance.sum())
    if total <= 0:
        return float("nan")
    return float(cross.sum() / (k * (k - 1)) / total)


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
    raise ValueError(f"unknown control-variate feature kind={kind!r}; choose 'linear' or 'quadratic'")


def cv_estimate(
    values: np.ndarray, features: np.ndarray, *, level: float = 0.95, quantile: str = "t", method: str = "cv"
) -> Estimate:
    """Cross-fitted control-variate estimate from groups ``values (G, g, *stat_shape)`` and features ``(G, g)``.

    With group means ``y_g`` and feature group means ``f_g`` (known mean 0), group ``g`` is corrected as
    ``a_g = y_g - beta_{-g} f_g`` where ``beta_{-g} = Cov(y, f) / Var(f)`` is fitted on the other ``G - 1``
    groups (leave-one-group-out cross-fitting). ``beta_{-g}`` is independent of ``f_g``, so every ``a_g``
    has mean ``E[S]`` exactly; the estimate is ``mean(a)`` with a CI from the SD of the ``a_g``
    (``G - 1`` degrees of freedom). If the feature's group means vanish (a linear feature under
    antithetic pairs), ``beta = 0`` and the estimate equals the group-mean estimate;
    ``extras["degenerate"]`` is then True. ``extras["beta"]`` is the coefficient fitted on all groups.
    """
    values = np.asarray(values, dtype=np.float64)
    features = np.asarray(features, dtype=np.float64)
    if features.shape != values.shape[:2]:
        raise ValueError(f"features must have shape {values.shape[:2]} (groups, group_size), got {features.shape}")
    num_groups = values.shape[0]
    if num_groups < 4:
        raise ValueError(f"{method}: a cross-fitted control-variate CI needs at least 4 groups, got {num_groups}")
    y = values.mean(axis=1)
    f = features.mean(axis=1)
    fc = f - f.mean()
    sff = float((fc * fc).sum())
    scale = float((features * features).mean()) * num_groups
    if sff <= 1e-12 * max(scale, 1e-300):
        est = group_estimate(values, level=level, quantile=quantile, method=method)
        est.extras.update(beta=0.0 * np.asarray(est.estimate), degenerate=True)
        return est
    fshape = (-1,) + (1,) * (y.ndim - 1)
    fb = f.reshape(fshape)
    beta = ((y - y.mean(axis=0)) * fb).sum(axis=0) / sff
    # leave-one-group-out sums: everything but group g
    n = num_groups - 1
    sum_f, sum_y = f.sum() - f, y.sum(axis=0) - y
    sum_ff, sum_yf = (f * f).sum() - f * f, (y * fb).sum(axis=0) - y * fb
    var_f = sum_ff - sum_f**2 / n
    if np.any(var_f <= 1e-12 * max(scale, 1e-300)):
        raise ValueError(f"{method}: the feature is constant on all groups but one; the coefficient cannot be cross-fitted")
    beta_loo = (sum_yf - sum_y * sum_f.reshape(fshape) / n) / var_f.reshape(fshape)
    adjusted = y - beta_loo * fb
    est = group_estimate(adjusted[:, None], level=level, quantile=quantile, method=method)
    est.num_samples, est.group_size = int(values.shape[0] * values.shape[1]), int(values.shape[1])
    est.extras.update(beta=_scalarize(beta), degenerate=False)
    return est


def efficiency(sample_variance: Any, estimate: Estimate) -> Any:
    """Efficiency vs MC at equal sample count: ``(sigma^2 / N) / Var(estimator)``, ~ ``(CI_MC / CI)^2``.

    Args:
        sample_variance: per-sample variance ``sigma^2`` of the statistic (from an iid run).
        estimate: the estimator, with ``N = estimate.num_samples``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return _scalarize(np.asarray(sample_variance) / estimate.num_samples / np.asarray(estimate.variance))


def efficiency_interval(
    sample_variance: Any,
    mc_num_samples: int,
    estimate: Estimate,
    *,
    level: float = 0.95,
    quantile: str = "t",
    same_samples: bool = False,
) -> dict[str, float]:
    """Efficiency vs MC at equal sample count with its CI; vector statistics: total-variance ratio.

    ``efficiency = sum(sigma^2) / N / sum(Var(estimator))`` with ``sigma^2`` the per-sample variance from
    an independent iid run of ``mc_num_samples`` samples. Both variances are estimates: for Gaussian
    statistics ``efficiency_hat / efficiency ~ F(N_MC - 1, dof)`` with ``dof = estimate.dof`` (``G - 1``), so
    the ``level`` interval is ``[E_hat / F_{1-a/2}, E_hat / F_{a/2}]`` (exact for a scalar Gaussian
    statistic; for vector statistics the summed variances have at least these degrees of freedom, and
    the interval is conservative). With ``same_samples`` (the MC estimator on the very samples that gave
    ``sigma^2``) the efficiency is 1 by construction and the interval ``[1, 1]``.

    Also returns ``ci_ratio_squared = efficiency * (q_MC / q)^2``: the paper's ``(CI_MC / CI)^2`` with
    the MC CI of ``N`` iid samples (quantile ``q_MC``, ``N - 1`` degrees of freedom) and the
    estimator's own quantile ``q``; it differs from the variance ratio by the quantile ratio.
    """
    sigma2 = float(np.sum(sample_variance))
    var = float(np.sum(estimate.variance))
    n = estimate.num_samples
    eff = sigma2 / n / var if var > 0 else float("inf")
    if same_samples:
        low = high = eff
    elif not (np.isfinite(eff) and eff > 0):
        low, high = float("nan"), float("nan")
    else:
        a = 1.0 - level
        low = eff / float(stats.f.ppf(1 - a / 2, mc_num_samples - 1, estimate.dof))
        high = eff / float(stats.f.ppf(a / 2, mc_num_samples - 1, estimate.dof))
    q_mc = ci_quantile(level, n - 1, quantile)
    return {
        "efficiency": eff,
        "efficiency_low": low,
        "efficiency_high": high,
        "ci_ratio_squared": eff * (q_mc / estimate.quantile) ** 2,
    }


def efficiency_interval_bootstrap(
    mc_units: np.ndarray,
    group_means: np.ndarray,
    *,
    samples_per_unit: int = 1,
    samples_per_group: int,
    level: float = 0.95,
    num_bootstrap: int = 1999,
    seed: int = 0,
) -> dict[str, float]:
    """Efficiency vs MC at equal sample count, with a bootstrap CI valid beyond Gaussian statistics.

    ``efficiency = (sigma^2 / N) / (Var(group means) / G)`` with ``sigma^2 = samples_per_unit * Var(mc_units)``
    (the MC run's independent units: single samples, or the means of the samples that share a condition),
    ``G`` groups of ``samples_per_group`` samples each and ``N = G * samples_per_group``. A vector statistic
    (``mc_units`` of shape ``(units, D)``, ``group_means`` ``(G, D)``) takes the total-variance ratio, variances
    summed over its ``D`` components, as :func:`efficiency_interval` does. The F interval of
    :func:`efficiency_interval` assumes a Gaussian statistic; a bounded statistic with rare outliers (a
    classifier's confidence near 1, a rarely predicted class) has a heavy-tailed per-sample variance, and the F
    interval is then far too short. This BCa interval (:func:`antithetic.bootstrap.bootstrap_ci`) resamples the
    MC units and the groups independently, as the two runs are, each unit or group with all its components.
    Keys as :func:`efficiency_interval` (``ci_ratio_squared`` is NaN).
    """
    from .bootstrap import bootstrap_ci

    mc_units = np.asarray(mc_units, dtype=np.float64).reshape(len(mc_units), -1)  # (units, components)
    group_means = np.asarray(group_means, dtype=np.float64).reshape(len(group_means), -1)  # (G, components)
    if mc_units.shape[1] != group_means.shape[1]:
        raise ValueError(f"mc_units has {mc_units.shape[1]} components per unit, group_means {group_means.shape[1]}")
    n = len(group_means) * int(samples_per_group)

    # the bootstrap resamples unit and group *indices*, so a unit or group keeps all its components
    def efficiency(units: np.ndarray, groups: np.ndarray, axis: int = -1) -> np.ndarray:
        a, b = mc_units[units.astype(np.intp)], group_means[groups.astype(np.intp)]  # (..., n, components)
        var = np.var(b, ddof=1, axis=-2).sum(axis=-1) / b.shape[-2]
        return samples_per_unit * np.var(a, ddof=1, axis=-2).sum(axis=-1) / n / np.where(var > 0, var, np.nan)

    units, groups = np.arange(len(mc_units), dtype=np.float64), np.arange(len(group_means), dtype=np.float64)
    eff = float(efficiency(units, groups))
    low, high = bootstrap_ci((units, groups), efficiency, paired=False, num_bootstrap=num_bootstrap, level=level,
                             rng=np.random.default_rng(seed))
    return {"efficiency": eff, "efficiency_low": float(low), "efficiency_high": float(high), "ci_ratio_squared": float("nan")}


def _mc_of_groups(values: np.ndarray, *, level: float, quantile: str) -> Estimate:
    return mc_estimate(values.reshape(-1, *values.shape[2:]), level=level, quantile=quantile)


#: estimator name -> estimate from grouped values ``(G, g, *stat_shape)``; the estimator of each noise
#: design kind is :attr:`antithetic.kinds.DesignKind.estimator`
ESTIMATORS: dict[str, Callable[..., Estimate]] = {
    "mc": _mc_of_groups,
    "amc": amc_estimate,
    "k_amc": kamc_estimate,
    "rqmc": rqmc_estimate,
}


def estimate_groups(estimator: str, values: np.ndarray, *, level: float = 0.95, quantile: str = "t") -> Estimate:
    """The estimate of ``estimator`` (a key of :data:`ESTIMATORS`) from grouped values ``(G, g, *stat_shape)``.

    Raises:
        ValueError: ``estimator`` is not a key of :data:`ESTIMATORS`.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; known: {sorted(ESTIMATORS)}")
    return ESTIMATORS[estimator](values, level=level, quantile=quantile)


def efficiency_interval_jackknife(
    values: np.ndarray, features: np.ndarray, *, level: float = 0.95, quantile: str = "t", blocks: int = 20
) -> dict[str, float]:
    """Efficiency of the control-variate estimator vs MC *on the same iid samples*, with a CI.

    ``values (N, 1, *stat_shape)``, ``features (N, 1)``: both variances come from the same samples, so
    the F interval of :func:`efficiency_interval` does not apply. The CI is a delete-a-block jackknife
    of ``log(efficiency)`` over ``blocks`` blocks of consecutive groups (Student t, ``blocks - 1``
    degrees of freedom). Returns the keys of :func:`efficiency_interval`.
    """
    return efficiency_interval_of_jackknife(
        jackknife_variances(values, features, level=level, quantile=quantile, blocks=blocks), level=level, quantile=quantile
    )


def jackknife_variances(
    values: np.ndarray, features: np.ndarray, *, level: float = 0.95, quantile: str = "t", blocks: int = 20
) -> dict[str, Any]:
    """Per-component variances behind :func:`efficiency_interval_jackknife`.

    Returns ``mc`` and ``cv``, each ``(blocks + 1, D)``: the variance of the MC and of the control-variate
    estimator, per component (flattened ``stat_shape``), on all groups (row 0) and without each block of
    groups (rows 1...), and ``num_samples`` and ``quantile`` of the control-variate estimate on all
    groups. The arrays of disjoint blocks of components, concatenated in component order, give
    :func:`efficiency_interval_of_jackknife` of the whole.
    """
    values = np.asarray(values, dtype=np.float64)
    num_groups = len(values)
    blocks = min(blocks, num_groups)
    if blocks < 3:
        raise ValueError(f"a jackknife CI needs at least 3 groups, got {num_groups}")
    edges = np.linspace(0, num_groups, blocks + 1).astype(int)
    keep = [np.arange(num_groups)] + [np.r_[0:lo, hi:num_groups] for lo, hi in zip(edges[:-1], edges[1:])]
    mc, cv = [], []
    for k in keep:
        v = values if len(k) == num_groups else values[k]
        f = features if len(k) == num_groups else features[k]
        mc.append(np.reshape(group_estimate(v, level=level, quantile=quantile).variance, -1))
        full = cv_estimate(v, f, level=level, quantile=quantile)
        cv.append(np.reshape(full.variance, -1))
        if len(cv) == 1:
            num_samples, q = full.num_samples, full.quantile
    return {"mc": np.stack(mc), "cv": np.stack(cv), "num_samples": num_samples, "quantile": q}


def efficiency_interval_of_jackknife(parts: dict[str, Any], *, level: float = 0.95, quantile: str = "t") -> dict[str, float]:
    """:func:`efficiency_interval_jackknife` from its :func:`jackknife_variances`."""
    logs = np.array([math.log(float(np.sum(m)) / float(np.sum(c))) for m, c in zip(parts["mc"], parts["cv"])])
    full, loo = logs[0], logs[1:]
    blocks = len(loo)
    se = math.sqrt((blocks - 1) / blocks * float(((loo - loo.mean()) ** 2).sum()))
    q = ci_quantile(level, blocks - 1, "t")
    eff = math.exp(full)
    q_mc = ci_quantile(level, parts["num_samples"] - 1, quantile)
    return {
        "efficiency": eff,
        "efficiency_low": math.exp(full - q * se),
        "efficiency_high": math.exp(full + q * se),
        "ci_ratio_squared": eff * (q_mc / parts["quantile"]) ** 2,
    }


def merge_component_blocks(parts: list[Estimate], shape: tuple[int, ...]) -> Estimate:
    """One estimate of a vector statistic of ``shape`` from estimates of disjoint blocks of its components.

    ``parts`` are estimates of consecutive blocks of the flattened components, in order (each from the same
    groups: component-wise estimators see only their own components). Arrays are concatenated and
    reshaped to ``shape``; ``rho_w`` is recomputed from the blocks' ``rho_w_parts``.
    """
    def joined(values: list[Any]) -> np.ndarray:
        return np.concatenate([np.reshape(v, -1) for v in values]).reshape(shape)

    first = parts[0]
    extras: dict[str, Any] = {}
    for key in first.extras:
        values = [p.extras[key] for p in parts]
        if key == "rho_w_parts":
            extras[key] = tuple(np.concatenate([v[i] for v in values]) for i in range(2))
        elif key == "rho_w":
            continue
        elif key == "degenerate":
            extras[key] = bool(values[0])
        else:
            extras[key] = joined(values)
    if "rho_w_parts" in extras:
        extras["rho_w"] = weighted_correlation_of_parts(*extras["rho_w_parts"], first.group_size)
    return Estimate(
        method=first.method, estimate=joined([p.estimate for p in parts]), std_error=joined([p.std_error for p in parts]),
        ci_low=joined([p.ci_low for p in parts]), ci_high=joined([p.ci_high for p in parts]), level=first.level,
        quantile=first.quantile, num_samples=first.num_samples, num_groups=first.num_groups, group_size=first.group_size,
        extras=extras, dof=first.dof,
    )


def estimate_summary(
    est: Estimate,
    *,
    sample_variance: Any,
    mc_num_samples: int,
    level: float = 0.95,
    quantile: str = "t",
    same_samples: bool = False,
    efficiency_ci: dict[str, float] | None = None,
) -> dict[str, Any]:
    """One Table-2 row of numbers for an estimate (vector statistics: pixel-averaged lengths).

    Columns: sample counts, ``estimate`` (pixel mean for vectors), ``ci_low/ci_high`` (scalars),
    ``ci_length``, ``std_error`` (root mean SE^2), ``mc_ci_length_equal_n`` (the MC CI of ``N`` samples),
    ``efficiency`` with ``efficiency_low/high`` and ``ci_ratio_squared`` (:func:`efficiency_interval`, or
    ``efficiency_ci`` when given), ``rho`` (mean per-component pair correlation, AMC) and ``rho_w``
    (variance-weighted, AMC and K-AMC: ``efficiency = 1 / (1 + (K - 1) rho_w)`` with the sample's own
    variance), ``degenerate`` (control variates).
    """
    scalar = np.ndim(est.estimate) == 0
    n = est.num_samples
    q_mc = ci_quantile(level, n - 1, quantile)
    eff = efficiency_ci or efficiency_interval(
        sample_variance, mc_num_samples, est, level=level, quantile=quantile, same_samples=same_samples
    )
    return {
        "num_samples": n,
        "num_groups": est.num_groups,
        "group_size": est.group_size,
        "components": int(np.size(est.estimate)),
        "estimate": float(np.mean(est.estimate)),
        "ci_low": float(est.ci_low) if scalar else float("nan"),
        "ci_high": float(est.ci_high) if scalar else float("nan"),
        "ci_length": float(np.mean(est.ci_length)),
        "std_error": float(np.sqrt(np.mean(est.variance))),
        "mc_ci_length_equal_n": float(np.mean(2 * q_mc * np.sqrt(np.asarray(sample_variance) / n))),
        **eff,
        "rho": float(np.nanmean(est.extras["rho"])) if "rho" in est.extras else float("nan"),
        "rho_w": float(est.extras.get("rho_w", float("nan"))),
        "degenerate": bool(est.extras.get("degenerate", False)),
    }
