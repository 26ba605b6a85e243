"""Analytic models whose exact noise predictor is known in closed form.

They sit behind the same :class:`~antithetic.models.base.DiffusionModel` interface as trained
networks and give tests and the workflow a ground truth.

With the forward process ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`` the exact noise predictor
is ``eps_t(x) = -sqrt(1 - abar_t) * grad log p_t(x)``.

* :func:`gaussian_model`: data ``x_0 ~ N(mu, s^2 I)``. Then ``x_t ~ N(sqrt(abar_t) mu, v_t I)`` with
  ``v_t = abar_t s^2 + 1 - abar_t`` and ``eps_t(x) = a_t x + c_t``, ``a_t = sqrt(1 - abar_t) / v_t``,
  ``c_t = -sqrt(1 - abar_t) sqrt(abar_t) mu / v_t``: exactly *affine antisymmetric*
  (``eps_t(x) + eps_t(-x) = 2 c_t``, paper's conjecture holds with equality), so every DDIM step is
  affine and the PN pair correlation is exactly -1 (paper, Lemma 1 and Conjecture).
* :func:`gaussian_mixture_model`: data ``x_0 ~ sum_k pi_k N(mu_k, s^2 I)``, whose exact score is a
  responsibility-weighted sum of Gaussian scores. It is *not* affine, so it shows how much
  antisymmetry the data alone imposes, next to what a trained network adds.
"""

from __future__ import annotations

import math

import torch
from diffusers import DDPMScheduler

from .base import DiffusionModel

__all__ = ["default_schedule", "gaussian_mixture_model", "gaussian_model", "GaussianMixtureScore"]


def default_schedule(num_train_timesteps: int = 1000, beta_schedule: str = "squaredcos_cap_v2") -> DDPMScheduler:
    """A DDPM schedule without sample clipping: clipping x_0 would make an affine model non-affine."""
    return DDPMScheduler(
        num_train_timesteps=num_train_timesteps, beta_schedule=beta_schedule, clip_sample=False
    )


def _abar(scheduler, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    abar = scheduler.alphas_cumprod.to(device=like.device, dtype=torch.float64)[t.long()]
    return abar.view(-1, *([1] * (like.ndim - 1)))


def gaussian_model(
    *,
    mean: float | torch.Tensor = 0.0,
    std: float = 0.5,
    sample_shape: tuple[int, ...] = (1, 8, 8),
    scheduler: DDPMScheduler | None = None,
    name: str = "gaussian",
) -> DiffusionModel:
    """Exact noise predictor of Gaussian data ``N(mean, std^2 I)``: affine in ``x`` (see module docs)."""
    if std <= 0:
        raise ValueError(f"std must be positive, got {std}")
    scheduler = scheduler or default_schedule()
    mu = torch.as_tensor(mean, dtype=torch.float64).expand(sample_shape).clone()

    def eps(x: torch.Tensor, t: torch.Tensor, cond=None) -> torch.Tensor:
        abar = _abar(scheduler, t, x)
        v = abar * std**2 + (1 - abar)
        a = torch.sqrt(1 - abar) / v
        c = -torch.sqrt(1 - abar) * torch.sqrt(abar) * mu.to(x.device) / v
        return (a * x.double() + c).to(x.dtype)

    info = {"kind": "affine_odd", "data": f"N({float(mu.mean()):g}, {std:g}^2 I)", "std": std}
    return DiffusionModel(eps=eps, scheduler=scheduler, sample_shape=sample_shape, name=name, info=info)


class GaussianMixtureScore:
    """Exact score and noise predictor of a noised isotropic Gaussian mixture.

    Args:
        means: component means, shape ``(K, *sample_shape)``.
        std: common component standard deviation ``s`` of the data.
        weights: mixture weights ``pi_k`` (uniform if omitted).
    """

    def __init__(self, means: torch.Tensor, std: float, weights: torch.Tensor | None = None) -> None:
        if std <= 0:
            raise ValueError(f"std must be positive, got {std}")
        self.means = means.to(torch.float64)
        self.std = float(std)
        k = means.shape[0]
        w = torch.full((k,), 1.0 / k, dtype=torch.float64) if weights is None else weights.to(torch.float64)
        if w.shape != (k,) or (w < 0).any() or not math.isclose(float(w.sum()), 1.0, rel_tol=1e-6):
            raise ValueError("weights must be K non-negative numbers summing to 1")
        self.log_weights = torch.log(w)

    def score(self, x: torch.Tensor, abar: torch.Tensor) -> torch.Tensor:
        """``grad log p_t(x)`` where ``p_t`` is the law of ``sqrt(abar) x_0 + sqrt(1 - abar) eps``.

        ``abar`` broadcasts against ``x`` (shape ``(B, 1, ..., 1)``).
        """
        b = x.shape[0]
        xf = x.double().reshape(b, 1, -1)                                 # (B, 1, D)
        a = abar.reshape(b, 1, 1).double()
        mus = self.means.to(x.device).reshape(1, self.means.shape[0], -1)  # (1, K, D)
        var = a * self.std**2 + (1 - a)                                    # (B, 1, 1)
        diff = xf - torch.sqrt(a) * mus                                    # (B, K, D)
        d = diff.shape[-1]
        logits = self.log_weights.to(x.device) - 0.5 * (diff**2).sum(-1) / var[..., 0] - 0.5 * d * torch.log(var[..., 0])
        resp = torch.softmax(logits, dim=1).unsqueeze(-1)                  # (B, K, 1)
        return (-(resp * diff).sum(1) / var[:, 0]).reshape(x.shape)

    def log_density(self, x: torch.Tensor, abar: torch.Tensor) -> torch.Tensor:
        """``log p_t(x)`` (used by tests to check :meth:`score` against autograd)."""
        b = x.shape[0]
        xf = x.double().reshape(b, 1, -1)
        a = abar.reshape(b, 1, 1).double()
        mus = self.means.to(x.device).reshape(1, self.means.shape[0], -1)
        var = (a * self.std**2 + (1 - a))[..., 0]
        diff = xf - torch.sqrt(a) * mus
        d = diff.shape[-1]
        comp = self.log_weights - 0.5 * (diff**2).sum(-1) / var - 0.5 * d * torch.log(2 * math.pi * var)
        return torch.logsumexp(comp, dim=1)


def gaussian_mixture_model(
    *,
    means: torch.Tensor,
    std: float,
    weights: torch.Tensor | None = None,
    scheduler: DDPMScheduler | None = None,
    name: str = "gaussian-mixture",
    data: str = "Gaussian mixture",
) -> DiffusionModel:
    """Exact noise predictor ``eps_t(x) = -sqrt(1 - abar_t) grad log p_t(x)`` of a Gaussian mixture."""
    scheduler = scheduler or default_schedule()
    gmm = GaussianMixtureScore(means, std, weights)

    def eps(x: torch.Tensor, t: torch.Tensor, cond=None) -> torch.Tensor:
        abar = _abar(scheduler, t, x)
        return (-torch.sqrt(1 - abar) * gmm.score(x, abar)).to(x.dtype)

    info = {"kind": "gaussian_mixture", "data": data, "components": int(means.shape[0]), "std": std}
    model = DiffusionModel(
        eps=eps, scheduler=scheduler, sample_shape=tuple(means.shape[1:]), name=name, info=info
    )
    model.mixture = gmm
    return model
