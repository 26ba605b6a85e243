"""Score-symmetry probes: AS score, slices, on-distribution probe, Theorem 1, trajectories, partial maps."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from antithetic.generate import generate
from antithetic.models import build_model, gaussian_mixture_model, gaussian_model
from antithetic.models.analytic import GaussianMixtureScore, default_schedule
from antithetic.models.base import DiffusionModel
from antithetic.noise import AntitheticNoise, IIDNoise, PartialAntitheticNoise
from antithetic.symmetry import (
    antisymmetry_probe,
    as_distribution,
    as_score,
    break_level,
    corollary1_check,
    gaussian_relative_fisher,
    mixture_fisher_upper_bound,
    mixture_score,
    model_score,
    ou_time,
    reference_data,
    relative_fisher_information,
    sample_mixture,
    summarize_as,
    symmetric_grid,
    theorem1_bound,
    theorem1_curve,
    theorem1_holds,
)
from antithetic.trajectories import leave_pair_out_mean, pixel_correlation_map, trajectory_correlations
from antithetic.workflow.config import ConfigError, check_references

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


def _trapezoid(g, c):
    return sum((c[i + 1] - c[i]) * (g[i] + g[i + 1]) / 2 for i in range(len(c) - 1))


def _as_by_hand(f, c, *, weighted=True):
    fbar = _trapezoid(f, c) / (c[-1] - c[0]) if weighted else f.mean()
    even = (f + f[::-1]) / 2 - fbar
    return 1 - _trapezoid(even**2, c) / _trapezoid((f - fbar) ** 2, c)


def test_as_score_against_the_trapezoidal_rule_by_hand():
    # 11 points: the end points weigh half as much as the others, so for f large at the ends the trapezoidal
    # mean of f and the plain mean of its values differ clearly, and so do the AS scores built on them
    c = symmetric_grid(11)
    assert np.allclose(c, np.linspace(-1, 1, 11), atol=1e-15)
    ends = np.abs(c) == 1
    funcs = [c + 3.0 * ends, np.exp(3 * c) + c**2, np.array([4.0, 0.1, -0.3, 0.2, 0.5, 0.0, -0.2, 0.7, 0.3, 1.1, 6.0])]
    for f in funcs:
        assert abs(_trapezoid(f, c) / 2 - f.mean()) > 0.2
        expected = _as_by_hand(f, c)
        assert abs(_as_by_hand(f, c, weighted=False) - expected) > 0.005  # > 1e9 times the tolerance below
        assert as_score(f, c) == pytest.approx(expected, abs=1e-12)
    np.testing.assert_allclose(as_score(np.stack(funcs), c), [_as_by_hand(f, c) for f in funcs], rtol=0, atol=1e-12)
    # on paper, for c + 3 [|c| = 1] (weights 0.1 at the ends, 0.2 inside): mean 0.3, odd energy sum w c^2 = 0.68,
    # even energy 2 * 0.1 * 2.7^2 + 9 * 0.2 * 0.3^2 = 1.62, so AS = 0.68 / 2.30
    assert as_score(funcs[0], c) == pytest.approx(0.68 / 2.30, abs=1e-12)


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
DESIGNS = {"pn_design": AntitheticNoise(seed=0), "rr_design": IIDNoise(seed=0)}


@pytest.mark.parametrize("sampler,options", [("ddim", {"num_steps": 6}), ("ddpm", {"num_steps": 6})])
def test_affine_model_trajectories_are_perfectly_anticorrelated(affine, sampler, options):
    frame = trajectory_correlations(affine, sampler=sampler, sampler_options=options, pairs=8, progress=False, **DESIGNS)
    pn = frame[(frame["kind"] == "PN") & (frame["variant"] == "standard")]
    assert set(pn["quantity"]) == {"x", "eps"}
    assert len(pn[pn["quantity"] == "x"]) == 7 and len(pn[pn["quantity"] == "eps"]) == 6
    assert np.allclose(pn["mean"], -1.0, atol=1e-5)
    rr = frame[(frame["kind"] == "RR") & (frame["variant"] == "standard") & (frame["step"] == 0)]
    assert np.all(np.abs(rr["mean"]) < 0.5)


def _full_tensor_trajectories(model, *, sampler, options, pairs, batch_size):
    """The per-step correlations from every step's full tensors (the way they were computed before streaming)."""
    from antithetic.correlation import pair_correlations
    from antithetic.trajectories import record_trajectories

    runs = {kind: record_trajectories(model, design=DESIGNS[key], num_samples=2 * pairs, sampler=sampler, sampler_options=options,
                                      batch_size=batch_size, progress=False)
            for kind, key in (("PN", "pn_design"), ("RR", "rr_design"))}
    rows = []

    def add(step, t, quantity, kind, v):
        for variant, shift in (("standard", 0.0), ("centered", leave_pair_out_mean(v))):
            r = pair_correlations(v[0::2] - shift, v[1::2] - shift)
            rows.append({"step": step, "t": t, "quantity": quantity, "kind": kind, "variant": variant,
                         "mean": float(np.nanmean(r)), "sd": float(np.nanstd(r, ddof=1)), "pairs": int(np.isfinite(r).sum())})

    ts = runs["PN"]["t"]
    for quantity in ("x", "eps"):
        if runs["PN"][quantity] is None:
            continue
        for step in range(len(ts)):
            for kind in ("PN", "RR"):
                add(step, int(ts[step]), quantity, kind, runs[kind][quantity][step])
        if quantity == "x":
            for kind in ("PN", "RR"):
                add(len(ts), -1, "x", kind, runs[kind]["output"])
    return pd.DataFrame(rows)


