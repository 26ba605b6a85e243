"""The analytic Gaussian-mixture models of antithetic.models.analytic, written in every parametrization.

A Gaussian ``N(mu, s^2 I)`` is the one-component mixture. Each network below computes its prediction from
the exact score ``GaussianMixtureScore.score(x_vp, abar)`` at its own noise scale, the way a user's
network would be called: continuous ``t`` for the VP-SDE, ``sigma`` and VE coordinates for EDM.
"""

from __future__ import annotations

import torch

from antithetic.models import EDMModel, GaussianMixtureScore, VPSDEModel
from antithetic.parametrization import VPSDE


def vp_mixture_model(gmm: GaussianMixtureScore, *, predicts: str, beta_min=0.1, beta_max=20.0, T=1.0, name="vp") -> VPSDEModel:
    sde = VPSDE(beta_min, beta_max, T)

    def net(x, t, cond=None):
        abar = sde.abar(t).view(-1, *([1] * (x.ndim - 1)))
        score = gmm.score(x, abar)
        if predicts == "score":
            return score.to(x.dtype)
        if predicts == "eps":
            return (-torch.sqrt(1 - abar) * score).to(x.dtype)
        return ((x.double() + (1 - abar) * score) / torch.sqrt(abar)).to(x.dtype)  # Tweedie: E[x_0 | x_t]

    shape = tuple(gmm.means.shape[1:])
    return VPSDEModel(net=net, predicts=predicts, beta_min=beta_min, beta_max=beta_max, T=T, sample_shape=shape, name=name)


def edm_mixture_model(gmm: GaussianMixtureScore, *, sigma_min=0.002, sigma_max=80.0, name="edm") -> EDMModel:
    def denoiser(x, sigma, cond=None):
        # D(x; sigma) = x + sigma^2 grad log p_sigma(x), and p_sigma(x) = c^-d p_vp(x / c) with c = sqrt(1 + sigma^2)
        s = sigma.double().view(-1, *([1] * (x.ndim - 1)))
        c = torch.sqrt(1 + s**2)
        return (x.double() + s**2 * gmm.score(x / c, 1 / c**2) / c).to(x.dtype)

    shape = tuple(gmm.means.shape[1:])
    return EDMModel(denoiser=denoiser, sigma_min=sigma_min, sigma_max=sigma_max, sample_shape=shape, name=name)
