"""Stein's two-stage procedure: a CI of a requested half-width that covers at its nominal rate.

The model is closed form: ``x = mu + sigma z`` with ``z ~ N(0, I_16)`` and the statistic
``S(x) = mean_j (x_j + cos(x_j))`` (an image-like average of a non-linear function of the pixels), whose
mean is ``mean_j (mu_j + cos(mu_j) exp(-sigma^2 / 2))``. Antithetic pairs remove the linear part,
K-antithetic groups part of the rest, so all three estimators are non-degenerate. The noise is coupled
by the designs' own ``couple`` (pairs ``(w, -w)``, centred K-groups) from a numpy stream per repetition,
which makes 800 repetitions per design take a few seconds.
"""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from antithetic import AntitheticNoise, IIDNoise, KAntitheticNoise, sequential_estimate
from antithetic.estimators import ci_quantile
from antithetic.sequential import stein_num_groups

D, SIGMA = 16, 1.0
MU = np.linspace(-1.0, 1.0, D)
TRUTH = float(np.mean(MU + np.cos(MU) * math.exp(-SIGMA**2 / 2)))
REPS = 800
DESIGNS = {
    "mc": lambda seed: IIDNoise(seed=seed),
    "amc": lambda seed: AntitheticNoise(seed=seed),
    "k_amc": lambda seed: KAntitheticNoise(k=4, seed=seed),
}


def statistic(z: np.ndarray) -> np.ndarray:
    x = MU + SIGMA * z
    return (x + np.cos(x)).mean(axis=1)


class ClosedFormSampler:
    """``sample_fn(start, count)`` of the closed-form model: values of samples ``start .. start + count - 1``.

    Group ``g`` of the design gets its own draws ``w`` (consecutive groups from one numpy stream), coupled
    by the design, so a sample's value depends only on its index, like the library's seed addressing.
    """

    def __init__(self, design, seed: int, chunk: int = 256) -> None:
        self.design, self.rng, self.chunk = design, np.random.default_rng(seed), chunk
        self.values = np.empty(0)
        self.calls: list[tuple[int, int]] = []

    def _extend(self) -> None:
        w = torch.from_numpy(self.rng.standard_normal((self.design.draws_per_group, self.chunk, D)))
        members = self.design.couple(w).numpy()                  # (group_size, chunk groups, D)
        z = members.transpose(1, 0, 2).reshape(-1, D)            # sample order: group by group, member by member
        self.values = np.concatenate([self.values, statistic(z)])

    def __call__(self, start: int, count: int) -> np.ndarray:
        self.calls.append((start, count))
        while len(self.values) < start + count:
            self._extend()
        return self.values[start : start + count].copy()


def group_sd(design) -> float:
    means = ClosedFormSampler(design, seed=10**7)(0, 8192 * design.group_size).reshape(-1, design.group_size).mean(1)
    return float(means.std(ddof=1))


def naive_stopping_covers(sampler: ClosedFormSampler, group_size: int, half_width: float, *, n_min: int = 2,
                          max_groups: int = 256, level: float = 0.95) -> bool:
    """"Sample until the CI looks narrow": after every group, stop once the t interval's half-width <= h."""
    means = sampler(0, max_groups * group_size).reshape(-1, group_size).mean(1)
    n = np.arange(1, max_groups + 1)
    c1, c2 = np.cumsum(means), np.cumsum(means**2)
    sd = np.sqrt(np.maximum((c2 - c1**2 / n) / np.maximum(n - 1, 1), 0.0))
    q = stats.t.ppf(1 - (1 - level) / 2, np.maximum(n - 1, 1))
    narrow = (q * sd / np.sqrt(n) <= half_width) & (n >= n_min)
    i = int(np.argmax(narrow)) if narrow.any() else max_groups - 1
    return bool(abs(c1[i] / n[i] - TRUTH) <= q[i] * sd[i] / math.sqrt(n[i]))


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_stein_two_stage_covers_at_the_nominal_rate_and_naive_stopping_does_not(name):
    make = DESIGNS[name]
    size = make(0).group_size
    # a half-width that a fixed run of about 20 groups would reach: small enough samples for optional
    # stopping to matter, and the same for every design (in units of its own group-mean SD)
    h = 1.96 * group_sd(make(0)) / math.sqrt(20)
    stein, needed = [], []
    for r in range(REPS):
        design = make(r)
        result = sequential_estimate(ClosedFormSampler(design, seed=r), design, half_width=h, n0=10)
        assert result.half_width <= h + 1e-12 and not result.budget_binding
        stein.append(result.covers(TRUTH))
        needed.append(result.num_groups)
    naive = [naive_stopping_covers(ClosedFormSampler(make(r), seed=10**6 + r), size, h) for r in range(REPS)]
    k_stein, k_naive = int(np.sum(stein)), int(np.sum(naive))
    # 800 repetitions: a coverage of 90% instead of 95% is 6.5 standard errors off
    p_stein = stats.binomtest(k_stein, REPS, 0.95).pvalue
    p_naive = stats.binomtest(k_naive, REPS, 0.95, alternative="less").pvalue
    print(f"{name}: Stein coverage {k_stein / REPS:.4f} (p={p_stein:.3g}, mean groups {np.mean(needed):.1f}); "
          f"naive stopping {k_naive / REPS:.4f} (p={p_naive:.2g})")
    assert p_stein > 0.01, f"{name}: Stein's interval covers {k_stein}/{REPS}, not 95%"
    assert p_naive < 1e-3, f"{name}: naive optional stopping covers {k_naive}/{REPS}; expected clear undercoverage"
    assert k_naive / REPS < 0.92


