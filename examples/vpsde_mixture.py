"""Your own model for the antithetic workflow: a continuous-time VP-SDE score network.

This file is a template. It writes the exact score of a Gaussian mixture centred on the ten digit
class means (sklearn's 8x8 digits in [-1, 1]) the way a score-SDE network is written: a
``torch.nn.Module`` called as ``net(x_t, t)`` with continuous ``t`` in ``[0, T]``, returning
``grad log p_t(x_t)`` under the VP-SDE with linear ``beta(t)`` from ``beta_min`` to ``beta_max``.
Replace ``MixtureScore`` by your trained network (load its checkpoint in ``build``) and keep the
``VPSDEModel`` call: it states what the network predicts and on which noise scale, and the workflow
does the rest (DDIM/DDPM on a fine grid of exact continuous times, EDM's Heun and stochastic samplers
in sigma space, the symmetry probes on eps).

Config (see docs/own-model.md)::

    models:
      vpsde-digits-mixture:
        kind: python
        factory: "vpsde_mixture:build"      # this file on PYTHONPATH, e.g. PYTHONPATH=examples
        options: {std: 0.3, beta_min: 0.1, beta_max: 20.0}
        parametrization: vp_sde_score
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits

from antithetic.models import VPSDEModel


def digit_class_means() -> torch.Tensor:
    """Mean image of each digit class, shape ``(10, 1, 8, 8)``, pixels scaled from [0, 16] to [-1, 1]."""
    digits = load_digits()
    images = digits.images / 16.0 * 2.0 - 1.0
    return torch.from_numpy(np.stack([images[digits.target == c].mean(0) for c in range(10)])).unsqueeze(1)


class MixtureScore(torch.nn.Module):
    """``grad log p_t(x)`` of ``x_t = sqrt(abar(t)) x_0 + sqrt(1 - abar(t)) eps`` with ``x_0 ~ (1/K) sum_k N(mu_k, s^2 I)``.

    ``p_t`` is the mixture of ``N(sqrt(abar) mu_k, (abar s^2 + 1 - abar) I)``, so the score is the
    responsibility-weighted Gaussian score ``-sum_k r_k(x) (x - sqrt(abar) mu_k) / v``.
    """

    def __init__(self, means: torch.Tensor, std: float, beta_min: float, beta_max: float, T: float) -> None:
        super().__init__()
        self.register_buffer("means", means.to(torch.float32))
        self.std, self.beta_min, self.beta_max, self.T = float(std), float(beta_min), float(beta_max), float(T)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond=None) -> torch.Tensor:
        # alpha-bar of the VP-SDE: abar(t) = exp(-beta_min t - (beta_max - beta_min) t^2 / (2 T))
        t = t.to(torch.float64).view(-1, 1, 1)
        abar = torch.exp(-(self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) / self.T * t**2))
        var = abar * self.std**2 + 1 - abar                                          # (B, 1, 1)
        diff = x.double().flatten(1)[:, None] - abar.sqrt() * self.means.double().flatten(1)[None]  # (B, K, D)
        resp = torch.softmax(-0.5 * (diff**2).sum(-1, keepdim=True) / var, dim=1)   # equal variances: no log-det term
        return (-(resp * diff).sum(1) / var[:, 0]).view_as(x).to(x.dtype)


def build(*, std: float = 0.3, beta_min: float = 0.1, beta_max: float = 20.0, T: float = 1.0) -> VPSDEModel:
    """The factory named by ``models.<name>.factory``; its keyword arguments come from ``options``."""
    net = MixtureScore(digit_class_means(), std, beta_min, beta_max, T)
    return VPSDEModel(
        net=lambda x, t, cond: net(x, t, cond),  # net(x_t, t, cond) -> grad log p_t(x_t)
        predicts="score",                         # or "eps" / "x0", whatever your network outputs
        beta_min=beta_min, beta_max=beta_max, T=T,
        sample_shape=(1, 8, 8),
        name="vpsde-digits-mixture",
        module=net,                               # moved to the device and hashed for provenance
        info={"data": "GMM on digit class means", "std": std},
    )
