"""Diversity measures of pairs (Table 4): SSIM, classifier-feature distance, LPIPS offline, improvement CI."""

import numpy as np
import pandas as pd
import pytest
import torch

from antithetic.classifier import DigitsClassifier, FeatureExtractor, digits_split
from antithetic.diversity import (
    LPIPSWeightsMissingError,
    diversity_summary,
    feature_distance,
    improvement,
    lpips_distance,
    pair_measures,
    ssim,
)
from antithetic.workflow.config import ConfigError
from antithetic.workflow.jobs.diversity import measure_pairs
from antithetic.workflow.tables import diversity_table


@pytest.fixture(scope="module")
def extractor():
    torch.manual_seed(0)
    return FeatureExtractor(DigitsClassifier(channels=(8, 16)))


@pytest.fixture(scope="module")
def digits():
    return digits_split()["test_images"][:40]


def test_ssim_is_one_for_equal_images_and_negative_for_negated_ones(digits):
    assert ssim(digits, digits) == pytest.approx(1.0, abs=1e-5)
    # on intensities, -x is the photographic negative: anti-similar structure, SSIM < 0
    assert (ssim(digits, -digits) < 0).all()
    other = ssim(digits[:20], digits[20:])
    assert ((other > -1) & (other < 1)).all()
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        ssim(digits, digits, kernel_size=4)


def test_feature_distance_is_a_bounded_symmetric_distance(digits, extractor):
    assert feature_distance(digits, digits, extractor) == pytest.approx(0.0, abs=1e-6)
    d = feature_distance(digits[:20], digits[20:], extractor)
    assert np.allclose(d, feature_distance(digits[20:], digits[:20], extractor))
    assert ((d >= 0) & (d <= 2)).all() and d.max() > 0


def test_improvement_has_the_closed_form_value_and_sign_convention():
    pn, rr = np.full(50, 0.2), np.full(60, 0.5)
    similarity = improvement(pn, rr, higher_is_diverse=False, num_bootstrap=200)
    assert similarity["improvement_pct"] == pytest.approx(60.0)  # (0.5 - 0.2) / 0.5
    assert similarity["ci_low"] == pytest.approx(60.0) and similarity["ci_high"] == pytest.approx(60.0)
    assert similarity["difference"] == pytest.approx(-0.3) and similarity["difference_ci_low"] == pytest.approx(-0.3)
    distance = improvement(rr, pn, higher_is_diverse=True, num_bootstrap=200)
    assert distance["improvement_pct"] == pytest.approx(150.0)  # (0.5 - 0.2) / 0.2


def test_improvement_ci_covers_the_true_ratio_at_about_the_nominal_rate():
    rng = np.random.default_rng(0)
    covered = []
    for rep in range(60):
        pn, rr = rng.normal(1.2, 0.3, 200), rng.normal(1.0, 0.3, 200)
        est = improvement(pn, rr, higher_is_diverse=True, num_bootstrap=400, seed=rep)
        covered.append(est["ci_low"] <= 20.0 <= est["ci_high"])
    assert 0.85 <= np.mean(covered) <= 1.0


def test_pair_measures_and_table(digits, extractor):
    pairs = torch.stack([digits[:20], digits[20:]], dim=1)
    frame = pair_measures(pairs, extractor=extractor)
    assert list(frame.columns) == ["pair", "ssim", "feature_distance"] and len(frame) == 20
    frame_pn = pair_measures(torch.stack([digits[:20], -digits[:20]], dim=1), extractor=extractor)
    both = pd.concat([frame_pn.assign(kind="PN"), frame.assign(kind="RR")])
    rows = diversity_summary(both, num_bootstrap=100, level=0.95, seed=0)
    assert [r["measure"] for r in rows] == ["ssim", "feature_distance"]
    assert rows[0]["improvement_pct"] > 0  # negated images are less similar than two digits
    table = pd.DataFrame([{"model": "m", "sampler": "s", **r} for r in rows])
    numeric, formatted = diversity_table(table)
    assert "improvement % [CI]" in formatted and len(formatted) == 2
    with pytest.raises(ValueError, match=r"perceptual names \['dreamsim'\]"):
        pair_measures(pairs, extractor=extractor, perceptual=("dreamsim",))


