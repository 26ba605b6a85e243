"""Sample quality: Fréchet distance in classifier-feature space with bootstrap CIs, prdc scores."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from antithetic.classifier import DigitsClassifier, FeatureExtractor, digits_split
from antithetic.quality import (
    bootstrap_quality,
    evaluate_quality,
    frechet_distance,
    no_loss_verdict,
    prdc_scores,
    quality_sets,
)
from antithetic.workflow.tables import quality_table


@pytest.fixture(scope="module")
def extractor():
    torch.manual_seed(0)  # random convolutional features already separate the distributions used here
    return FeatureExtractor(DigitsClassifier(channels=(8, 16)))


@pytest.fixture(scope="module")
def digits():
    split = digits_split()
    gen = torch.Generator().manual_seed(0)
    train = split["train_images"][torch.randperm(len(split["train_images"]), generator=gen)]
    return split["test_images"], train


def test_frechet_distance_is_zero_for_identical_sets_and_grows_with_a_shift(extractor, digits):
    real, train = digits
    assert frechet_distance(real, real, extractor) == pytest.approx(0.0, abs=1e-4)
    near = frechet_distance(real, train[:400], extractor)
    far = frechet_distance(real, (train[:400] + 0.5 * torch.randn(400, 1, 8, 8, generator=torch.Generator().manual_seed(1))).clamp(-1, 1), extractor)
    assert 0 < near < far


def test_equal_laws_agree_and_a_degraded_set_is_flagged(extractor, digits):
    real, train = digits
    noisy = (train[800:1200] + 0.5 * torch.randn(400, 1, 8, 8, generator=torch.Generator().manual_seed(2))).clamp(-1, 1)
    sets = {"z": train[:400], "-z": train[400:800], "iid": noisy}
    rows = {r["set"]: r for r in bootstrap_quality(real, sets, extractor, num_bootstrap=60, seed=0)}
    for row in rows.values():
        assert row["ci_low"] <= row["frechet"] <= row["ci_high"]
    assert rows["-z"]["diff_ci_low"] <= 0 <= rows["-z"]["diff_ci_high"]  # two real halves: same law
    assert rows["iid"]["diff_ci_low"] > 0  # degraded set: clearly worse
    assert rows["z"]["diff"] == 0 and rows["z"]["diff_ci_low"] == rows["z"]["diff_ci_high"] == 0


def test_paired_sets_are_resampled_with_the_same_indices(extractor, digits):
    real, train = digits
    rows = {r["set"]: r for r in bootstrap_quality(real, {"z": train[:300], "-z": train[:300].clone()}, extractor, num_bootstrap=20)}
    # identical paired sets: every replicate difference is exactly 0
    assert rows["-z"]["diff_ci_low"] == pytest.approx(0, abs=1e-9) and rows["-z"]["diff_ci_high"] == pytest.approx(0, abs=1e-9)


def test_bootstrap_point_estimate_equals_the_image_path(extractor, digits):
    real, train = digits
    rows = bootstrap_quality(real, {"z": train[:300]}, extractor, num_bootstrap=3)
    assert rows[0]["frechet"] == pytest.approx(frechet_distance(real, train[:300], extractor))


def test_the_real_set_is_resampled_too(extractor, digits):
    # a generated set of one image repeated has no resampling variability of its own: the interval's
    # width comes from resampling the real digits alone, and must not vanish
    real, train = digits
    (row,) = bootstrap_quality(real, {"z": train[:1].repeat(200, 1, 1, 1)}, extractor, num_bootstrap=40, seed=0)
    assert row["ci_high"] - row["ci_low"] > 0.02 * row["frechet"]


class _Identity(nn.Module):
    """Feature "extractor" for data that are already features ``(N, d)``."""

    def __init__(self, num_features):
        super().__init__()
        self.num_features = num_features

    def forward(self, x):
        return x


def test_bootstrap_sd_matches_the_sd_over_independent_redraws():
    """Features from known Gaussians: real N(0, I), generated N(delta, 0.49 I) in 3 dimensions, 100 real and
    1000 generated rows. The mean shift makes the estimate close to normal, so the half-width of the 68.27%
    interval is its bootstrap SD. Reference: the SD of the estimate over 400 independent redraws of both sets
    (relative standard error 1/sqrt(2 * 399) = 3.5%). Bootstrap SD: the mean half-width over 8 independent data
    sets with 200 replicates each (the half-widths spread by about 13%, so the mean has about 5% standard
    error). The 20% tolerance is about 3 combined standard errors; the seeds are fixed. Most of the variance comes
    from the small real set: a bootstrap that kept it fixed gives about a fifth of the SD (0.049 against 0.231)."""
    extractor, delta = _Identity(3), torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64)

    def draw(gen):
        real = torch.randn(100, 3, generator=gen, dtype=torch.float64)
        return real, delta + 0.7 * torch.randn(1000, 3, generator=gen, dtype=torch.float64)

    gen = torch.Generator().manual_seed(0)
    redraw_sd = np.std([frechet_distance(*draw(gen), extractor) for _ in range(400)], ddof=1)
    half_widths = []
    for k in range(8):
        real, generated = draw(torch.Generator().manual_seed(1000 + k))
        (row,) = bootstrap_quality(real, {"z": generated}, extractor, num_bootstrap=200, level=math.erf(1 / math.sqrt(2)), seed=k)
        half_widths.append((row["ci_high"] - row["ci_low"]) / 2)
    assert np.mean(half_widths) == pytest.approx(redraw_sd, rel=0.2)


def test_quality_sets_take_the_independent_half_of_the_iid_samples():
    pn = np.arange(4 * 2 * 2).reshape(4, 2, 2).astype(np.float32)
    iid = np.arange(8 * 2).reshape(8, 2).astype(np.float32)
    sets = quality_sets(pn, iid)
    assert np.array_equal(sets["z"], pn[:, 0]) and np.array_equal(sets["-z"], pn[:, 1])
    assert np.array_equal(sets["iid"], iid[4:8])
    with pytest.raises(ValueError, match="2 x 4"):
        quality_sets(pn, iid[:7])


def test_prdc_scores_are_fractions_and_perfect_on_identical_sets(extractor, digits):
    real, train = digits
    same = prdc_scores(real, real, extractor, nearest_k=5)
    assert same["precision"] == 1.0 and same["recall"] == 1.0 and same["coverage"] == 1.0
    other = prdc_scores(real, train[:400], extractor, nearest_k=5)
    assert all(0 <= other[k] <= 1 for k in ("precision", "recall", "coverage"))
    with pytest.raises(ValueError, match="quality.nearest_k"):
        prdc_scores(real[:3], train[:3], extractor, nearest_k=5)


def test_table_and_verdict(extractor, digits):
    real, train = digits
    frame = evaluate_quality(real=real, sets={"z": train[:300], "-z": train[300:600], "iid": train[600:900]},
                             extractor=extractor, num_bootstrap=30, nearest_k=3)
    frame.insert(0, "model", "m")
    frame.insert(1, "sampler", "s")
    verdict = no_loss_verdict(frame)
    assert set(verdict) == {"-z", "iid", "agree", "reference"}
    numeric, formatted = quality_table(frame)
    assert len(formatted) == 3 and "Fréchet distance (classifier features) [CI]" in formatted
