import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from antithetic.correlation import correlation_frame, pair_correlations, rr_pairs, shared_noise, summarize
from antithetic.generate import SampleSet, generate
from antithetic.models import GeneratorModel
from antithetic.noise import AntitheticNoise, IIDNoise


def _sample_set(samples, design, group_size, seed=0):
    n = len(samples)
    idx = np.arange(n)
    return SampleSet(samples=samples, indices=idx, groups=idx // group_size, members=idx % group_size,
                     design={"name": design, "seed": seed, "group_size": group_size}, sampler={"kind": "ddim"})


def test_pair_correlations_against_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 1, 3, 3)), rng.normal(size=(5, 1, 3, 3))
    expected = [np.corrcoef(a[i].ravel(), b[i].ravel())[0, 1] for i in range(5)]
    np.testing.assert_allclose(pair_correlations(a, b), expected, rtol=1e-12)
    np.testing.assert_allclose(pair_correlations(a, -a + 3.0), -1.0)
    assert np.isnan(pair_correlations(np.ones((1, 4)), a[:1].reshape(1, -1)[:, :4]))[0]


def test_centering_removes_the_shared_layout():
    # Every sample = a strong common image + small independent noise: raw RR correlation is high,
    # centered RR correlation is about zero, and PN (layout + e, layout - e) centered is -1.
    rng = np.random.default_rng(1)
    layout = rng.normal(size=(1, 8, 8)) * 3
    e = rng.normal(size=(200, 1, 8, 8))
    pn = np.stack([layout + e, layout - e], 1).reshape(-1, 1, 8, 8)
    rr = layout + rng.normal(size=(400, 1, 8, 8))
    frame = correlation_frame(_sample_set(pn, "antithetic", 2), _sample_set(rr, "iid", 1, seed=1))
    stats = summarize(frame)
    assert stats["rr_standard_mean"] > 0.8
    assert abs(stats["rr_centered_mean"]) < 0.05
    assert stats["pn_centered_mean"] < -0.95
    assert stats["pn_pairs"] == stats["rr_pairs"] == 200
    assert isinstance(frame, pd.DataFrame) and set(frame["kind"]) == {"PN", "RR"}


def test_pairs_require_matching_designs():
    x = np.zeros((4, 1, 2, 2))
    with pytest.raises(ValueError, match="iid"):
        rr_pairs(_sample_set(x, "antithetic", 2))
    with pytest.raises(ValueError, match="groups of 2"):
        correlation_frame(_sample_set(x, "iid", 1), _sample_set(x, "iid", 1))


def _toy_generator():
    """x = layout + tanh(z) + 0.3 z^2 per pixel: samples of independent noises are independent, so an
    RR pair's correlation around the true mean image is 0 on average."""
    layout = torch.linspace(-1, 1, 4 * 64 * 64).view(4, 64, 64)
    return GeneratorModel(decode=lambda z: layout + torch.tanh(z) + 0.3 * z**2, sample_shape=(4, 64, 64),
                          image_shape=(4, 64, 64), name="toy", info={"kind": "test"})


def test_centered_rr_correlation_is_unbiased_with_disjoint_noise():
    """RR pairs of independent samples have centred correlation 0. With 10 PN and 10 RR pairs the
    in-sample mean image biased it by -0.030 (55 standard errors), one shared leave-pair-out mean by
    +0.021; with the split-half leave-pair-out means it is 0 within its standard error (20 seeds x 10 pairs).
    The RR design is offset so that it shares no noise with the PN pairs."""
    model, pairs = _toy_generator(), 10
    rr_centered = []
    for seed in range(20):
        pn = generate(model, design=AntitheticNoise(seed=seed), num_samples=2 * pairs, sampler="decode", progress=False)
        rr = generate(model, design=IIDNoise(seed=seed, offset=2 * pairs), num_samples=2 * pairs, sampler="decode", progress=False)
        assert shared_noise(pn, rr) == 0
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            frame = correlation_frame(pn, rr)
        rr_centered.append(frame.loc[frame["kind"] == "RR", "centered"].to_numpy())
    values = np.concatenate(rr_centered)
    se = values.std(ddof=1) / math.sqrt(len(values))
    assert se < 1e-3 and abs(values.mean()) < 3 * se


def test_rr_pairs_sharing_pn_noise_are_flagged():
    model = _toy_generator()
    pn = generate(model, design=AntitheticNoise(seed=0), num_samples=12, sampler="decode", progress=False)
    rr = generate(model, design=IIDNoise(seed=0), num_samples=12, sampler="decode", progress=False)
    # the positive member of PN pair g is iid sample g of the same seed
    np.testing.assert_array_equal(pn.grouped()[:, 0], rr.samples[:6])
    assert shared_noise(pn, rr) == 6
    with pytest.warns(UserWarning, match="offset"):
        correlation_frame(pn, rr)


