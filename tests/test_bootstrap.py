"""Bootstrap intervals by scipy: what is passed through, and the two cases scipy leaves undefined."""

import numpy as np
import pytest
from scipy import stats

from antithetic.bootstrap import bootstrap_ci


def _ratio(a, b, axis=-1):
    return a.mean(axis) / b.mean(axis)


@pytest.mark.parametrize("paired", [True, False])
@pytest.mark.parametrize("method", ["BCa", "percentile"])
def test_the_interval_is_scipys(paired, method):
    rng = np.random.default_rng(0)
    a, b = rng.gamma(2.0, 1.0, 30), rng.gamma(3.0, 1.0, 30)
    low, high = bootstrap_ci((a, b), _ratio, paired=paired, num_bootstrap=500, level=0.9, rng=np.random.default_rng(5), method=method)
    ref = stats.bootstrap((a, b), _ratio, paired=paired, n_resamples=500, confidence_level=0.9, method=method,
                          vectorized=True, rng=np.random.default_rng(5)).confidence_interval
    assert (low, high) == (pytest.approx(ref.low, rel=1e-12), pytest.approx(ref.high, rel=1e-12))
    assert low < _ratio(a, b) < high


def test_paired_samples_are_resampled_with_the_same_indices():
    a = np.random.default_rng(1).gamma(2.0, 1.0, 25)
    low, high = bootstrap_ci((a, a.copy()), _ratio, paired=True, num_bootstrap=200, level=0.95, rng=np.random.default_rng(0))
    assert low == pytest.approx(1.0, abs=1e-12) and high == pytest.approx(1.0, abs=1e-12)
    low, high = bootstrap_ci((a, a.copy()), _ratio, paired=False, num_bootstrap=200, level=0.95, rng=np.random.default_rng(0))
    assert low < 0.9 and high > 1.1


def test_several_statistics_share_the_resamples():
    rng = np.random.default_rng(2)
    a, b = rng.normal(1.0, 0.2, 40), rng.normal(2.0, 0.2, 40)

    def both(x, y, axis=-1):
        return np.stack([x.mean(axis) - y.mean(axis), y.mean(axis) - x.mean(axis)])

    low, high = bootstrap_ci((a, b), both, paired=False, num_bootstrap=300, level=0.95, rng=np.random.default_rng(0),
                             method="percentile")
    assert low.shape == high.shape == (2,)
    assert low[0] == pytest.approx(-high[1], rel=1e-12) and high[0] == pytest.approx(-low[1], rel=1e-12)


def test_a_point_mass_bootstrap_gives_a_point_and_a_single_observation_nan():
    low, high = bootstrap_ci((np.full(50, 0.2), np.full(60, 0.5)), _ratio, paired=False, num_bootstrap=100, level=0.95,
                             rng=np.random.default_rng(0))  # BCa alone would be NaN (0 / 0)
    assert low == pytest.approx(0.4, rel=1e-12) and high == pytest.approx(0.4, rel=1e-12)
    low, high = bootstrap_ci((np.array([1.0]), np.array([2.0])), _ratio, paired=True, num_bootstrap=100, level=0.95,
                             rng=np.random.default_rng(0))
    assert np.isnan(low) and np.isnan(high)