@pytest.mark.parametrize("sampler,options", [("ddim", {"num_steps": 4}), ("ddpm", {"num_steps": 3})])
def test_streamed_trajectory_correlations_equal_the_full_tensor_ones(mixture_model, sampler, options):
    """Per-step sums over pairs (batches of 2 and 3 pairs, 7 pairs) give the full-tensor numbers bit for bit."""
    reference = _full_tensor_trajectories(mixture_model, sampler=sampler, options=options, pairs=7, batch_size=14)
    for batch_size in (4, 7):  # 7 is rounded down to whole pairs
        frame = trajectory_correlations(mixture_model, sampler=sampler, sampler_options=options, pairs=7, batch_size=batch_size,
                                        progress=False, **DESIGNS)
        pd.testing.assert_frame_equal(frame, reference, check_exact=True)


def test_pn_trajectories_start_at_minus_one_for_a_unet(tiny_unet_dir):
    from antithetic.models import load_unet_model

    net = load_unet_model(tiny_unet_dir, name="tiny")
    frame = trajectory_correlations(net, sampler="ddim", sampler_options={"num_steps": 3}, pairs=4, progress=False, **DESIGNS)
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


# ------------------------------------------------------------------------------------ Lemma 1 needs a symmetric law
def _half_space_model(shape=(1, 2, 2)):
    """eps(x) = x where x_1 > 0 and x / 2 elsewhere: not affine antisymmetric (eps(x) + eps(-x) = x / 2 there)."""

    def eps(x, t, cond=None):
        first = x.reshape(len(x), -1)[:, :1].reshape(-1, *([1] * (x.ndim - 1)))
        return torch.where(first > 0, x, 0.5 * x)

    return DiffusionModel(eps=eps, scheduler=default_schedule(), sample_shape=shape, name="half-space")


def test_probe_correlation_is_not_fooled_by_a_one_sided_sample():
    model = _half_space_model()
    data = 3.0 + 0.3 * torch.randn((200, 1, 2, 2), generator=torch.Generator().manual_seed(0))
    probe = antisymmetry_probe(model, data=data, timesteps=[1, 3], seed=0, progress=False).set_index("t")
    # at t <= 3, x_t ~ x_0 sits in the half-space x_1 > 0, where eps(x) + eps(-x) = x / 2 ranges over ~[1.1, 1.9]
    # one-sided: eps(-x) = -eps(x) / 2 exactly, a correlation of exactly -1 for a non-affine map
    assert np.allclose(probe["corr_onesided_mean"], -1.0, atol=1e-9)
    # on the symmetrised sample {x_t, -x_t} (Lemma 1's setting) it is not -1 (an affine map gives -1 to 1e-6,
    # see the next test); the deviation is second order in the residual, which is first order
    assert (probe["corr_mean"] > -1 + 1e-3).all() and (probe["corr_max"] > -1 + 1e-3).all()
    assert (probe["residual_median"] > 0.01).all()