def test_centered_correlations_ignore_an_image_added_to_every_sample():
    # centring subtracts a mean image from each member, so a fixed image added to every sample
    # (a change of the shared layout) must cancel exactly, member by member
    rng = np.random.default_rng(2)
    pn = rng.normal(size=(24, 1, 4, 4))
    rr = rng.normal(size=(24, 1, 4, 4))
    shift = 5.0 * rng.normal(size=(1, 4, 4))  # non-constant: Pearson alone would not remove it
    before = correlation_frame(_sample_set(pn, "antithetic", 2), _sample_set(rr, "iid", 1, seed=1))
    after = correlation_frame(_sample_set(pn + shift, "antithetic", 2), _sample_set(rr + shift, "iid", 1, seed=1))
    np.testing.assert_allclose(after["centered"], before["centered"], rtol=0, atol=1e-10)
    assert not np.allclose(after["standard"], before["standard"], atol=1e-3)  # the shift is not a no-op


def test_centered_pn_correlation_of_an_affine_generator_is_minus_one():
    # x = m + A z, twin m - A z, on a non-constant mean image m. PN pairs sum to 2m; the RR noise is
    # sign-balanced within each half of the centering split (RR pair g + 2, same half as pair g, has
    # the negated noise of pair g), so both centering means equal m to rounding and the centred PN
    # members are exactly A z and -A z: correlation -1.
    rng = np.random.default_rng(3)
    d, pn_pairs, rr_pairs = 16, 10, 8
    m = 4.0 * np.cos(np.linspace(0.0, 3.0, d))  # varies as much as A z
    a = rng.normal(size=(d, d))
    z = rng.normal(size=(pn_pairs, d))
    pn = np.stack([m + z @ a.T, m - z @ a.T], 1).reshape(-1, 1, 4, 4)
    w = rng.normal(size=(rr_pairs, 2, d))
    w[2::4], w[3::4] = -w[0::4], -w[1::4]
    rr = (m + w @ a.T).reshape(-1, 1, 4, 4)
    frame = correlation_frame(_sample_set(pn, "antithetic", 2), _sample_set(rr, "iid", 1, seed=1))
    centered = frame.loc[frame["kind"] == "PN", "centered"].to_numpy()
    np.testing.assert_allclose(centered, -1.0, rtol=0, atol=1e-6)


@pytest.mark.parametrize("shuffled", [False, True])
def test_iter_pairs_streams_the_pairs_of_a_file_in_pair_order(tmp_path, shuffled):
    """Chunks of any size concatenate to pn_pairs / rr_pairs of the whole file, in order or not, odd iid count too."""
    from antithetic.artifacts import load_samples, save_samples
    from antithetic.correlation import iter_pairs, pn_pairs

    rng = np.random.default_rng(3)
    for name, design, n in (("pn", AntitheticNoise(seed=1), 14), ("rr", IIDNoise(seed=2), 13)):
        x = rng.normal(size=(n, 1, 3, 2)).astype(np.float32)
        indices = np.arange(n)
        addresses = design.describe()
        groups, members = (indices // 2, indices % 2) if name == "pn" else (indices, np.zeros(n, dtype=int))
        order = rng.permutation(n) if shuffled else np.arange(n)
        samples = SampleSet(samples=x[order], indices=indices[order], groups=groups[order], members=members[order],
                            design=addresses, sampler={"kind": "ddim"})
        save_samples(tmp_path / f"{name}.npz", samples)
        whole = pn_pairs(load_samples(tmp_path / f"{name}.npz")) if name == "pn" else rr_pairs(load_samples(tmp_path / f"{name}.npz"))
        assert whole.shape == (n // 2, 2, 1, 3, 2)
        for per_chunk in (1, 3, 100):
            chunks = list(iter_pairs(tmp_path / f"{name}.npz", name.upper(), pairs_per_chunk=per_chunk))
            assert max(len(c) for c in chunks) <= per_chunk
            np.testing.assert_array_equal(np.concatenate(chunks), whole)
            np.testing.assert_array_equal(whole[0], x[:2])  # pair 0 is samples 0 and 1 of the design
    with pytest.raises(ValueError, match="RR pairs need the iid design"):
        next(iter_pairs(tmp_path / "pn.npz", "RR", pairs_per_chunk=2))
