"""Score-symmetry probes: AS score, slices, on-distribution probe, Theorem 1, trajectories, partial maps."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from antithetic.models import build_model, gaussian_mixture_model, gaussian_model
from antithetic.models.analytic import GaussianMixtureScore
from antithetic.noise import PartialAntitheticNoise
from antithetic.sampling import generate
from antithetic.symmetry import (
    antisymmetry_probe,
    as_distribution,
    as_score,
    break_level,
    gaussian_relative_fisher,
    mixture_fisher_upper_bound,
    mixture_score,
    model_score,
    ou_time,
    relative_fisher_information,
    sample_mixture,
    symmetric_grid,
)
from antithetic.trajectories import pixel_correlation_map, trajectory_correlations

GRID = symmetric_grid(201)


# ------------------------------------------------------------------------------------ AS score
def test_as_score_is_one_for_odd_plus_constant_functions():
    c = GRID
    funcs = np.stack([np.sin(3 * c) + 2.5, c**3 - 0.7, np.tanh(5 * c) + c, -4 * c + 1e3])
    assert np.allclose(as_score(funcs, GRID), 1.0, atol=1e-12)


def test_as_score_is_zero_for_even_functions():
    c = GRID
    funcs = np.stack([np.cos(2 * c), c**2 + 3.0, np.abs(c), np.exp(-4 * c**2) - 1])
    assert np.allclose(as_score(funcs, GRID), 0.0, atol=1e-12)


def test_as_score_of_a_mixed_function_matches_the_integral():
    # f = c + c^2 / 2: odd energy int c^2 = 2/3, even energy int (c^2 - 1/3)^2 / 4 = 2/45 -> AS = 1 - 1/16
    assert as_score(GRID + GRID**2 / 2, GRID) == pytest.approx(1 - 1 / 16, abs=1e-4)


def test_as_score_handles_axes_constants_and_bad_grids():
    f = np.stack([GRID, GRID**2])  # (2, G) -> along axis 1; transposed (G, 2) along axis 0
    assert np.allclose(as_score(f.T, GRID, axis=0), as_score(f, GRID))
    assert np.isnan(as_score(np.full(len(GRID), 3.0), GRID))
    with pytest.raises(ValueError, match="symmetric"):
        as_score(np.linspace(0, 1, 11), np.linspace(-1, 0.9, 11))


# ------------------------------------------------------------------------------------ models
@pytest.fixture(scope="module")
def affine():
    return gaussian_model(mean=0.2, std=0.5, sample_shape=(1, 4, 4))


@pytest.fixture(scope="module")
def mixture_model():
    gen = torch.Generator().manual_seed(0)
    means = 0.8 * torch.randn((4, 1, 4, 4), generator=gen, dtype=torch.float64)
    return gaussian_mixture_model(means=means, std=0.3)


def test_affine_model_is_exactly_affine_antisymmetric(affine):
    scores, examples = as_distribution(
        affine, timesteps=[999, 500, 50, 1], num_directions=3, grid_points=41, seed=0, examples=2, progress=False
    )
    assert len(scores) == 4 * 3 * 16 and set(examples) == {999, 500, 50, 1}
    assert np.allclose(scores["as_score"], 1.0, atol=1e-9)
    data = torch.full((64, 1, 4, 4), 0.2) + 0.5 * torch.randn((64, 1, 4, 4), generator=torch.Generator().manual_seed(1))
    probe = antisymmetry_probe(affine, data=data, timesteps=[900, 100, 5], seed=0, progress=False)
    assert np.allclose(probe["corr_mean"], -1.0, atol=1e-6) and np.allclose(probe["corr_max"], -1.0, atol=1e-6)
    assert np.all(probe["residual_median"] < 1e-5)


def test_mixture_score_is_not_affine_at_low_noise(mixture_model):
    scores, _ = as_distribution(mixture_model, timesteps=[999, 5], num_directions=8, grid_points=101, seed=0, progress=False)
    means = scores.groupby("t")["as_score"].mean()
    assert means[999] > 0.999  # Theorem 1: the score is close to -x at high noise
    assert means[5] < 0.99  # a mixture's eps is not affine antisymmetric near the data


def test_probe_correlation_weakens_towards_the_data_for_a_mixture(mixture_model):
    data = sample_mixture(mixture_model.mixture, 128, generator=torch.Generator().manual_seed(0)).float()
    probe = antisymmetry_probe(mixture_model, data=data, timesteps=[999, 10], seed=0, progress=False)
    high, low = probe.set_index("t").loc[999], probe.set_index("t").loc[10]
    assert high["corr_mean"] < -0.999
    assert low["corr_mean"] > high["corr_mean"] + 0.05
    assert low["residual_median"] > high["residual_median"]


def test_break_level_finds_the_first_failing_noise_level():
    summary = pd.DataFrame({"t": [999, 500, 100, 10], "sigma": [1.0, 0.7, 0.17, 0.03], "as_q10": [0.99, 0.95, 0.85, 0.95]})
    out = break_level(summary, column="as_q10", threshold=0.9)
    assert out["break_sigma"] == 0.17 and out["break_t"] == 100 and out["last_holding_sigma"] == 0.7
    assert break_level(summary, column="as_q10", threshold=0.5)["break_sigma"] is None


# ------------------------------------------------------------------------------------ Theorem 1
def test_ou_time_maps_the_vp_schedule():
    abar = np.array([1.0, 0.5, 1e-4])
    assert np.allclose(np.exp(-2 * ou_time(abar)), abar)


def test_fisher_of_the_gaussian_model_matches_its_closed_form(affine):
    x0 = 0.2 + 0.5 * torch.randn((4000, 1, 4, 4), generator=torch.Generator().manual_seed(2))
    ts = [0, 100, 400, 800]
    abars = affine.scheduler.alphas_cumprod.double().numpy()[ts]
    mc = relative_fisher_information(score=model_score(affine), x0=x0, abars=abars, seed=0)
    closed = gaussian_relative_fisher(mean=0.2, std=0.5, dim=16, tau=mc["tau"].to_numpy())
    assert np.all(np.abs(mc["fisher"] - closed) < 4 * mc["fisher_se"] + 1e-9)
    # tau = 0 (the data law itself) through the exact one-component mixture score
    exact = GaussianMixtureScore(torch.full((1, 1, 4, 4), 0.2, dtype=torch.float64), 0.5)
    zero = relative_fisher_information(score=mixture_score(exact), x0=x0, abars=[1.0], seed=0).iloc[0]
    i0 = 16 * (1 - 0.25) ** 2 / 0.25 + 16 * 0.04
    assert abs(zero["fisher"] - i0) < 4 * zero["fisher_se"]
    assert gaussian_relative_fisher(mean=0.2, std=0.5, dim=16, tau=0.0) == pytest.approx(i0)
    assert mixture_fisher_upper_bound(exact) == pytest.approx(i0)


def test_theorem1_bound_holds_on_the_mixture(mixture_model):
    gmm = mixture_model.mixture
    x0 = sample_mixture(gmm, 4000, generator=torch.Generator().manual_seed(3))
    abars = [1.0, 0.999, 0.99, 0.9, 0.6, 0.3, 0.05, 1e-3]
    curve = relative_fisher_information(score=mixture_score(gmm), x0=x0, abars=abars, seed=0)
    i0, i0_se = curve["fisher"].iloc[0], curve["fisher_se"].iloc[0]
    bound = np.exp(-2 * curve["tau"]) * i0
    assert np.all(curve["fisher"] <= bound + 4 * (curve["fisher_se"] + np.exp(-2 * curve["tau"]) * i0_se))
    assert np.all(np.diff(curve["fisher"]) < 0)  # decreasing along the OU flow
    assert i0 <= mixture_fisher_upper_bound(gmm) + 4 * i0_se  # convexity: finite and bounded
    assert curve["fisher"].iloc[-1] < 1e-2 * i0  # e^{-2 tau} decay


# ------------------------------------------------------------------------------------ trajectories
@pytest.mark.parametrize("sampler,options", [("ddim", {"num_steps": 6}), ("ddpm", {"num_steps": 6})])
def test_affine_model_trajectories_are_perfectly_anticorrelated(affine, sampler, options):
    frame = trajectory_correlations(affine, sampler=sampler, sampler_options=options, pairs=8, seed=0, progress=False)
    pn = frame[(frame["kind"] == "PN") & (frame["variant"] == "standard")]
    assert set(pn["quantity"]) == {"x", "eps"}
    assert len(pn[pn["quantity"] == "x"]) == 7 and len(pn[pn["quantity"] == "eps"]) == 6
    assert np.allclose(pn["mean"], -1.0, atol=1e-5)
    rr = frame[(frame["kind"] == "RR") & (frame["variant"] == "standard") & (frame["step"] == 0)]
    assert np.all(np.abs(rr["mean"]) < 0.5)


def test_pn_trajectories_start_at_minus_one_for_a_unet(tiny_unet_dir):
    from antithetic.models import load_unet_model

    net = load_unet_model(tiny_unet_dir, name="tiny")
    frame = trajectory_correlations(net, sampler="ddim", sampler_options={"num_steps": 3}, pairs=4, seed=0, progress=False)
    start = frame[(frame["step"] == 0) & (frame["kind"] == "PN") & (frame["quantity"] == "x") & (frame["variant"] == "standard")]
    assert start["mean"].iloc[0] == pytest.approx(-1.0, abs=1e-6)


# ------------------------------------------------------------------------------------ partial negation
def test_partial_negation_map_of_the_affine_model(affine):
    design = PartialAntitheticNoise(region="top_half", seed=0)
    samples = generate(affine, design=design, num_samples=40, sampler="ddim", sampler_options={"num_steps": 5}, progress=False)
    corr = pixel_correlation_map(samples.grouped())
    mask = design.mask(corr.shape).numpy()
    assert np.allclose(corr[mask], -1.0, atol=1e-5) and np.allclose(corr[~mask], 1.0, atol=1e-5)


def test_pixel_correlation_map_marks_constant_pixels():
    pairs = np.random.default_rng(0).normal(size=(20, 2, 1, 2, 2))
    pairs[:, :, 0, 0, 0] = -1.0
    corr = pixel_correlation_map(pairs)
    assert np.isnan(corr[0, 0, 0]) and np.isfinite(corr[0, 1:, :]).all()


def test_digits_mixture_model_builds_with_exact_mixture():
    model = build_model("g", {"kind": "gaussian_mixture", "means": "digits", "std": 0.3})
    assert math.isclose(model.mixture.std, 0.3) and model.mixture.means.shape == (10, 1, 8, 8)