def test_symmetrised_correlation_is_minus_one_for_affine_antisymmetric_maps(affine):
    data = 3.0 + 0.3 * torch.randn((64, 1, 4, 4), generator=torch.Generator().manual_seed(0))  # one-sided data
    probe = antisymmetry_probe(affine, data=data, timesteps=[900, 50, 1], seed=0, progress=False)
    assert np.allclose(probe["corr_mean"], -1.0, atol=1e-6) and np.allclose(probe["corr_max"], -1.0, atol=1e-6)


# ------------------------------------------------------------------------------------ AS quantile uncertainty
def test_as_quantile_ci_resamples_directions_and_covers():
    # slices of one direction share its draw: score = u_direction + tiny coordinate noise, u ~ N(0, 1)
    from scipy.stats import norm

    rng = np.random.default_rng(0)
    truth, hits, widths = norm.ppf(0.1), 0, []
    for rep in range(100):
        dirs, coords = 20, 40
        score = rng.normal(size=(dirs, 1)) + 1e-3 * rng.normal(size=(dirs, coords))
        frame = pd.DataFrame({"t": 5, "abar": 0.5, "sigma": 0.7, "tau": 0.3, "direction": np.repeat(np.arange(dirs), coords),
                              "coordinate": np.tile(np.arange(coords), dirs), "as_score": score.reshape(-1)})
        row = summarize_as(frame, bootstrap=400, level=0.9, seed=rep).iloc[0]
        assert row["as_q10_lo"] <= row["as_q10"] <= row["as_q10_hi"] and row["directions"] == dirs
        hits += row["as_q10_lo"] <= truth <= row["as_q10_hi"]
        widths.append(row["as_q10_hi"] - row["as_q10_lo"])
    # 800 slices, but 20 independent draws: the interval is as wide as 20 draws allow, and covers
    assert np.median(widths) > 0.4
    assert hits >= 75


def test_as_summary_without_bootstrap_has_no_interval(affine):
    scores, _ = as_distribution(affine, timesteps=[500], num_directions=3, grid_points=11, seed=0, coordinates=5, progress=False)
    assert len(scores) == 3 * 5 and scores["coordinate"].nunique() == 5
    row = summarize_as(scores, bootstrap=0).iloc[0]
    assert np.isnan(row["as_q10_lo"]) and row["as_q10"] == pytest.approx(1.0)


# ------------------------------------------------------------------------------------ Theorem 1 pass rule, Corollary 1
def test_theorem1_curve_passes_for_the_exact_law_and_fails_for_a_wrong_one(affine):
    x0 = 0.2 + 0.5 * torch.randn((1000, 1, 4, 4), generator=torch.Generator().manual_seed(4))
    right = GaussianMixtureScore(torch.full((1, 1, 4, 4), 0.2, dtype=torch.float64), 0.5)
    curve, entry = theorem1_curve(affine, x0=x0, exact=right, points=6, seed=0)
    assert entry["bound_holds"] and entry["I0_closed_form"] == pytest.approx(gaussian_relative_fisher(mean=0.2, std=0.5, dim=16, tau=0.0))
    assert np.allclose(curve["bound"], np.exp(-2 * curve["tau"]) * entry["I0"])
    # a data law with std 0.9 claims I(mu_0 | gamma) ~ 1.4, far below the model's ~146: the rule must fail
    wrong = GaussianMixtureScore(torch.full((1, 1, 4, 4), 0.2, dtype=torch.float64), 0.9)
    _, bad = theorem1_curve(affine, x0=x0, exact=wrong, points=6, seed=0)
    assert not bad["bound_holds"] and bad["levels_violated"] > 0 and bad["max_ratio_to_bound"] > 10


