"""Parametrizations of a diffusion network: the one place where eps, score, x0 and D(x; sigma) convert.

Two coordinate systems describe the same noised data:

* **VP / DDPM** (Ho et al. 2020; the paper's "Preliminaries"): ``x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps``.
  A network predicts the noise ``eps``, the score ``grad log p_t(x_t)``, or the clean sample ``x0``:

      eps = -sqrt(1 - abar) * score,        x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar).

* **VE / EDM** (Karras et al. 2022): ``x = x_0 + sigma n``, and the network is the denoiser
  ``D(x; sigma) ~ E[x_0 | x]`` (an x0 prediction; EDM's preconditioning ``c_skip, c_out, c_in, c_noise``
  with ``sigma_data`` lives inside the user's network).

They are the same process up to a scaling: with ``abar = 1 / (1 + sigma^2)``, i.e.
``sigma = sqrt((1 - abar) / abar)``,

    x_vp = x_ve / sqrt(1 + sigma^2),   eps = (x_ve - D(x_ve; sigma)) / sigma   (the same eps in both).

* **Rectified flow** (Liu et al. 2023; the flow models FlowEdit edits with, e.g. SD3): ``z_s = (1 - s) x_0 + s n``
  for ``s`` in ``[0, 1]``, and the network predicts the velocity ``v = n - x_0``. A VP state is a rescaled
  rectified-flow state: with ``alpha = sqrt(abar)``, ``sigma = sqrt(1 - abar)``,

      z_s = x_vp / (alpha + sigma)   at   s = sigma / (alpha + sigma),

  so an eps-model read at ``x_vp = (alpha + sigma) z`` gives ``v = eps - x0`` (:func:`rectified_flow_velocity`).

Noise scales (continuous time):

* :class:`VPSDE`: the VP-SDE of Song et al. (2021) with ``beta(t) = beta_min + (t / T) (beta_max - beta_min)``
  for ``t`` in ``[0, T]`` (``beta_min = beta_max``: constant beta), ``abar(t) = exp(-int_0^t beta)``.
  :meth:`VPSDE.time` inverts it exactly, so a sampler step at alpha-bar ``abar`` evaluates the network at
  the continuous ``t`` with ``abar(t) = abar``.
* :class:`EDMScale`: the noise levels ``[sigma_min, sigma_max]`` an EDM denoiser was trained on, and its
  ``sigma_data``.

All arithmetic is float64; the model wrappers in :mod:`antithetic.models.base` call these functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = [
    "EDMScale",
    "PREDICTIONS",
    "VPSDE",
    "abar_from_sigma",
    "rectified_flow_time",
    "rectified_flow_velocity",
    "eps_from_prediction",
    "eps_from_denoiser",
    "denoiser_from_eps",
    "eps_from_score",
    "eps_from_x0",
    "score_from_eps",
    "sigma_from_abar",
    "ve_from_vp",
    "vp_from_ve",
    "x0_from_eps",
]

#: what a VP network may predict
PREDICTIONS = ("eps", "score", "x0")


def _f64(value) -> torch.Tensor:
    return torch.as_tensor(value, dtype=torch.float64)


def abar_from_sigma(sigma):
    """``abar = 1 / (1 + sigma^2)``: the VP alpha-bar of the VE noise level ``sigma``."""
    return 1.0 / (1.0 + sigma**2)


def sigma_from_abar(abar):
    """``sigma = sqrt((1 - abar) / abar)``: the VE noise level of the VP alpha-bar ``abar``."""
    return ((1.0 - abar) / abar) ** 0.5


def vp_from_ve(x_ve: torch.Tensor, sigma) -> torch.Tensor:
    """``x_vp = x_ve / sqrt(1 + sigma^2)`` (``sigma`` broadcasts against ``x_ve``)."""
    return x_ve / (1.0 + sigma**2) ** 0.5


def ve_from_vp(x_vp: torch.Tensor, sigma) -> torch.Tensor:
    """``x_ve = x_vp * sqrt(1 + sigma^2)``."""
    return x_vp * (1.0 + sigma**2) ** 0.5


def eps_from_score(score: torch.Tensor, abar) -> torch.Tensor:
    """``eps = -sqrt(1 - abar) * score`` (score of the VP marginal ``p_t`` at ``x_vp``)."""
    return -((1.0 - abar) ** 0.5) * score


def score_from_eps(eps: torch.Tensor, abar) -> torch.Tensor:
    """``score = -eps / sqrt(1 - abar)``."""
    return -eps / (1.0 - abar) ** 0.5


def x0_from_eps(x_vp: torch.Tensor, eps: torch.Tensor, abar) -> torch.Tensor:
    """``x0 = (x_vp - sqrt(1 - abar) eps) / sqrt(abar)``."""
    return (x_vp - (1.0 - abar) ** 0.5 * eps) / abar**0.5


def eps_from_x0(x_vp: torch.Tensor, x0: torch.Tensor, abar) -> torch.Tensor:
    """``eps = (x_vp - sqrt(abar) x0) / sqrt(1 - abar)``."""
    return (x_vp - abar**0.5 * x0) / (1.0 - abar) ** 0.5


def eps_from_denoiser(x_ve: torch.Tensor, denoised: torch.Tensor, sigma) -> torch.Tensor:
    """``eps = (x_ve - D(x_ve; sigma)) / sigma``: EDM's ODE direction ``dx/dsigma`` is this eps."""
    return (x_ve - denoised) / sigma


