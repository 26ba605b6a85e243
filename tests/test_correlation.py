import numpy as np
import pandas as pd
import pytest

from antithetic.correlation import correlation_frame, pair_correlations, rr_pairs, summarize
from antithetic.sampling import SampleSet


def _sample_set(samples, design, group_size):
    n = len(samples)
    idx = np.arange(n)
    return SampleSet(samples=samples, indices=idx, groups=idx // group_size, members=idx % group_size,
                     design={"name": design, "seed": 0, "group_size": group_size}, sampler={"kind": "ddim"})


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
    frame = correlation_frame(_sample_set(pn, "antithetic", 2), _sample_set(rr, "iid", 1))
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