def test_theorem1_anchored_bound_and_pass_rule_tolerance():
    curve = pd.DataFrame({"tau": [0.1, 0.5, 1.0], "fisher": [10.0, 10 * math.exp(-0.8) + 0.2, 1.0], "fisher_se": [0.1, 0.1, 0.1]})
    bounded = theorem1_bound(curve)
    assert bounded["bound"].iloc[0] == 10.0 and bounded["bound"].iloc[2] == pytest.approx(10 * math.exp(-1.8))
    assert theorem1_holds(bounded, num_se=3)["bound_holds"]  # 0.2 above, within 3 (0.1 + 0.1 e^{-0.8}) SE
    assert not theorem1_holds(bounded, num_se=0.5)["bound_holds"]


def test_corollary1_for_exact_scores(affine, mixture_model):
    data = 0.2 + 0.5 * torch.randn((256, 1, 4, 4), generator=torch.Generator().manual_seed(5))
    i0 = gaussian_relative_fisher(mean=0.2, std=0.5, dim=16, tau=0.0)
    cor = corollary1_check(affine, data=data, timesteps=[999, 500, 100, 10, 1], i0=float(i0), seed=0)
    assert list(cor["t_next"]) == [500, 100, 10, 1, -1]
    assert (cor["gap_max"] < 1e-6).all() and cor["holds"].all()  # affine: every DDIM step keeps -1 exactly
    gmm = mixture_model.mixture
    x0 = sample_mixture(gmm, 512, generator=torch.Generator().manual_seed(6)).float()
    cor = corollary1_check(mixture_model, data=x0, timesteps=[999, 500, 100, 10, 1], i0=mixture_fisher_upper_bound(gmm), seed=0)
    assert cor["holds"].all()
    assert (cor["gap_max"] > 1e-4).any()  # not trivially: the mixture's steps are not affine
    last = cor.set_index("t").loc[1]
    assert last["informative_fraction"] == 1.0 and last["rhs_min"] < 2  # where the bound says something, it holds


# ------------------------------------------------------------------------------------ centered trajectories
def test_leave_pair_out_mean_excludes_the_pair_and_is_exact_for_antithetic_pairs():
    v = np.arange(12.0).reshape(6, 2)
    m = leave_pair_out_mean(v)
    assert np.allclose(m[0], v[2:].mean(0)) and np.allclose(m[2], v[:4].mean(0))
    z = np.random.default_rng(0).normal(size=(3, 5))
    pn = np.stack([z, -z], axis=1).reshape(6, 5)
    assert np.all(leave_pair_out_mean(pn) == 0.0)


def test_centered_pn_correlation_is_minus_one_for_the_affine_model_with_few_pairs(affine):
    frame = trajectory_correlations(affine, sampler="ddim", sampler_options={"num_steps": 4}, pairs=3, progress=False, **DESIGNS)
    pn = frame[(frame["kind"] == "PN") & (frame["variant"] == "centered")]
    first = pn[(pn["quantity"] == "x") & (pn["step"] == 0)]["mean"].iloc[0]
    assert first == pytest.approx(-1.0, abs=1e-6)
    assert np.allclose(pn["mean"], -1.0, atol=1e-5)  # affine steps keep the pair symmetric about the mean