def denoiser_from_eps(x_ve: torch.Tensor, eps: torch.Tensor, sigma) -> torch.Tensor:
    """``D = x_ve - sigma eps``."""
    return x_ve - sigma * eps


def eps_from_prediction(predicts: str, output: torch.Tensor, x_vp: torch.Tensor, abar) -> torch.Tensor:
    """The noise ``eps`` of a VP network's ``output`` that predicts ``predicts`` (``eps``, ``score`` or ``x0``)."""
    if predicts == "eps":
        return output
    if predicts == "score":
        return eps_from_score(output, abar)
    if predicts == "x0":
        return eps_from_x0(x_vp, output, abar)
    raise ValueError(f"a VP network predicts one of {PREDICTIONS}, got {predicts!r}")


def rectified_flow_time(abar):
    """``s = sigma / (alpha + sigma)`` with ``alpha = sqrt(abar)``, ``sigma = sqrt(1 - abar)``: the rectified-flow
    time of the VP alpha-bar ``abar`` (``abar = 1`` is ``s = 0``, the data; ``abar -> 0`` is ``s -> 1``, the noise)."""
    abar = _f64(abar)
    alpha, sigma = abar.sqrt(), (1.0 - abar).sqrt()
    return sigma / (alpha + sigma)


def rectified_flow_velocity(eps_of: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, abar) -> torch.Tensor:
    """The rectified-flow velocity ``v = n - x_0`` that a VP noise predictor implies at the flow state ``z``.

    The flow state ``z_s = (1 - s) x_0 + s n`` at ``s = rectified_flow_time(abar)`` is the VP state
    ``x_t = sqrt(abar) x_0 + sqrt(1 - abar) n`` divided by ``alpha + sigma``, with the same ``x_0`` and
    the same noise ``n``. So, with ``alpha = sqrt(abar)`` and ``sigma = sqrt(1 - abar)``::

        x_t = (alpha + sigma) z,   eps = eps_of(x_t),   x0 = (x_t - sigma eps) / alpha,   v = eps - x0.

    The prediction is exact where the noise predictor is: ``E[eps | x_t] - E[x_0 | x_t] = E[n - x_0 | z_s]``.

    Args:
        eps_of: the noise predictor at the VP alpha-bar ``abar``, ``x_t -> eps`` (e.g.
            ``lambda x: model.eps(x, t, cond)`` at the integer timestep ``t`` whose alpha-bar is ``abar``).
        z: the flow states ``(B, ...)``.
        abar: the alpha-bar, a number or a tensor that broadcasts against ``z``.

    Returns:
        ``v`` with the shape and dtype of ``z`` (computed in float64).
    """
    abar = _f64(abar).to(z.device)
    alpha, sigma = abar.sqrt(), (1.0 - abar).sqrt()
    x_t = (alpha + sigma) * z.double()
    eps = eps_of(x_t.to(z.dtype)).double()
    return (eps - x0_from_eps(x_t, eps, abar)).to(z.dtype)