def test_the_continuation_reuses_the_pilot_and_equals_one_run_of_the_same_seed():
    design = AntitheticNoise(seed=3)
    sampler = ClosedFormSampler(design, seed=3)
    h = 0.01
    result = sequential_estimate(sampler, design, half_width=h, n0=12)
    # the pilot: samples 0 .. 23; the continuation starts where it ended, nothing is drawn twice
    assert sampler.calls == [(0, 24), (24, result.num_samples - 24)]
    pilot_means = sampler.values[:24].reshape(12, 2).mean(1)
    assert result.pilot_sd == pytest.approx(pilot_means.std(ddof=1))
    assert result.needed_groups == max(12, math.ceil((ci_quantile(0.95, 11) * result.pilot_sd / h) ** 2))
    assert result.num_groups == result.needed_groups
    # the estimate is the mean of all group means, as a single run of that size would give
    all_values = ClosedFormSampler(design, seed=3)(0, result.num_samples)
    assert result.estimate == pytest.approx(all_values.mean())
    assert result.final.num_samples == result.num_samples
    assert result.half_width == pytest.approx(result.quantile * result.pilot_sd / math.sqrt(result.num_groups))


def test_seed_addressed_designs_continue_exactly():
    design = KAntitheticNoise(k=4, seed=5)
    sampler_values = {}

    def sample_fn(start, count):
        z = design.initial_noise(range(start, start + count), (D,)).numpy().astype(np.float64)
        sampler_values[start] = z
        return statistic(z)

    result = sequential_estimate(sample_fn, design, half_width=0.02, n0=5)
    once = design.initial_noise(range(result.num_samples), (D,)).numpy().astype(np.float64)
    np.testing.assert_array_equal(np.concatenate([sampler_values[s] for s in sorted(sampler_values)]), once)


def test_a_binding_budget_is_reported_and_the_interval_is_wider():
    design = IIDNoise(seed=0)
    result = sequential_estimate(ClosedFormSampler(design, seed=0), design, half_width=1e-4, n0=10, max_samples=50)
    assert result.budget_binding and result.num_samples == 50 and result.needed_groups > 50
    assert result.half_width > result.requested_half_width
    free = sequential_estimate(ClosedFormSampler(design, seed=0), design, half_width=10.0, n0=10, max_samples=50)
    assert not free.budget_binding and free.num_groups == 10


def test_stein_num_groups_and_errors():
    assert stein_num_groups(1.0, 1.0, n0=10) == max(10, math.ceil(ci_quantile(0.95, 9) ** 2))
    assert stein_num_groups(2.0, 0.1, n0=10) == math.ceil((ci_quantile(0.95, 9) * 20) ** 2)
    design = AntitheticNoise(seed=0)
    sampler = ClosedFormSampler(design, seed=0)
    with pytest.raises(ValueError, match="n0 must be an integer >= 2"):
        sequential_estimate(sampler, design, half_width=0.1, n0=1)
    with pytest.raises(ValueError, match="max_samples=10 is smaller than the pilot"):
        sequential_estimate(sampler, design, half_width=0.1, n0=10, max_samples=10)
    with pytest.raises(ValueError, match="half_width must be positive"):
        sequential_estimate(sampler, design, half_width=0.0, n0=10)
    with pytest.raises(ValueError, match="must return 20 values"):
        sequential_estimate(lambda s, c: np.zeros(3), design, half_width=0.1, n0=10)
