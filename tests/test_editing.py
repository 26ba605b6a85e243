"""Antithetic SDEdit: exact identities on the affine model, win rates with binomial CIs."""

import numpy as np
import pandas as pd
import pytest
import torch

from antithetic.classifier import DigitsClassifier, FeatureExtractor, digits_split
from antithetic.editing import EDIT_MEASURES, edit_measures, editing_experiment, sdedit, win_rates
from antithetic.models.analytic import gaussian_model
from antithetic.noise import AntitheticNoise, IIDNoise
from antithetic.samplers import Start, sample_ddim
from antithetic.workflow.config import ConfigError
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


def test_an_edit_is_the_ddim_sampler_started_at_t0_from_the_noised_source(sources):
    model = gaussian_model(mean=0.0, std=0.5)
    z = AntitheticNoise(seed=0).initial_noise(range(8), SHAPE)
    edits, start = sdedit(model, sources[:8], z, t0=437, num_steps=20)
    assert start == 400  # the 20-step grid of 1000 timesteps: ..., 450, 400, ...; the largest <= 437
    assert torch.equal(edits, sample_ddim(model, z, num_steps=20, start=Start(437, sources[:8])))


def test_a_t0_below_the_grid_names_the_argument_and_the_app_names_the_config_key(tmp_path, monkeypatch):
    from diffusers import DDPMScheduler

    from antithetic.workflow.jobs import sampling
    from antithetic.workflow.jobs.editing import run_editing

    # "trailing" spacing: the 10-step grid is 999, 899, ..., 99
    scheduler = DDPMScheduler(beta_schedule="squaredcos_cap_v2", clip_sample=False, timestep_spacing="trailing")
    model = gaussian_model(mean=0.0, std=0.5, scheduler=scheduler)
    z = torch.zeros(2, *SHAPE)
    with pytest.raises(ValueError, match=r"t0 = 50: a start at t=50 lies below every timestep .*the lowest is 99") as info:
        sdedit(model, torch.zeros(2, *SHAPE), z, t0=50, num_steps=10)
    assert not isinstance(info.value, ConfigError)  # the library knows no config key
    monkeypatch.setattr(sampling, "load_model", lambda *args, **kwargs: model)
    settings = {"sources": 4, "t0": [400, 50], "num_steps": 10, "seed": 0, "level": 0.95, "ssim_kernel_size": 3, "ssim_sigma": 0.5}
    with pytest.raises(ConfigError, match=r"config key 'editing.t0': t0 = 50 does not reach the 10-step DDIM grid of model "
                                          r"'g' \(.*\); raise t0 or editing.num_steps"):
        run_editing(model="g", model_spec={"kind": "gaussian"}, classifier_dir=tmp_path / "unused", settings=settings,
                    out_csv=tmp_path / "m.csv", out_summary=tmp_path / "s.json", device="cpu")


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
    designs = dict(pn_design=AntitheticNoise(seed=0), rr_design=IIDNoise(seed=1))
    frame, rows = editing_experiment(model, sources, extractor=extractor, t0_values=[400, 700], num_steps=20, **designs)
    assert len(frame) == 2 * 2 * len(sources)
    by = {(r["t0"], r["measure"]): r for r in rows}
    for t0 in (400, 700):
        assert by[(t0, "diversity_ssim")]["ci_low"] > 0.5  # (z, -z) edits differ more than independent ones
        assert by[(t0, "diversity_ssim")]["n"] == len(sources)
    table = pd.DataFrame([{"model": "gaussian", **r} for r in rows])
    numeric, formatted = editing_table(table)
    assert "PN win rate [CI]" in formatted and len(formatted) == 2 * len(EDIT_MEASURES)


def test_edit_pairs_come_from_the_designs_whatever_the_batch_size(sources, extractor):
    model = gaussian_model(mean=0.0, std=0.5)
    kwargs = dict(extractor=extractor, t0_values=[300], num_steps=10, pn_design=AntitheticNoise(seed=3), rr_design=IIDNoise(seed=4))
    whole, rows = editing_experiment(model, sources[:6], **kwargs)
    batched, rows_batched = editing_experiment(model, sources[:6], batch_size=4, **kwargs)
    pd.testing.assert_frame_equal(whole, batched)
    assert rows == rows_batched
    # PN pair s is the antithetic design's pair s, edited from source s
    z = AntitheticNoise(seed=3).initial_noise(range(12), SHAPE)
    edits, _ = sdedit(model, sources[:6].repeat_interleave(2, dim=0), z, t0=300, num_steps=10)
    expected = edit_measures(sources[:6], edits.reshape(6, 2, *SHAPE), extractor=extractor)
    pn = whole[whole["kind"] == "PN"].drop(columns=["kind", "t0", "start_t"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(pn, expected)
    with pytest.raises(ValueError, match="pn_design must couple samples in pairs"):
        editing_experiment(model, sources[:6], **{**kwargs, "pn_design": IIDNoise(seed=3)})
    with pytest.raises(ValueError, match="rr_design must draw independent samples"):
        editing_experiment(model, sources[:6], **{**kwargs, "rr_design": AntitheticNoise(seed=4)})