def test_lpips_without_cached_weights_stops_naming_the_key(tmp_path, digits):
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path))
    settings = {"ssim_kernel_size": 3, "ssim_sigma": 0.5, "perceptual": ["lpips"], "lpips_size": 64}
    pairs = torch.stack([digits[:2], digits[2:4]], dim=1)
    try:
        with pytest.raises(LPIPSWeightsMissingError, match="AlexNet backbone weights"):
            lpips_distance(digits[:2], digits[2:4])
        with pytest.raises(ConfigError, match=r"config key 'diversity.perceptual' asks for lpips.*diversity.perceptual: \[\] \(SSIM only"):
            measure_pairs(pairs, extractor=None, settings=settings)
        with pytest.raises(ConfigError, match="config key 'diversity': kernel_size must be odd"):
            measure_pairs(pairs, extractor=None, settings={**settings, "ssim_kernel_size": 4, "perceptual": []})
    finally:
        torch.hub.set_dir(old)


def test_lpips_runs_from_cached_weights_without_network(tmp_path, digits):
    from torchvision.models import alexnet

    from antithetic.diversity import lpips_weights_path

    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path))
    try:
        path = lpips_weights_path()
        path.parent.mkdir(parents=True)
        torch.manual_seed(0)
        torch.save(alexnet().state_dict(), path)  # stands in for the ImageNet weights
        d = lpips_distance(digits[:4], digits[4:8])
        assert d.shape == (4,) and (d > 0).all()
        assert lpips_distance(digits[:4], digits[:4]) == pytest.approx(0.0, abs=1e-6)
        # RGB images of a pretrained model (paper-scale config): SSIM and LPIPS, no digits classifier
        rgb = torch.rand(6, 2, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
        frame = pair_measures(rgb, perceptual=("lpips",), kernel_size=11, sigma=1.5, lpips_size=32)
        assert list(frame.columns) == ["pair", "ssim", "lpips"] and frame["lpips"].gt(0).all()
        with pytest.raises(ValueError, match="classifier"):
            pair_measures(rgb, perceptual=("classifier",))
    finally:
        torch.hub.set_dir(old)


def test_diversity_job_scores_pairs_in_chunks(tmp_path, digits):
    """Chunks of 3 pairs (not dividing 20) give every pair's measures, numbered as in one call."""
    from antithetic.artifacts import save_samples
    from antithetic.sample_set import SampleSet
    from antithetic.workflow.jobs.diversity import pair_chunk, run_diversity

    x = digits.numpy()
    n = len(x)
    pn = SampleSet(samples=x, indices=np.arange(n), groups=np.arange(n) // 2, members=np.arange(n) % 2,
                   design={"name": "antithetic", "seed": 0, "group_size": 2}, sampler={})
    rr = SampleSet(samples=x[::-1].copy(), indices=np.arange(n), groups=np.arange(n), members=np.zeros(n, int),
                   design={"name": "iid", "seed": 0, "group_size": 1}, sampler={})
    save_samples(tmp_path / "pn.npz", pn)
    save_samples(tmp_path / "rr.npz", rr)
    settings = {"ssim_kernel_size": 3, "ssim_sigma": 0.5, "perceptual": [], "lpips_size": 64, "bootstrap": 50, "level": 0.95, "seed": 0}
    frames = {}
    for label, pixels in (("whole", 2**22), ("chunks", 3 * 2 * x[0].size)):
        assert pair_chunk(2 * x[0].size, pixels=pixels) == (3 if label == "chunks" else 2**22 // (2 * x[0].size))
        run_diversity(pn_path=tmp_path / "pn.npz", rr_path=tmp_path / "rr.npz", classifier_dir=None, settings=settings,
                      labels={"model": "m", "sampler": "s"}, out_pairs=tmp_path / f"{label}.csv", out_summary=tmp_path / f"{label}.json",
                      pixels_per_chunk=pixels)
        frames[label] = pd.read_csv(tmp_path / f"{label}.csv")
    assert list(frames["chunks"]["pair"]) == list(range(20)) * 2
    pd.testing.assert_frame_equal(frames["chunks"], frames["whole"], rtol=1e-6)
    expected = pair_measures(torch.from_numpy(x).reshape(20, 2, *x.shape[1:]), perceptual=())["ssim"]
    np.testing.assert_allclose(frames["chunks"]["ssim"][:20], expected, rtol=1e-5)  # the CSV keeps 6 digits
