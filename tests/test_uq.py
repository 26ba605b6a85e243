"""Uncertainty quantification: RQMC noise, estimators, statistics, closed-form truth and CI coverage."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import ndtri
from scipy.stats import qmc

from antithetic.coverage_study import affine_output_law, affine_truth, clamped_gaussian_mean, coverage_summary
from antithetic.estimators import (
    amc_estimate,
    ci_quantile,
    cv_estimate,
    efficiency,
    efficiency_interval,
    group_estimate,
    kamc_estimate,
    mc_estimate,
    noise_feature,
    rqmc_estimate,
    weighted_group_correlation,
)
from antithetic.generate import generate
from antithetic.image_statistics import brightness, contrast, evaluate_statistic, load_statistic, mean_image
from antithetic.models import build_model
from antithetic.noise import AntitheticNoise, IIDNoise, KAntitheticNoise, derive_seed, make_design
from antithetic.rqmc import CLIP, RQMCNoise, sobol_normal

SHAPE = (1, 4, 4)


# ------------------------------------------------------------------------------------ RQMC noise
def test_rqmc_is_registered_and_seed_addressed():
    design = make_design("rqmc", m=3, seed=5)
    assert isinstance(design, RQMCNoise) and design.group_size == 8
    full = design.initial_noise(range(24), SHAPE)
    parts = torch.cat([design.initial_noise([k], SHAPE) for k in (range(24))])
    assert torch.equal(full, parts)
    assert torch.equal(design.initial_noise([13, 2], SHAPE), full[[13, 2]])
    with pytest.raises(ValueError, match="multiple of 8"):
        design.check_num_samples(12)


def test_rqmc_replicate_is_the_scrambled_sobol_net_with_its_first_point():
    design = RQMCNoise(m=4, seed=3)
    z = design.initial_noise(range(32), SHAPE).reshape(2, 16, -1).numpy()
    for r in range(2):
        ref = qmc.Sobol(16, scramble=True, rng=np.random.default_rng(derive_seed(3, r, 0, 0))).random_base2(4)
        np.testing.assert_allclose(z[r], ndtri(np.clip(ref, CLIP, 1 - CLIP)), rtol=1e-6)
    # stratification of a (0, m, d)-net: each of the 16 intervals [j/16, (j+1)/16) holds exactly one point
    u = stats.norm.cdf(z[0])
    for coord in range(16):
        assert sorted(np.floor(u[:, coord] * 16).astype(int)) == list(range(16))
    # independent scramblings: replicates differ
    assert not np.allclose(z[0], z[1])


def test_rqmc_noise_is_finite_and_standard_normal():
    z = sobol_normal(3, 12, seed=0)
    assert np.isfinite(z).all() and np.abs(z).max() <= -ndtri(CLIP) + 1e-9
    # RQMC moments are far more accurate than MC's 1/sqrt(n)
    assert abs(z.mean()) < 1e-3 and abs(z.var() - 1) < 1e-2
    assert stats.kstest(z[:, 0], "norm").pvalue > 0.01


def test_rqmc_high_dimension_strategies_are_explicit():
    shape = (1, 4, 5)  # 20 coordinates, Sobol limited to 8 below
    with pytest.raises(ValueError, match="high_dim"):
        RQMCNoise(m=2, max_sobol_dim=8, seed=0).initial_noise(range(4), shape)
    prefix = RQMCNoise(m=3, high_dim="sobol_prefix", max_sobol_dim=8, seed=0).initial_noise(range(8), shape).reshape(8, -1).numpy()
    padded = RQMCNoise(m=3, high_dim="padded", max_sobol_dim=8, seed=0).initial_noise(range(8), shape).reshape(8, -1).numpy()
    strata = lambda col: sorted(np.floor(stats.norm.cdf(col) * 8).astype(int)) == list(range(8))  # noqa: E731
    assert all(strata(prefix[:, j]) for j in range(8))              # Sobol part
    assert not all(strata(prefix[:, j]) for j in range(8, 20))      # iid remainder
    assert all(strata(padded[:, j]) for j in range(20))             # every block is a net
    np.testing.assert_allclose(prefix[:, :8], padded[:, :8])        # same first block
    assert not np.allclose(padded[:, :8], padded[:, 8:16])          # blocks scrambled independently
    with pytest.raises(ValueError, match="high_dim"):
        RQMCNoise(m=2, high_dim="silent")


def test_rqmc_padded_is_latin_supercube_sampling():
    """Blocks of the padded strategy are matched by independent random permutations (Latin supercube).

    d = 16 in blocks of 8, 2^6 points, 400 replicates. With one point order shared by all blocks, a
    product of coordinates of two blocks had 23x (indicator product) and 31x (z_j z_{j+8}) the
    variance of plain MC; with independent permutations cross-block terms stay within 2x of MC and
    an additive function keeps the RQMC gain.
    """
    design = RQMCNoise(m=6, high_dim="padded", max_sobol_dim=8, seed=11)
    reps, n = 400, 64
    z = design.initial_noise(range(reps * n), (16,)).double().numpy().reshape(reps, n, 16)
    indicator_product = ((z[..., 0] > 0) & (z[..., 8] > 0)).astype(float)  # per sample: Var = 3/16
    cross_product = (z[..., :8] * z[..., 8:]).sum(-1) / math.sqrt(8)     # per sample: Var = 1
    additive = (z > 0).sum(-1).astype(float)                               # per sample: Var = 16/4
    ratio = lambda f, var: f.mean(1).var(ddof=1) / (var / n)  # noqa: E731  (RQMC over MC variance)
    assert ratio(indicator_product, 3 / 16) < 2.0
    assert ratio(cross_product, 1.0) < 2.0
    assert ratio(additive, 4.0) < 0.05
    # the first block is the scrambled net in Sobol order; seed-addressed like every design
    first = sobol_normal(8, 6, seed=derive_seed(11, 0, 0, 0))
    np.testing.assert_allclose(z[0, :, :8], first, rtol=1e-6)
    again = design.initial_noise(list(range(64, 128)), (16,)).double().numpy()
    np.testing.assert_array_equal(again, z[1])


def test_rqmc_step_noise_is_iid_per_sample():
    design = RQMCNoise(m=2, seed=1)
    step = design.step_noise(range(4), SHAPE)(0).reshape(4, -1)
    corr = np.corrcoef(step.numpy())
    assert np.all(np.abs(corr[np.triu_indices(4, 1)]) < 0.99)


# ------------------------------------------------------------------------------------ estimators
def test_group_estimate_matches_textbook_formulas():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=400)
    est = mc_estimate(x, quantile="normal")
    half = 1.959963984540054 * x.std(ddof=1) / math.sqrt(400)
    assert est.estimate == pytest.approx(x.mean()) and est.ci_length == pytest.approx(2 * half)
    pairs = x.reshape(200, 2)
    amc = amc_estimate(pairs)
    assert amc.num_groups == 200 and amc.estimate == pytest.approx(x.mean())
    assert amc.ci_length == pytest.approx(2 * stats.t.ppf(0.975, 199) * pairs.mean(1).std(ddof=1) / math.sqrt(200))
    assert amc.extras["rho"] == pytest.approx(np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1])
    rq = rqmc_estimate(x.reshape(4, 100))
    assert rq.num_groups == 4 and rq.quantile == pytest.approx(stats.t.ppf(0.975, 3))
    assert ci_quantile(0.9, 10**6) == pytest.approx(stats.norm.ppf(0.95), rel=1e-4)
    with pytest.raises(ValueError, match=r"level must lie in \(0, 1\), got 1.5"):
        ci_quantile(1.5, 5)
    with pytest.raises(ValueError, match="2 independent groups"):
        group_estimate(x[:1].reshape(1, 1))


def test_antithetic_efficiency_is_one_over_one_plus_rho():
    rng = np.random.default_rng(1)
    z = rng.normal(size=20000)
    f = lambda u: u + 0.3 * u**2  # noqa: E731
    pairs = np.stack([f(z), f(-z)], axis=1)
    sigma2 = f(rng.normal(size=200000)).var()
    amc = amc_estimate(pairs)
    assert efficiency(sigma2, amc) == pytest.approx(1 / (1 + amc.extras["rho"]), rel=0.05)
    assert efficiency(sigma2, amc) > 3  # mostly odd function: large gain
    k = kamc_estimate(np.stack([f(w) for w in KAntitheticNoise(k=4, seed=0).couple(torch.randn(4, 5000, generator=torch.Generator().manual_seed(0))).numpy()], axis=1))
    assert k.group_size == 4 and abs(k.estimate - 0.3) < 5 * k.std_error


def test_vector_statistics_are_estimated_componentwise():
    rng = np.random.default_rng(2)
    v = rng.normal(size=(50, 2, 3, 4))
    est = group_estimate(v)
    assert est.estimate.shape == (3, 4) and est.ci_length.shape == (3, 4)
    np.testing.assert_allclose(est.estimate[1, 2], group_estimate(v[:, :, 1, 2]).estimate)


def test_control_variates():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(4000, 16))
    phi_lin = noise_feature(z, "linear")
    phi_quad = noise_feature(z, "quadratic")
    assert abs(phi_lin.mean()) < 0.1 and abs(phi_lin.var() - 1) < 0.1 and abs(phi_quad.var() - 1) < 0.15
    y = 2 * phi_lin + 0.1 * rng.normal(size=4000)
    cv = cv_estimate(y[:, None], phi_lin[:, None])
    assert cv.extras["beta"] == pytest.approx(2, abs=0.02)
    assert cv.ci_length < 0.1 * mc_estimate(y).ci_length
    # with antithetic pairs a linear feature cancels exactly: degenerate, equal to AMC
    pairs_z = np.stack([z, -z], axis=1)
    feats = noise_feature(pairs_z.reshape(-1, 16), "linear").reshape(4000, 2)
    yp = (pairs_z.sum(-1) ** 2)  # even statistic
    combined = cv_estimate(yp, feats)
    assert combined.extras["degenerate"] and combined.estimate == pytest.approx(amc_estimate(yp).estimate)
    # an even feature complements antithetic pairs
    feats_q = noise_feature(pairs_z.reshape(-1, 16), "quadratic").reshape(4000, 2)
    yq = (pairs_z**2).sum(-1) + 0.1 * rng.normal(size=(4000, 2))
    assert cv_estimate(yq, feats_q).ci_length < 0.2 * amc_estimate(yq).ci_length
    with pytest.raises(ValueError, match="control-variate feature kind='cubic'"):
        noise_feature(z, "cubic")


def test_cross_fitted_control_variate_is_unbiased_at_small_g():
    """G = 16 antithetic pairs, y = q + 0.25 q^2 + noise with q the quadratic feature (E[y] = 0.25).

    The in-sample coefficient is correlated with the feature mean it multiplies when E[y | q] is
    non-linear: its estimate was biased by -0.031 (18 standard errors over 4000 repetitions).
    Leave-one-group-out cross-fitting makes every corrected group mean exactly unbiased.
    """
    rng = np.random.default_rng(1)
    reps, groups, d = 4000, 16, 64
    w = rng.normal(size=(reps, groups, 1, d))
    z = np.concatenate([w, -w], axis=2)
    q = noise_feature(z.reshape(-1, d), "quadratic").reshape(reps, groups, 2)
    y = q + 0.25 * q**2 + 0.3 * rng.normal(size=q.shape)
    ests = [cv_estimate(y[r], q[r]) for r in range(reps)]
    values = np.array([e.estimate for e in ests])
    assert abs(values.mean() - 0.25) < 3 * values.std(ddof=1) / math.sqrt(reps)
    # the CI is not too long either: mean SE^2 close to the variance of the estimates
    assert 0.8 < np.mean([e.variance for e in ests]) / values.var(ddof=1) < 1.25


@pytest.mark.parametrize("name", ["q + sin(2q)", "q + tanh(3q)"])
def test_cross_fitted_control_variate_covers_at_nominal_level_at_g16(name):
    """G = 16 antithetic pairs and a statistic non-linear in the quadratic feature q (exact mean by
    quadrature over q's chi-square law): the cross-fitted CV interval covers within its binomial interval.

    On a strongly skewed statistic (q + 0.25 q^2) every t-interval at G = 16 undercovers: 0.925 for the
    plain pair means and 0.908 for the CV estimate in the same simulation (docs/uq.md).
    """
    from scipy import integrate

    h = {"q + sin(2q)": lambda q: q + np.sin(2 * q), "q + tanh(3q)": lambda q: q + np.tanh(3 * q)}[name]
    d, reps, groups = 64, 4000, 16
    law = stats.chi2(d)
    truth = integrate.quad(lambda x: h((x - d) / math.sqrt(2 * d)) * law.pdf(x), 0, 400, limit=400)[0]
    rng = np.random.default_rng(2)
    w = rng.normal(size=(reps, groups, 1, d))
    z = np.concatenate([w, -w], axis=2)
    q = noise_feature(z.reshape(-1, d), "quadratic").reshape(reps, groups, 2)
    y = h(q) + 0.3 * rng.normal(size=q.shape)
    ests = [cv_estimate(y[r], q[r]) for r in range(reps)]
    coverage = np.mean([e.covers(truth) for e in ests])
    assert abs(coverage - 0.95) < 3 * math.sqrt(0.95 * 0.05 / reps), coverage
    values = np.array([e.estimate for e in ests])
    assert 0.85 < np.mean([e.variance for e in ests]) / values.var(ddof=1) < 1.15


def test_weighted_correlation_matches_efficiency_exactly():
    rng = np.random.default_rng(5)
    w = rng.normal(size=(300, 1, 3, 4))
    pairs = np.concatenate([np.tanh(w) + 0.2 * w**2, np.tanh(-w) + 0.2 * w**2], axis=1)
    pairs[:, :, 0, 0] = 7.0  # a constant pixel: weighs nothing, no NaN
    amc = amc_estimate(pairs)
    own_variance = pairs.var(axis=0, ddof=1).mean(axis=0)  # the pairs' own per-sample variance
    rho_w = amc.extras["rho_w"]
    assert np.isfinite(rho_w) and -1 < rho_w < 0
    total = efficiency_interval(own_variance, 10**6, amc)["efficiency"]
    assert total == pytest.approx(1 / (1 + rho_w), rel=1e-10)
    # unweighted mean of per-pixel rho (the former column) does not satisfy it
    assert abs(1 / (1 + np.nanmean(amc.extras["rho"])) - total) > 1e-3
    # K groups: efficiency 1 / (1 + (K - 1) rho_w)
    groups = np.stack([np.sin(v) for v in KAntitheticNoise(k=4, seed=0).couple(torch.randn(4, 200, 6, generator=torch.Generator().manual_seed(1))).double().numpy()], axis=1)
    k = kamc_estimate(groups)
    own = groups.var(axis=0, ddof=1).mean(axis=0)
    assert efficiency_interval(own, 10**6, k)["efficiency"] == pytest.approx(1 / (1 + 3 * weighted_group_correlation(groups)), rel=1e-10)


@pytest.mark.parametrize("groups,group_sd", [(500, 0.3), (16, 0.8)], ids=["amc-like", "rqmc-like"])
def test_efficiency_interval_covers_the_true_efficiency(groups, group_sd):
    """Gaussian model with known variances: MC per-sample SD 2 from 1000 samples, G group means of SD
    ``group_sd`` (groups of 2): the true efficiency is (4 / 2G) / (group_sd^2 / G); the F interval covers it."""
    rng = np.random.default_rng(6)
    reps, n_mc, size = 2000, 1000, 2
    truth = (4.0 / (groups * size)) / (group_sd**2 / groups)
    hits, estimates = 0, []
    for _ in range(reps):
        sigma2 = rng.normal(0, 2.0, size=n_mc).var(ddof=1)
        means = rng.normal(1.0, group_sd, size=groups)
        est = group_estimate(np.stack([means, means], axis=1))  # group means of SD group_sd
        out = efficiency_interval(sigma2, n_mc, est)
        hits += out["efficiency_low"] <= truth <= out["efficiency_high"]
        estimates.append(out["efficiency"])
    coverage = hits / reps
    assert abs(coverage - 0.95) < 3 * math.sqrt(0.95 * 0.05 / reps)
    mc = mc_estimate(rng.normal(size=100))
    same = efficiency_interval(mc.std_error**2 * 100, 100, mc, same_samples=True)
    assert same["efficiency"] == pytest.approx(1) and same["efficiency_low"] == same["efficiency_high"] == pytest.approx(1)
    # (CI_MC / CI)^2 differs from the variance ratio by the squared quantile ratio
    out = efficiency_interval(4.0, n_mc, est)
    assert out["ci_ratio_squared"] / out["efficiency"] == pytest.approx((stats.t.ppf(0.975, 2 * groups - 1) / stats.t.ppf(0.975, groups - 1)) ** 2)


# ------------------------------------------------------------------------------------ statistics
def test_statistics_and_dotted_paths():
    x = np.stack([np.full(SHAPE, -1.0), np.full(SHAPE, 1.0), np.full(SHAPE, 3.0)])
    np.testing.assert_allclose(brightness(x), [0.0, 255.0, 255.0])
    assert mean_image(x).shape == (3, *SHAPE) and np.all(contrast(x) == 0)
    assert load_statistic("antithetic.image_statistics.brightness") is brightness
    assert load_statistic("antithetic.image_statistics:contrast") is contrast
    with pytest.raises(ValueError, match="has no function 'nope'"):
        load_statistic("antithetic.image_statistics.nope")
    with pytest.raises(ValueError, match="cannot import"):
        load_statistic("no_such_pkg.f")
    with pytest.raises(ValueError, match="one value"):
        evaluate_statistic(lambda a: a.mean(), x)


# ------------------------------------------------------------------------------------ truth and coverage
def test_clamped_gaussian_mean_matches_monte_carlo():
    rng = np.random.default_rng(4)
    y = rng.normal(0.7, 0.4, size=10**6)
    assert float(clamped_gaussian_mean(0.7, 0.4)) == pytest.approx(np.clip(y, 0, 1).mean(), abs=2e-3)


@pytest.fixture(scope="module")
def affine():
    model = build_model("affine", {"kind": "affine_odd", "mean": 0.2, "std": 0.5})
    options = {"num_steps": 10, "eta": 0.0}
    alpha, beta = affine_output_law(model, "ddim", options)
    return model, options, affine_truth(brightness, alpha, beta)


def test_affine_model_truth(affine):
    model, options, truth = affine
    s = generate(model, design=IIDNoise(seed=9), num_samples=20000, sampler="ddim", sampler_options=options, batch_size=20000, progress=False)
    est = mc_estimate(brightness(s.samples))
    assert abs(est.estimate - truth) < 4 * est.std_error
    gmm = build_model("gmm", {"kind": "gaussian_mixture", "means": "digits", "std": 0.3})
    with pytest.raises(ValueError, match="affine_odd"):
        affine_output_law(gmm, "ddim", options)


@pytest.mark.parametrize(
    "design,n,as_iid",
    [(IIDNoise(seed=0), 32, False), (AntitheticNoise(seed=0), 32, False), (KAntitheticNoise(k=8, seed=0), 32, False),
     (RQMCNoise(m=3, seed=0), 32, False), (AntitheticNoise(seed=0), 32, True)],
    ids=["mc", "amc", "k_amc", "rqmc", "amc-treated-as-iid"],
)
def test_ci_coverage_on_the_affine_model(affine, design, n, as_iid):
    """Over 200 repetitions, every method's 95% CI covers the closed-form truth within binomial error
    *and* is calibrated: mean SE^2 / Var(estimates) near 1. Coverage alone passes CIs that are too long;
    treating the 32 AMC samples as iid gives CIs ~10x too long, coverage 1.000, and fails calibration."""
    model, options, truth = affine
    reps = 200
    s = generate(model, design=design, num_samples=reps * n, sampler="ddim", sampler_options=options, batch_size=reps * n, progress=False)
    values = brightness(s.samples[np.lexsort((s.members, s.groups))]).reshape(reps, -1, design.group_size)
    ests = [mc_estimate(v.reshape(-1)) if as_iid else group_estimate(v) for v in values]
    summary = coverage_summary(
        np.array([e.estimate for e in ests]), np.array([e.ci_low for e in ests]), np.array([e.ci_high for e in ests]),
        np.array([e.std_error for e in ests]), truth=truth,
    )
    assert summary["target"] == 0.95
    calibrated = abs(math.log(summary["se_calibration"])) < math.log(1.5)  # Var ratio of 200 reps: ~10% SD
    covers = abs(summary["coverage"] - 0.95) <= 3 * summary["binomial_se"] + 1 / reps
    if as_iid:
        assert covers and summary["coverage"] > 0.99 and not calibrated and summary["se_calibration"] > 10
    else:
        assert covers and calibrated
    assert abs(summary["bias"]) <= 4 * summary["bias_se"]


def test_coverage_target_accounts_for_reference_error():
    s = coverage_summary(np.zeros(10), -np.ones(10), np.ones(10), np.ones(10), truth=0.0, truth_se=1.0)
    assert s["coverage"] == 1.0 and s["target"] == pytest.approx(2 * stats.norm.cdf(1.959963984540054 / math.sqrt(2)) - 1)


# ------------------------------------------------------------------------------------ noise shape, jobs
def _vae_like(latent=(8,)):
    """A one-shot generator with an 8-d latent and 1x6x6 images (like a VAE decoder), even and odd parts."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(36, latent[0], generator=gen)

    def decode(z):
        return torch.tanh(z @ a.T + 0.3 * (z**2).sum(1, keepdim=True)).view(len(z), 1, 6, 6)

    from antithetic.models import GeneratorModel

    seen = []
    model = GeneratorModel(decode=lambda z: (seen.append(z.clone()), decode(z))[1], sample_shape=latent, image_shape=(1, 6, 6), name="vae-like", info={"kind": "test"})
    return model, seen


def test_control_variate_features_use_the_recorded_noise_shape(tmp_path):
    """The features are phi of the latent the generator decoded (8-d), not of noise shaped like the output."""
    from antithetic.artifacts import load_samples, save_samples
    from antithetic.coverage_study import group_noise_features

    model, seen = _vae_like()
    samples = generate(model, design=AntitheticNoise(seed=3), num_samples=40, sampler="decode", batch_size=40, progress=False)
    save_samples(tmp_path / "s.npz", samples)
    loaded = load_samples(tmp_path / "s.npz")
    assert loaded.noise_shape == (8,) and loaded.samples.shape[1:] == (1, 6, 6)
    features = group_noise_features(loaded, ["quadratic", "linear"])
    latent = seen[0].double().numpy()
    np.testing.assert_allclose(features["quadratic"], noise_feature(latent, "quadratic").reshape(20, 2), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(features["linear"].sum(1), 0, atol=1e-5)  # odd feature: cancels in pairs
    loaded.noise_shape = None
    with pytest.raises(ValueError, match="re-run the sampling"):
        group_noise_features(loaded, ["quadratic"])


def test_uq_estimates_job_on_a_vae_like_generator(tmp_path):
    """The job runs the tested estimators: its AMC row equals estimate_summary of amc_estimate, its
    control variates see the 8-d latent, every efficiency has a CI."""
    import pandas as pd

    from antithetic.artifacts import save_samples
    from antithetic.estimators import estimate_summary
    from antithetic.workflow.jobs.uq import run_uq_estimates

    model, _ = _vae_like()
    inputs = {}
    for method, design in (("mc", IIDNoise(seed=0, offset=200)), ("amc", AntitheticNoise(seed=0)), ("rqmc", RQMCNoise(m=3, seed=0))):
        s = generate(model, design=design, num_samples=200, sampler="decode", batch_size=200, progress=False)
        save_samples(tmp_path / f"{method}.npz", s)
        inputs[method] = tmp_path / f"{method}.npz"
    uq = {"level": 0.95, "quantile": "t", "statistics": {"brightness": "antithetic.image_statistics.brightness", "mean_image": "antithetic.image_statistics.mean_image"}, "control_variates": ["linear", "quadratic"]}
    frame = run_uq_estimates(uq, model="vae-like", sampler="decode", inputs=inputs, out_estimates=tmp_path / "e.csv", out_ci_vs_n=tmp_path / "c.csv", out_pixels=tmp_path / "p.npz")
    frame = pd.read_csv(tmp_path / "e.csv").set_index(["statistic", "method"])
    mc = brightness(generate(model, design=IIDNoise(seed=0, offset=200), num_samples=200, sampler="decode", progress=False).samples)
    amc_set = generate(model, design=AntitheticNoise(seed=0), num_samples=200, sampler="decode", progress=False)
    expected = estimate_summary(amc_estimate(brightness(amc_set.grouped().reshape(200, 1, 6, 6)).reshape(100, 2)), sample_variance=mc.var(ddof=1), mc_num_samples=200)
    row = frame.loc[("brightness", "amc")]
    for key in ("estimate", "ci_length", "efficiency", "efficiency_low", "efficiency_high", "rho", "rho_w"):
        assert row[key] == pytest.approx(expected[key], rel=1e-4), key
    assert frame.loc[("brightness", "mc"), "efficiency"] == pytest.approx(1.0)
    assert frame.loc[("brightness", "amc+cv:linear"), "degenerate"]
    assert not frame.loc[("brightness", "amc+cv:quadratic"), "degenerate"]
    ci = frame[["efficiency_low", "efficiency_high"]]
    assert ci.notna().all().all() and (frame["efficiency_low"] <= frame["efficiency"]).all() and (frame["efficiency"] <= frame["efficiency_high"]).all()
    assert {"rho_w", "ci_ratio_squared", "seconds_per_sample", "efficiency_per_time"} <= set(frame.columns)


def test_jackknife_efficiency_interval_of_control_variates_on_the_mc_samples():
    """y = 2 phi + e, Var(e) = 1: the control variate on the same iid samples has efficiency 5."""
    from antithetic.estimators import efficiency_interval_jackknife

    rng = np.random.default_rng(7)
    reps, n, hits = 400, 400, 0
    for _ in range(reps):
        phi = rng.normal(size=(n, 1))
        y = 2 * phi + rng.normal(size=(n, 1))
        out = efficiency_interval_jackknife(y, phi)
        hits += out["efficiency_low"] <= 5.0 <= out["efficiency_high"]
    assert abs(hits / reps - 0.95) < 3 * math.sqrt(0.05 * 0.95 / reps) + 0.01


def test_design_offset_addresses_later_noise():
    base, shifted = IIDNoise(seed=2), IIDNoise(seed=2, offset=10)
    np.testing.assert_array_equal(shifted.initial_noise(range(6), SHAPE), base.initial_noise(range(10, 16), SHAPE))
    # batch-size invariance and the stream of stochastic samplers follow the offset
    np.testing.assert_array_equal(torch.cat([shifted.initial_noise([k], SHAPE) for k in range(6)]), shifted.initial_noise(range(6), SHAPE))
    np.testing.assert_array_equal(shifted.step_noise(range(3), SHAPE)(0), base.step_noise(range(10, 13), SHAPE)(0))
    rq = RQMCNoise(m=2, seed=1, offset=8)
    np.testing.assert_array_equal(rq.initial_noise(range(4), SHAPE), RQMCNoise(m=2, seed=1).initial_noise(range(8, 12), SHAPE))
    assert make_design("antithetic", seed=0, offset=4).describe() == {"name": "antithetic", "seed": 0, "group_size": 2, "offset": 4}
    with pytest.raises(ValueError, match="multiple of the group size 8"):
        make_design("k_antithetic", k=8, offset=4)


def test_vector_estimates_from_blocks_of_components_equal_the_whole():
    """Every estimator on blocks of components (widths that do not divide D), joined, is the estimator on all."""
    from antithetic.estimators import (
        efficiency_interval_jackknife,
        efficiency_interval_of_jackknife,
        estimate_groups,
        jackknife_variances,
        merge_component_blocks,
    )

    rng = np.random.default_rng(3)
    shape = (3, 7, 5)
    for kind, g in (("mc", 1), ("amc", 2), ("k_amc", 4), ("rqmc", 8)):
        v = rng.normal(size=(30, g, *shape)) * rng.uniform(0.5, 2, size=shape) + 1.0
        if kind == "amc":
            v[:, 1] = -0.6 * v[:, 0] + 0.5 * v[:, 1]
        whole = estimate_groups(kind, v)
        flat = v.reshape(30, g, -1)
        parts = [estimate_groups(kind, flat[..., lo:hi]) for lo, hi in ((0, 40), (40, 83), (83, 105))]
        joined = merge_component_blocks(parts, shape)
        for key in ("estimate", "std_error", "ci_low", "ci_high"):
            assert np.array_equal(getattr(joined, key), getattr(whole, key)), (kind, key)
        for key, value in whole.extras.items():
            if key != "rho_w_parts":
                np.testing.assert_array_equal(joined.extras[key], value, err_msg=f"{kind} {key}")
    # control variates and the jackknife of their efficiency on the MC samples
    v = rng.normal(size=(40, 1, *shape))
    phi = rng.normal(size=(40, 1))
    v += 0.8 * phi[:, :, None, None, None]
    whole = cv_estimate(v, phi)
    flat = v.reshape(40, 1, -1)
    cuts = ((0, 16), (16, 61), (61, 105))
    joined = merge_component_blocks([cv_estimate(flat[..., lo:hi], phi) for lo, hi in cuts], shape)
    assert np.array_equal(joined.estimate, whole.estimate) and np.array_equal(joined.std_error, whole.std_error)
    assert np.array_equal(joined.extras["beta"], whole.extras["beta"])
    blocks = [jackknife_variances(flat[..., lo:hi], phi) for lo, hi in cuts]
    merged = {**blocks[0], **{k: np.concatenate([b[k] for b in blocks], axis=1) for k in ("mc", "cv")}}
    assert efficiency_interval_of_jackknife(merged) == efficiency_interval_jackknife(v, phi)


@pytest.mark.parametrize("compressed", [True, False])
def test_samples_are_read_in_chunks_from_compressed_and_plain_files(tmp_path, compressed):
    from antithetic.artifacts import iter_samples, load_sample_addresses, load_samples, save_samples

    s = generate(build_model("a", {"kind": "affine_odd"}), design=AntitheticNoise(seed=2), num_samples=22,
                 sampler="ddim", sampler_options={"num_steps": 3}, progress=False)
    save_samples(tmp_path / "s.npz", s)
    path = tmp_path / "s.npz"
    if not compressed:  # an uncompressed file holds the same members
        with np.load(path) as data:
            np.savez(tmp_path / "plain.npz", **{k: data[k] for k in data.files})
        path = tmp_path / "plain.npz"
    chunks = list(iter_samples(path, 5))
    assert [len(c) for c in chunks] == [5, 5, 5, 5, 2]
    full = load_samples(path)
    assert np.array_equal(np.concatenate(chunks), full.samples)
    head = load_sample_addresses(path)
    assert head.samples.shape == (0, *full.samples.shape[1:]) and np.array_equal(head.indices, full.indices) and head.design == full.design
    with pytest.raises(ValueError, match="chunk_size"):
        next(iter_samples(path, 0))


def test_uq_estimates_job_streams_samples_and_blocks_and_keeps_every_number(tmp_path):
    """Tiny chunks and blocks (not dividing N or D) give the numbers of the estimators on all values at once."""
    import pandas as pd

    from antithetic.artifacts import load_samples, save_samples
    from antithetic.coverage_study import group_noise_features, grouped_values
    from antithetic.estimators import efficiency_interval_jackknife, estimate_groups, weighted_group_correlation
    from antithetic.workflow.jobs.uq import run_uq_estimates

    model, _ = _vae_like()
    inputs = {}
    for method, design in (("mc", IIDNoise(seed=0, offset=200)), ("amc", AntitheticNoise(seed=0)), ("k_amc", KAntitheticNoise(k=4, seed=0)),
                           ("rqmc", RQMCNoise(m=3, seed=0))):
        save_samples(tmp_path / f"{method}.npz", generate(model, design=design, num_samples=104, sampler="decode", progress=False))
        inputs[method] = tmp_path / f"{method}.npz"
    uq = {"level": 0.95, "quantile": "t", "control_variates": ["linear", "quadratic"],
          "statistics": {"brightness": "antithetic.image_statistics.brightness", "mean_image": "antithetic.image_statistics.mean_image"}}
    out = {}
    for label, options in (("whole", {"chunk_size": 1000, "block_mb": 100}), ("streamed", {"chunk_size": 7, "block_mb": 0})):
        run_uq_estimates(uq, model="m", sampler="s", inputs=inputs, out_estimates=tmp_path / f"{label}.csv",
                         out_ci_vs_n=tmp_path / f"{label}-n.csv", out_pixels=tmp_path / f"{label}.npz", **options)
        with np.load(tmp_path / f"{label}.npz") as data:
            out[label] = (pd.read_csv(tmp_path / f"{label}.csv"), pd.read_csv(tmp_path / f"{label}-n.csv"), {k: data[k] for k in data.files})
    pd.testing.assert_frame_equal(out["whole"][0], out["streamed"][0], check_exact=True)
    pd.testing.assert_frame_equal(out["whole"][1], out["streamed"][1], check_exact=True)
    frame = out["streamed"][0].set_index(["statistic", "method"])
    # the per-pixel maps and the vector rows are the estimators on the loaded samples (18-column blocks of 36)
    for method, kind in (("mc", "mc"), ("amc", "amc"), ("k_amc", "k_amc"), ("rqmc", "rqmc")):
        ss = load_samples(inputs[method])
        v = grouped_values(ss, mean_image(ss.samples))
        est = estimate_groups(kind, v)
        assert np.array_equal(out["streamed"][2][f"mean_image__{method}__estimate"], est.estimate)
        assert np.array_equal(out["streamed"][2][f"mean_image__{method}__ci_length"], est.ci_length)
        if kind in ("amc", "k_amc"):
            assert frame.loc[("mean_image", method), "rho_w"] == pytest.approx(weighted_group_correlation(v), rel=1e-5, abs=0)
        if kind == "mc":
            phi = group_noise_features(ss, ["quadratic"])["quadratic"]
            jk = efficiency_interval_jackknife(v, phi)
            assert frame.loc[("mean_image", "mc+cv:quadratic"), "efficiency_high"] == pytest.approx(jk["efficiency_high"], rel=1e-5, abs=0)


def test_uq_estimates_group_a_conditional_models_mc_samples_by_condition_slot(tmp_path):
    """Consecutive samples of a class-conditional model share their class: the MC interval takes the condition
    slots (pairs) as its independent groups; the antithetic pairs already are slots and do not change."""
    import pandas as pd

    from antithetic.artifacts import save_samples
    from antithetic.estimators import group_estimate
    from antithetic.workflow.jobs.uq import run_uq_estimates

    model = build_model("cond", {"kind": "class_gaussian_mixture", "means": "digits", "std": 0.05})  # class-driven brightness
    inputs, mc_values = {}, None
    for method, design in (("mc", IIDNoise(seed=0, offset=1 << 20)), ("amc", AntitheticNoise(seed=0))):
        s = generate(model, design=design, num_samples=200, sampler="ddim", sampler_options={"num_steps": 10}, batch_size=64, progress=False)
        save_samples(tmp_path / f"{method}.npz", s)
        inputs[method] = tmp_path / f"{method}.npz"
        if method == "mc":
            mc_values = brightness(s.samples)
    uq = {"level": 0.95, "quantile": "t", "statistics": {"brightness": "antithetic.image_statistics.brightness"}, "control_variates": ["quadratic"]}
    frames = {}
    for per_slot in (1, 2):
        run_uq_estimates(uq, model="cond", sampler="ddim", inputs=inputs, out_estimates=tmp_path / f"e{per_slot}.csv",
                         out_ci_vs_n=tmp_path / f"c{per_slot}.csv", out_pixels=tmp_path / f"p{per_slot}.npz", samples_per_condition=per_slot)
        frames[per_slot] = pd.read_csv(tmp_path / f"e{per_slot}.csv").set_index(["statistic", "method"])
    slots = mc_values.reshape(100, 2)
    assert np.corrcoef(slots[:, 0], slots[:, 1])[0, 1] > 0.2  # the shared class makes a slot's two samples alike
    grouped, flat = frames[2].loc[("brightness", "mc")], frames[1].loc[("brightness", "mc")]
    assert grouped["num_groups"] == 100 and flat["num_groups"] == 200
    assert grouped["std_error"] == pytest.approx(group_estimate(slots).std_error, rel=1e-5)  # the CSV keeps 6 digits
    assert grouped["std_error"] > 1.1 * flat["std_error"]  # independent samples would understate the error
    # the baseline is the slot design: sigma^2 = 2 Var(slot means), so MC has efficiency 1 and the others are
    # measured against MC with the same shared classes (the noise coupling alone)
    assert grouped["efficiency"] == pytest.approx(1.0) and grouped["efficiency_low"] == grouped["efficiency_high"]
    slot_sigma2 = 2 * slots.mean(1).var(ddof=1)
    assert grouped["mc_ci_length_equal_n"] == pytest.approx(flat["mc_ci_length_equal_n"] * np.sqrt(slot_sigma2 / mc_values.var(ddof=1)), rel=1e-4)
    amc2, amc1 = frames[2].loc[("brightness", "amc")], frames[1].loc[("brightness", "amc")]
    for column in ("estimate", "ci_length", "rho_w"):
        assert amc2[column] == pytest.approx(amc1[column], rel=1e-12)
    assert amc2["efficiency"] == pytest.approx(amc1["efficiency"] * slot_sigma2 / mc_values.var(ddof=1), rel=1e-4)
    assert frames[2].loc[("brightness", "mc+cv:quadratic"), "num_groups"] == 100
    # groups of 3 would split slots: refused, with the key and the fix
    from antithetic.workflow.config import ConfigError

    s3 = generate(model, design=KAntitheticNoise(k=3, seed=0), num_samples=30, sampler="ddim", sampler_options={"num_steps": 2}, progress=False)
    save_samples(tmp_path / "k3.npz", s3)
    with pytest.raises(ConfigError, match=r"'uq.methods.k3.design': groups of 3 samples split the condition slots.*multiple of 2"):
        run_uq_estimates(uq, model="cond", sampler="ddim", inputs={**inputs, "k3": tmp_path / "k3.npz"}, out_estimates=tmp_path / "e3.csv",
                         out_ci_vs_n=tmp_path / "c3.csv", out_pixels=tmp_path / "p3.npz", samples_per_condition=2)


def test_bootstrap_efficiency_interval_covers_on_a_rare_event_statistic_where_the_f_interval_does_not():
    """A statistic that is 1 for a rare failure and 0 otherwise (a classifier missing the requested class): with
    independent pairs the true efficiency is 1; the F interval, exact for Gaussian statistics, undercovers far
    below 95% while the bootstrap interval stays near its level."""
    from antithetic.estimators import efficiency_interval, efficiency_interval_bootstrap

    rng = np.random.default_rng(0)
    reps, n_mc, pairs, p = 200, 400, 200, 0.05
    f_hits, boot_hits = 0, 0
    for rep in range(reps):
        mc = (rng.random(n_mc) < p).astype(float)
        groups = (rng.random((pairs, 2)) < p).astype(float)
        est = group_estimate(groups, method="amc")
        f = efficiency_interval(mc.var(ddof=1), n_mc, est)
        boot = efficiency_interval_bootstrap(mc, groups.mean(1), samples_per_group=2, num_bootstrap=999, seed=rep)
        assert boot["efficiency"] == pytest.approx(f["efficiency"], rel=1e-12)  # one efficiency, two intervals
        f_hits += f["efficiency_low"] <= 1 <= f["efficiency_high"]
        boot_hits += boot["efficiency_low"] <= 1 <= boot["efficiency_high"]
    low, _ = stats.binomtest(int(0.95 * reps), reps).proportion_ci(0.99)
    assert boot_hits / reps >= low - 0.02, boot_hits / reps
    assert f_hits / reps < boot_hits / reps - 0.1, (f_hits / reps, boot_hits / reps)


def test_bootstrap_efficiency_interval_of_a_vector_statistic_is_the_total_variance_ratio_and_covers():
    """A one-hot predicted class (three classes, two of them rare) and independent pairs: the true efficiency is 1.
    The bootstrap resamples whole vectors, its efficiency is the F computation's total-variance ratio, one
    component gives the scalar result, and the interval covers near its level where the F interval does not."""
    from antithetic.estimators import efficiency_interval, efficiency_interval_bootstrap

    rng = np.random.default_rng(2)
    reps, n_mc, pairs, probs = 200, 400, 200, [0.92, 0.05, 0.03]
    f_hits, boot_hits = 0, 0
    for rep in range(reps):
        mc = np.eye(3)[rng.choice(3, size=n_mc, p=probs)]
        groups = np.eye(3)[rng.choice(3, size=(pairs, 2), p=probs)]
        est = group_estimate(groups, method="amc")
        f = efficiency_interval(mc.var(axis=0, ddof=1), n_mc, est)
        boot = efficiency_interval_bootstrap(mc, groups.mean(1), samples_per_group=2, num_bootstrap=999, seed=rep)
        assert boot["efficiency"] == pytest.approx(f["efficiency"], rel=1e-12)
        f_hits += f["efficiency_low"] <= 1 <= f["efficiency_high"]
        boot_hits += boot["efficiency_low"] <= 1 <= boot["efficiency_high"]
    low, _ = stats.binomtest(int(0.95 * reps), reps).proportion_ci(0.99)
    assert boot_hits / reps >= low - 0.02, boot_hits / reps
    assert f_hits / reps < boot_hits / reps - 0.05, (f_hits / reps, boot_hits / reps)
    # resampling keeps a unit's components together: a statistic whose components cancel exactly in every unit
    # (x, -x) keeps the interval of its first component, which it would lose if components were resampled apart
    x_mc, x_groups = rng.normal(size=n_mc), rng.normal(size=(pairs, 2)).mean(1)
    one = efficiency_interval_bootstrap(x_mc, x_groups, samples_per_group=2, num_bootstrap=499, seed=5)
    two = efficiency_interval_bootstrap(np.stack([x_mc, -x_mc], 1), np.stack([x_groups, -x_groups], 1), samples_per_group=2,
                                        num_bootstrap=499, seed=5)
    assert two == pytest.approx(one, rel=1e-9, nan_ok=True)


def test_bootstrap_efficiency_counts_condition_slots_as_mc_units():
    """sigma^2 from slot means: ``s * Var(slot means)``, so MC against its own slots has efficiency 1."""
    from antithetic.estimators import efficiency_interval_bootstrap

    rng = np.random.default_rng(1)
    slots = rng.normal(size=(300, 2)) + rng.normal(size=(300, 1))  # two samples sharing a slot effect
    out = efficiency_interval_bootstrap(slots.mean(1), slots.mean(1), samples_per_unit=2, samples_per_group=2, num_bootstrap=199)
    assert out["efficiency"] == pytest.approx(1.0)
