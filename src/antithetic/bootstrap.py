"""Bootstrap confidence intervals of smooth statistics of one or more samples, by :func:`scipy.stats.bootstrap`.

The default is the BCa interval (Efron 1987): a percentile interval whose end points are corrected for the
bias and the skewness of the bootstrap distribution, second-order accurate where the plain percentile interval
is first-order accurate. Callers may ask for the percentile interval where BCa does worse (a few heavy-tailed
observations make its jackknife estimate of the acceleration noisy; see :func:`antithetic.inverse.inverse_experiment`).

Two cases scipy leaves undefined are settled here:

* every resample gives the same value (e.g. samples that are constant): BCa divides 0 by 0, while the
  bootstrap distribution is a point; the interval is that point (zero width), as the percentile interval gives;
* a sample of fewer than 2 observations: there is nothing to resample (scipy refuses); the interval is NaN.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["MIN_RESAMPLES", "bootstrap_ci"]

#: resamples a bootstrap interval needs at the least (two distinct end points)
MIN_RESAMPLES = 2


def bootstrap_ci(
    data: Sequence[np.ndarray],
    statistic: Callable[..., np.ndarray],
    *,
    paired: bool,
    num_bootstrap: int,
    level: float,
    rng: np.random.Generator,
    method: str = "BCa",
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the ``level`` interval of ``statistic(*data)``.

    Args:
        data: the samples, 1-d arrays (of equal length when ``paired``).
        statistic: ``statistic(*samples, axis=-1)``, vectorized over leading axes; it may return several
            values (first axis), each gets its interval.
        paired: resample the samples with the same indices (paired observations) or independently.
        num_bootstrap: resamples.
        level: confidence level.
        rng: the resampling's random generator (consumed, so successive calls draw fresh resamples).
        method: ``"BCa"`` or ``"percentile"`` (see :func:`scipy.stats.bootstrap`).

    Returns:
        ``(low, high)``, each of the shape of ``statistic(*data)``.
    """
    from scipy import stats

    if int(num_bootstrap) < MIN_RESAMPLES:
        raise ValueError(f"a bootstrap interval needs at least {MIN_RESAMPLES} resamples, got num_bootstrap={num_bootstrap}")
    data = tuple(np.asarray(d, dtype=np.float64) for d in data)
    estimate = np.asarray(statistic(*data, axis=-1), dtype=np.float64)
    if min(len(d) for d in data) < 2:
        nan = np.full(estimate.shape, np.nan)
        return nan, nan.copy()
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        # BCa on a point-mass bootstrap distribution warns and gives NaN: settled below
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(
            data, statistic, n_resamples=int(num_bootstrap), confidence_level=level, method=method, paired=paired,
            vectorized=True, axis=-1, rng=rng,
        )
    low = np.asarray(result.confidence_interval.low, dtype=np.float64)
    high = np.asarray(result.confidence_interval.high, dtype=np.float64)
    dist = np.asarray(result.bootstrap_distribution, dtype=np.float64)
    point = (np.ptp(dist, axis=-1) <= 1e-12 * np.maximum(np.abs(dist).max(axis=-1), 1e-300)) & np.isfinite(dist).all(axis=-1)
    low = np.where(point, dist[..., 0], low)
    high = np.where(point, dist[..., 0], high)
    return low, high