@dataclass(frozen=True)
class VPSDE:
    """The VP-SDE ``dx = -beta(t) x / 2 dt + sqrt(beta(t)) dW`` with linear ``beta(t)`` on ``[0, T]``.

    ``beta(t) = beta_min + (t / T) (beta_max - beta_min)``, so
    ``-log abar(t) = beta_min t + (beta_max - beta_min) t^2 / (2 T)``. Score-SDE's defaults are
    ``beta_min = 0.1, beta_max = 20, T = 1``; ``beta_min = beta_max`` gives a constant beta.
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    T: float = 1.0

    def __post_init__(self) -> None:
        if not (self.beta_min > 0 and self.beta_max >= self.beta_min and self.T > 0):
            raise ValueError(
                f"a VP-SDE needs 0 < beta_min <= beta_max and T > 0, got beta_min={self.beta_min}, "
                f"beta_max={self.beta_max}, T={self.T}"
            )

    def abar(self, t):
        """``abar(t) = exp(-beta_min t - (beta_max - beta_min) t^2 / (2 T))``."""
        t = _f64(t)
        return torch.exp(-(self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) / self.T * t**2))

    def time(self, abar):
        """The exact inverse of :meth:`abar`: the ``t`` with ``abar(t) = abar``.

        Solves ``beta_min t + d t^2 / 2 = L`` (``L = -log abar``, ``d = (beta_max - beta_min) / T``) in the
        cancellation-free form ``t = 2 L / (beta_min + sqrt(beta_min^2 + 2 d L))``, which is also right
        for ``d = 0`` (constant beta).
        """
        log_inv = -torch.log(_f64(abar))
        d = (self.beta_max - self.beta_min) / self.T
        return 2 * log_inv / (self.beta_min + torch.sqrt(self.beta_min**2 + 2 * d * log_inv))

    def sigma(self, t):
        """VE noise level ``sigma(t) = sqrt(1 / abar(t) - 1)`` (EDM's ``vp_sigma``)."""
        return sigma_from_abar(self.abar(t))

    def time_of_sigma(self, sigma):
        """The ``t`` with ``sigma(t) = sigma``."""
        return self.time(abar_from_sigma(_f64(sigma)))


@dataclass(frozen=True)
class EDMScale:
    """Noise levels of an EDM denoiser: trained on ``[sigma_min, sigma_max]``; ``sigma_data`` is the data
    standard deviation of its preconditioning (recorded, not used by the samplers). EDM's defaults."""

    sigma_min: float = 0.002
    sigma_max: float = 80.0
    sigma_data: float = 0.5

    def __post_init__(self) -> None:
        if not (0 < self.sigma_min < self.sigma_max and self.sigma_data > 0):
            raise ValueError(
                f"an EDM noise scale needs 0 < sigma_min < sigma_max and sigma_data > 0, got sigma_min={self.sigma_min}, "
                f"sigma_max={self.sigma_max}, sigma_data={self.sigma_data}"
            )

    def log_uniform_sigmas(self, num: int) -> torch.Tensor:
        """``num`` levels from ``sigma_min`` to ``sigma_max``, uniform in ``log sigma`` (ascending)."""
        return torch.exp(torch.linspace(math.log(self.sigma_min), math.log(self.sigma_max), num, dtype=torch.float64))
