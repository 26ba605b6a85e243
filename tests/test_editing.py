"""Antithetic SDEdit: exact identities on the affine model, win rates with binomial CIs."""

import numpy as np
import pandas as pd
import pytest
import torch

from antithetic.classifier import DigitsClassifier, FeatureExtractor, digits_split
from antithetic.editing import EDIT_MEASURES, editing_experiment, sdedit, win_rates
from antithetic.models.analytic import gaussian_model
from antithetic.workflow.tables import editing_table

SHAPE = (1, 8, 8)


@pytest.fixture(scope="module")
def extractor():
    torch.manual_seed(0)
    return FeatureExtractor(DigitsClassifier(channels=(8, 16)))


@pytest.fixture(scope="module")
def sources():
    return digits_split()["test_images"][:40]


def test_affine_model_edits_of_z_and_minus_z_average_to_the_noiseless_edit(sources):
    # the Gaussian model's DDIM map is affine in its input, so edit(z) + edit(-z) = 2 edit(0)
    model = gaussian_model(mean=0.0, std=0.5)
    z = torch.randn(len(sources), *SHAPE, generator=torch.Generator().manual_seed(0))
    plus, start = sdedit(model, sources, z, t0=500, num_steps=20)
    minus, _ = sdedit(model, sources, -z, t0=500, num_steps=20)
    zero, _ = sdedit(model, sources, torch.zeros_like(z), t0=500, num_steps=20)
    assert torch.allclose(plus + minus, 2 * zero, atol=1e-5)
    assert start <= 500


def test_low_noise_edits_stay_closer_to_the_source(sources):
    model = gaussian_model(mean=0.0, std=0.5)
    z = torch.randn(len(sources), *SHAPE, generator=torch.Generator().manual_seed(1))
    low, _ = sdedit(model, sources, z, t0=30, num_steps=50)
    high, _ = sdedit(model, sources, z, t0=900, num_steps=50)
    assert (low - sources).abs().mean() < (high - sources).abs().mean()


def test_win_rates_count_wins_leave_out_ties_and_give_exact_binomial_cis():
    pn = pd.DataFrame({"source": range(10), **{m: np.arange(10.0) for m in EDIT_MEASURES}})
    rr = pn.copy()
    rr["diversity_ssim"] = np.r_[np.full(8, 100.0), np.arange(8, 10.0)]  # PN lower in 8, tied in 2
    rows = {r["measure"]: r for r in win_rates(pn, rr)}
    ssim_row = rows["diversity_ssim"]
    assert (ssim_row["wins"], ssim_row["ties"], ssim_row["n"], ssim_row["win_rate"]) == (8, 2, 8, 1.0)
    assert ssim_row["ci_low"] == pytest.approx(0.025 ** (1 / 8), rel=1e-6)  # Clopper-Pearson with 8 of 8 wins
    assert np.isnan(rows["faithfulness_l2"]["win_rate"])  # all tied
    with pytest.raises(ValueError, match="same sources"):
        win_rates(pn, rr.iloc[::-1])


def test_pn_edit_pairs_are_more_diverse_on_the_affine_model(sources, extractor):
    model = gaussian_model(mean=0.0, std=0.5)
    frame, rows = editing_experiment(model, sources, extractor=extractor, t0_values=[400, 700], num_steps=20, seed=0)
    assert len(frame) == 2 * 2 * len(sources)
    by = {(r["t0"], r["measure"]): r for r in rows}
    for t0 in (400, 700):
        assert by[(t0, "diversity_ssim")]["ci_low"] > 0.5  # (z, -z) edits differ more than independent ones
        assert by[(t0, "diversity_ssim")]["n"] == len(sources)
    table = pd.DataFrame([{"model": "gaussian", **r} for r in rows])
    numeric, formatted = editing_table(table)
    assert "PN win rate [CI]" in formatted and len(formatted) == 2 * len(EDIT_MEASURES)
