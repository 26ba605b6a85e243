"""EDM's sigma-space samplers and every parametrization on the analytic models (closed-form truths)."""

import math

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler
from parametrized_analytic import edm_mixture_model, vp_mixture_model

from antithetic.correlation import pair_correlations, pn_pairs
from antithetic.data import digits_class_means
from antithetic.generate import generate
from antithetic.models import GaussianMixtureScore, gaussian_mixture_model, gaussian_model
from antithetic.noise import AntitheticNoise
from antithetic.parametrization import sigma_from_abar
from antithetic.samplers import _edm_loop, edm_sigmas, sample_ddim, sample_edm_heun, sample_edm_stochastic

MU, STD = 0.2, 0.5


@pytest.fixture(scope="module")
def gaussian():
    return GaussianMixtureScore(torch.full((1, 1, 4, 4), MU, dtype=torch.float64), STD)


@pytest.fixture(scope="module")
def mixture():
    means = 0.6 * torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return GaussianMixtureScore(means, 0.3)


def reference_edm_sampler(net, latents, noises, *, num_steps, sigma_min, sigma_max, rho, S_churn, S_min, S_max, S_noise):
    """NVlabs/edm `edm_sampler` (generate.py), written out; `randn_like` returns the given noises in turn."""
    step_indices = torch.arange(num_steps, dtype=torch.float64)
    t_steps = (sigma_max ** (1 / rho) + step_indices / (num_steps - 1) * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    t_steps = torch.cat([t_steps, torch.zeros_like(t_steps[:1])])
    x_next = latents.to(torch.float64) * t_steps[0]
    states = []
    for i, (t_cur, t_next) in enumerate(zip(t_steps[:-1], t_steps[1:])):
        x_cur = x_next
        gamma = min(S_churn / num_steps, np.sqrt(2) - 1) if S_min <= t_cur <= S_max else 0
        t_hat = t_cur + gamma * t_cur
        x_hat = x_cur + (t_hat**2 - t_cur**2).sqrt() * S_noise * noises[i]
        states.append((float(t_hat), x_hat))
        denoised = net(x_hat, t_hat).to(torch.float64)
        d_cur = (x_hat - denoised) / t_hat
        x_next = x_hat + (t_next - t_hat) * d_cur
        if i < num_steps - 1:
            denoised = net(x_next, t_next).to(torch.float64)
            d_prime = (x_next - denoised) / t_next
            x_next = x_hat + (t_next - t_hat) * (0.5 * d_cur + 0.5 * d_prime)
    return x_next, states


@pytest.mark.parametrize("S_churn", [0.0, 40.0])
def test_edm_samplers_equal_the_reference_algorithm_step_by_step(mixture, S_churn):
    model = edm_mixture_model(mixture).to(dtype=torch.float64)
    gen = torch.Generator().manual_seed(4)
    z = torch.randn(3, 1, 4, 4, generator=gen, dtype=torch.float64)
    noises = [torch.randn(3, 1, 4, 4, generator=gen, dtype=torch.float64) for _ in range(12)]
    settings = dict(num_steps=12, sigma_min=0.002, sigma_max=80.0, rho=7.0)
    churn = dict(S_churn=S_churn, S_min=0.05, S_max=50.0, S_noise=1.003)
    expected, states = reference_edm_sampler(lambda x, s: model.denoise(x, s), z, noises, **settings, **churn)
    seen = []
    if S_churn:
        ours = sample_edm_stochastic(model, z, **settings, **churn, step_noise=lambda i: noises[i], callback=seen.append)
    else:
        ours = sample_edm_heun(model, z, **settings, callback=seen.append)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-12)
    assert [s["step"] for s in seen] == list(range(12))
    for info, (t_hat, x_hat) in zip(seen, states):
        # the callback reports the state the network saw, in DDPM scaling x_ve / sqrt(1 + sigma^2)
        assert info["t"] == pytest.approx(t_hat, rel=1e-12)
        torch.testing.assert_close(info["x"] * math.sqrt(1 + t_hat**2), x_hat, rtol=1e-12, atol=1e-12)
    if S_churn:  # churn happened: the levels rose above the schedule's
        assert seen[1]["t"] > float(edm_sigmas(12, sigma_min=0.002, sigma_max=80.0)[1])


