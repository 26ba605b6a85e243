"""The one conversion module (antithetic.parametrization) and the VP-SDE / EDM model wrappers."""

import math

import pytest
import torch
from parametrized_analytic import edm_mixture_model, vp_mixture_model

from antithetic.models import GaussianMixtureScore, gaussian_mixture_model
from antithetic.parametrization import (
    VPSDE,
    EDMScale,
    abar_from_sigma,
    denoiser_from_eps,
    eps_from_denoiser,
    eps_from_prediction,
    eps_from_score,
    eps_from_x0,
    score_from_eps,
    sigma_from_abar,
    ve_from_vp,
    vp_from_ve,
    x0_from_eps,
)


@pytest.fixture(scope="module")
def gmm():
    means = 0.5 * torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return GaussianMixtureScore(means, 0.3)


def test_conversions_are_mutually_inverse_and_agree_with_the_forward_process():
    gen = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(5, 6, generator=gen, dtype=torch.float64), torch.randn(5, 6, generator=gen, dtype=torch.float64)
    abar = torch.rand(5, 1, generator=gen, dtype=torch.float64) * 0.98 + 0.01
    x_vp = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    torch.testing.assert_close(x0_from_eps(x_vp, eps, abar), x0)
    torch.testing.assert_close(eps_from_x0(x_vp, x0, abar), eps)
    torch.testing.assert_close(eps_from_score(score_from_eps(eps, abar), abar), eps)
    # VE coordinates: x_ve = x0 + sigma eps is x_vp * sqrt(1 + sigma^2), with the same eps
    sigma = sigma_from_abar(abar)
    torch.testing.assert_close(abar_from_sigma(sigma), abar)
    x_ve = ve_from_vp(x_vp, sigma)
    torch.testing.assert_close(x_ve, x0 + sigma * eps)
    torch.testing.assert_close(vp_from_ve(x_ve, sigma), x_vp)
    torch.testing.assert_close(eps_from_denoiser(x_ve, x0, sigma), eps)
    torch.testing.assert_close(denoiser_from_eps(x_ve, eps, sigma), x0)
    for predicts, output in (("eps", eps), ("score", score_from_eps(eps, abar)), ("x0", x0)):
        torch.testing.assert_close(eps_from_prediction(predicts, output, x_vp, abar), eps)
    with pytest.raises(ValueError, match="predicts one of"):
        eps_from_prediction("v", eps, x_vp, abar)


@pytest.mark.parametrize("beta_min,beta_max,T", [(0.1, 20.0, 1.0), (1e-4, 0.02, 1000.0), (1.0, 1.0, 5.0)])
def test_vpsde_time_is_the_exact_inverse_of_alpha_bar(beta_min, beta_max, T):
    sde = VPSDE(beta_min, beta_max, T)
    t = torch.linspace(1e-4, 1, 200, dtype=torch.float64) * T
    torch.testing.assert_close(sde.time(sde.abar(t)), t, rtol=1e-10, atol=1e-12)
    # -log abar is the integral of beta(t) = beta_min + (t / T)(beta_max - beta_min) (trapezoid, 2001 points)
    grid = torch.linspace(0, float(t[-1]), 2001, dtype=torch.float64)
    integral = torch.trapezoid(beta_min + grid / T * (beta_max - beta_min), grid)
    assert math.isclose(float(-torch.log(sde.abar(t[-1]))), float(integral), rel_tol=1e-6)
    # EDM's closed forms for T = 1: vp_sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1) and its inverse
    if T == 1.0:
        beta_d = beta_max - beta_min
        vp_sigma = torch.sqrt(torch.exp(0.5 * beta_d * t**2 + beta_min * t) - 1)
        torch.testing.assert_close(sde.sigma(t), vp_sigma)
        inverse = (torch.sqrt(beta_min**2 + 2 * beta_d * torch.log(vp_sigma**2 + 1)) - beta_min) / beta_d
        torch.testing.assert_close(sde.time_of_sigma(vp_sigma), inverse)


def test_noise_scales_reject_impossible_constants():
    with pytest.raises(ValueError, match="beta_min <= beta_max"):
        VPSDE(1.0, 0.5)
    with pytest.raises(ValueError, match="sigma_min < sigma_max"):
        EDMScale(sigma_min=1.0, sigma_max=0.5)


@pytest.mark.parametrize("form", ["vp_score", "vp_eps", "vp_x0", "edm"])
def test_every_parametrization_gives_the_exact_eps_on_its_grid(gmm, form):
    # the wrapped network, converted to eps at grid step t, equals the DDPM-eps form of the same mixture
    # on the same alpha-bar table: the network is evaluated at the continuous t (or sigma) of that alpha-bar
    model = edm_mixture_model(gmm) if form == "edm" else vp_mixture_model(gmm, predicts=form[3:])
    reference = gaussian_mixture_model(means=gmm.means, std=gmm.std, scheduler=model.scheduler)
    x = torch.randn(4, 1, 4, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    model.to(dtype=torch.float64)
    for t in (0, 1, 250, 500, 999):
        torch.testing.assert_close(model.eps(x, t), reference.eps(x, t), rtol=1e-6, atol=1e-7)
    assert model.parametrization == {"vp_score": "vp_sde_score", "vp_eps": "vp_sde_eps", "vp_x0": "vp_sde_x0", "edm": "edm_denoiser"}[form]


@pytest.mark.parametrize("form", ["vp_score", "edm"])
def test_denoiser_of_every_parametrization_is_the_posterior_mean(gmm, form):
    # D(x; sigma) = x + sigma^2 grad log p_sigma(x) (Tweedie), for the VP model through x_vp = x / sqrt(1 + sigma^2)
    model = (edm_mixture_model(gmm) if form == "edm" else vp_mixture_model(gmm, predicts="score")).to(dtype=torch.float64)
    x = 3 * torch.randn(4, 1, 4, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    for sigma in (0.05, 0.7, 3.0):
        c = math.sqrt(1 + sigma**2)
        expected = x + sigma**2 * gmm.score(x / c, torch.full((4,), 1 / c**2, dtype=torch.float64)) / c
        torch.testing.assert_close(model.denoise(x, sigma), expected, rtol=1e-7, atol=1e-9)


def test_grids_span_the_models_noise_range():
    gmm = GaussianMixtureScore(torch.zeros(1, 1, 2, 2), 0.5)
    vp = vp_mixture_model(gmm, predicts="score")
    abars = vp.scheduler.alphas_cumprod.double()
    assert math.isclose(float(sigma_from_abar(abars[0])), vp.sigma_min, rel_tol=1e-3)  # float32 table
    assert math.isclose(float(sigma_from_abar(abars[-1])), vp.sigma_max, rel_tol=1e-3)
    edm = edm_mixture_model(gmm, sigma_min=0.01, sigma_max=50.0)
    sig = sigma_from_abar(edm.scheduler.alphas_cumprod.double())
    assert math.isclose(float(sig[0]), 0.01, rel_tol=1e-3) and math.isclose(float(sig[-1]), 50.0, rel_tol=1e-3)
    assert bool((sig[1:] > sig[:-1]).all())