# ------------------------------------------------------------------------------------ pretrained models
def test_probe_of_a_model_without_data_uses_its_own_samples(tiny_unet_dir, tmp_path):
    from antithetic.workflow.jobs import run_slices_figure, run_symmetry_probe

    spec = {"kind": "unet", "pretrained": str(tiny_unet_dir)}
    net = build_model("hub", spec)
    with pytest.raises(ValueError, match="data_sampler"):
        reference_data(net, spec, num=4, seed=0)
    probe = {"timesteps": [90, 10], "directions": 2, "coordinates": 8, "grid_points": 5, "slice_examples": 1,
             "probe_samples": 6, "bootstrap": 50, "ci_level": 0.9}
    out = {k: tmp_path / f"{k}.{ext}" for k, ext in (("scores", "csv"), ("summary", "csv"), ("slices", "npz"), ("figure", "png"))}
    summary = run_symmetry_probe(
        model="hub", spec=spec, probe=probe, seed=0, data_sampler={"kind": "ddim", "num_steps": 2},
        out_scores=out["scores"], out_summary=out["summary"], out_slices=out["slices"], progress=False,
    )
    run_slices_figure(slices=out["slices"], title="hub", out_figure=out["figure"])
    assert list(summary["t"]) == [90, 10] and summary["data"].iloc[0].startswith("the model's own samples")
    assert summary["corr_mean"].between(-1, 1).all() and (summary["samples"] == 6).all()
    assert len(pd.read_csv(out["scores"])) == 2 * 2 * 8 and out["figure"].stat().st_size > 0
    with np.load(out["slices"]) as slices:  # the figure's sigma_t: sqrt(1 - abar_t) of the probed timesteps
        abar = net.scheduler.alphas_cumprod[slices["timesteps"]].double().numpy()
        assert np.allclose(slices["sigmas"], np.sqrt(1 - abar))


def test_check_references_covers_the_symmetry_models():
    base = {
        "models": {"hub": {"kind": "unet", "pretrained": "org/model"}, "cm": {"kind": "consistency", "pretrained": "org/cm"}},
        "samplers": {"ddim": {"kind": "ddim", "num_steps": 5}},
        "designs": {},
    }
    check_references({**base, "symmetry": {"models": ["hub"], "data_sampler": "ddim"}})
    with pytest.raises(ConfigError, match="symmetry.data_sampler"):
        check_references({**base, "symmetry": {"models": ["hub"], "data_sampler": "ddim-50"}})
    with pytest.raises(ConfigError, match="predicts no noise"):
        check_references({**base, "symmetry": {"fisher": {"models": ["cm"]}}})


@pytest.fixture(scope="module")
def tiny_hub(tmp_path_factory):
    from tiny_pipelines import tiny_consistency, tiny_stable_diffusion

    path = tmp_path_factory.mktemp("paper-models")
    (path / "prompts.txt").write_text("a cat\nthe house\n")
    return {"sd": tiny_stable_diffusion(path), "cm": tiny_consistency(path, num_classes=None), "prompts": path / "prompts.txt"}


def test_trajectories_of_a_consistency_model_have_no_eps_rows(tiny_hub):
    net = build_model("cm", {"kind": "consistency", "pretrained": str(tiny_hub["cm"])})
    frame = trajectory_correlations(net, sampler="consistency", sampler_options={"timesteps": [22, 0]}, pairs=3, progress=False, **DESIGNS)
    assert set(frame["quantity"]) == {"x"} and sorted(set(frame["step"])) == [0, 1, 2]
    start = frame[(frame["step"] == 0) & (frame["kind"] == "PN") & (frame["variant"] == "standard")]["mean"].iloc[0]
    assert start == pytest.approx(-1.0, abs=1e-6)


def test_trajectories_of_a_latent_model_report_the_decoded_output(tiny_hub):
    net = build_model("sd", {"kind": "stable_diffusion", "pretrained": str(tiny_hub["sd"]), "prompts": str(tiny_hub["prompts"]),
                             "guidance_scale": 2.0})
    frame = trajectory_correlations(net, sampler="ddim", sampler_options={"num_steps": 2}, pairs=2, progress=False, **DESIGNS)
    x = frame[(frame["quantity"] == "x") & (frame["kind"] == "PN") & (frame["variant"] == "standard")]
    assert list(x["t"])[-1] == -1 and len(x) == 3 and len(frame[frame["quantity"] == "eps"]) == 2 * 2 * 2
    assert x["mean"].iloc[0] == pytest.approx(-1.0, abs=1e-6) and np.isfinite(x["mean"]).all()