def test_euler_in_sigma_space_is_ddim_on_the_same_schedule(mixture):
    # DDIM (eta = 0) in VP coordinates is exactly Euler on dx/dsigma = (x - D) / sigma in VE coordinates
    model = vp_mixture_model(mixture, predicts="score").to(dtype=torch.float64)
    z = torch.randn(4, 1, 4, 4, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    ddim = sample_ddim(model, z, num_steps=25)
    scheduler = DDIMScheduler.from_config(model.scheduler.config)
    scheduler.set_timesteps(25)
    abars = model.scheduler.alphas_cumprod.double()[scheduler.timesteps]
    sigmas = torch.cat([sigma_from_abar(abars), torch.zeros(1, dtype=torch.float64)])
    # DDIM starts from x_vp = z at abar_0, i.e. x_ve = z sqrt(1 + sigma_0^2) = sigma_0 * (z sqrt(1 + sigma_0^2) / sigma_0)
    start = z * math.sqrt(1 + float(sigmas[0]) ** 2) / float(sigmas[0])
    euler = _edm_loop(model, start, sigmas=sigmas, kind="edm_heun", second_order=False)
    torch.testing.assert_close(euler, ddim, rtol=1e-6, atol=1e-6)


def test_heun_and_ddim_converge_to_the_closed_form_flow_of_gaussian_data(gaussian):
    # for data N(mu, s^2 I) the probability-flow ODE keeps (x - mu) / sqrt(s^2 + sigma^2) constant
    model = edm_mixture_model(gaussian).to(dtype=torch.float64)
    z = torch.randn(6, 1, 4, 4, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    sigma_max = model.sigma_max
    exact = MU + STD * (sigma_max * z - MU) / math.sqrt(STD**2 + sigma_max**2)
    errors = [float((sample_edm_heun(model, z, num_steps=n) - exact).abs().max()) for n in (50, 100, 200)]
    # second order: doubling the steps quarters the error (measured 8.2e-3, 2.0e-3, 4.7e-4)
    assert errors[2] < 1e-3 and errors[0] / errors[1] > 3.5 and errors[1] / errors[2] > 3.5
    # DDIM starts at x_vp = z, i.e. x_ve = sqrt(1 + sigma^2) z at the grid's top level
    sigma_top = float(sigma_from_abar(model.scheduler.alphas_cumprod.double()[-1]))
    exact_ddim = MU + STD * (math.sqrt(1 + sigma_top**2) * z - MU) / math.sqrt(STD**2 + sigma_top**2)
    assert float((sample_ddim(model, z, num_steps=1000) - exact_ddim).abs().max()) < 5e-3  # first order: 3.6e-3


FORMS = {
    "vp_sde_score": lambda g: vp_mixture_model(g, predicts="score"),
    "vp_sde_eps": lambda g: vp_mixture_model(g, predicts="eps", beta_min=2.0, beta_max=2.0, T=6.0),  # constant beta
    "vp_sde_x0": lambda g: vp_mixture_model(g, predicts="x0"),
    "edm_denoiser": lambda g: edm_mixture_model(g),
}
SAMPLERS = [
    ("ddim", {"num_steps": 20, "eta": 0.0}),
    ("ddim", {"num_steps": 20, "eta": 0.7}),
    ("ddpm", {"num_steps": 50}),
    ("edm_heun", {"num_steps": 12}),
    ("edm_stochastic", {"num_steps": 12}),
]


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("sampler,options", SAMPLERS)
def test_affine_model_gives_pn_correlation_minus_one_in_every_parametrization(gaussian, form, sampler, options):
    # Gaussian data: eps, score, x0 and D are affine in x, every step is affine in (state, injected noise),
    # and the twin negates both, so DM(z) + DM(-z) is constant (Lemma 1), EDM's churn included
    samples = generate(FORMS[form](gaussian), design=AntitheticNoise(seed=0), num_samples=32, sampler=sampler,
                       sampler_options=options, progress=False)
    pairs = pn_pairs(samples)
    np.testing.assert_allclose(pair_correlations(pairs[:, 0], pairs[:, 1]), -1.0, atol=1e-5)


def _pn_correlations(model, sampler, options, pairs=16):
    samples = generate(model, design=AntitheticNoise(seed=0), num_samples=2 * pairs, sampler=sampler,
                       sampler_options=options, progress=False)
    p = pn_pairs(samples)
    return pair_correlations(p[:, 0], p[:, 1])


def test_mixture_table1_numbers_are_the_ddpm_eps_numbers_on_the_same_grid():
    # same alpha-bar grid, same sampler: the parametrization changes no number (beyond rounding)
    gmm = GaussianMixtureScore(digits_class_means(), 0.3)
    for form in ("vp_sde_score", "edm_denoiser"):
        model = FORMS[form](gmm)
        ddpm_eps = gaussian_mixture_model(means=gmm.means, std=gmm.std, scheduler=model.scheduler)
        for sampler, options in (("ddim", {"num_steps": 50}), ("ddpm", {"num_steps": 50})):
            ours, reference = _pn_correlations(model, sampler, options), _pn_correlations(ddpm_eps, sampler, options)
            np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_mixture_table1_numbers_agree_across_noise_scales_and_samplers():
    # the digits mixture under converged solvers: DDIM with 1000 steps on the DDPM-eps form's own cosine
    # schedule, EDM's Heun with 100 steps on the VP-SDE and EDM forms. The probability-flow map z -> x_0
    # is the same ODE in every coordinate system, so the Table 1 number (mean PN correlation over the
    # same 16 noise pairs) agrees to 0.01 (measured: within 0.006; DDIM-50 vs Heun-18 differ by ~0.06)
    gmm = GaussianMixtureScore(digits_class_means(), 0.3)
    reference = _pn_correlations(gaussian_mixture_model(means=gmm.means, std=gmm.std), "ddim", {"num_steps": 1000})
    for form in ("vp_sde_score", "edm_denoiser"):
        ours = _pn_correlations(FORMS[form](gmm), "edm_heun", {"num_steps": 100})
        assert abs(float(np.mean(ours)) - float(np.mean(reference))) < 0.01, form
        np.testing.assert_allclose(ours, reference, atol=0.02)


def test_sigma_samplers_refuse_a_discrete_model_and_missing_noise(mixture):
    ddpm_eps = gaussian_model(mean=MU, std=STD, sample_shape=(1, 4, 4))
    z = torch.randn(2, 1, 4, 4)
    with pytest.raises(ValueError, match="parametrization 'ddpm_eps'.*cannot integrate.*VPSDEModel or EDMModel"):
        sample_edm_heun(ddpm_eps, z)
    with pytest.raises(ValueError, match="needs step_noise"):
        sample_edm_stochastic(edm_mixture_model(mixture), z)
    with pytest.raises(ValueError, match="num_steps >= 2"):
        sample_edm_heun(edm_mixture_model(mixture), z, num_steps=1)


def test_requested_noise_range_is_clamped_to_the_models():
    gmm = GaussianMixtureScore(torch.zeros(1, 1, 2, 2, dtype=torch.float64), 0.5)
    model = edm_mixture_model(gmm, sigma_min=0.01, sigma_max=20.0)
    seen = []
    sample_edm_heun(model, torch.randn(2, 1, 2, 2), num_steps=5, sigma_min=0.001, sigma_max=500.0, callback=seen.append)
    assert seen[0]["t"] == pytest.approx(20.0) and seen[-1]["t"] == pytest.approx(0.01)


def test_sigma_samplers_refuse_a_one_shot_generator():
    from test_generators import _linear_generator

    with pytest.raises(TypeError, match="need a diffusion model with a continuous noise scale"):
        sample_edm_heun(_linear_generator(), torch.zeros(2, 5))
