"""Shared pieces of the symmetry probes: seed streams, batched model calls, schedule facts of a t."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..models.base import DiffusionModel

#: stream keys of :func:`antithetic.noise.derive_seed` used here (distinct from the designs' streams)
DIRECTION_STREAM = 1001
PROBE_STREAM = 1002
FISHER_STREAM = 1003
DATA_STREAM = 1004
BOOTSTRAP_STREAM = 1005


def batched_eps(model: DiffusionModel, x: torch.Tensor, t: int, batch_size: int) -> torch.Tensor:
    """``eps_t(x)`` in float64 on the CPU, ``batch_size`` rows per forward pass."""
    out = []
    for i in range(0, len(x), batch_size):
        chunk = x[i : i + batch_size].to(device=model.device, dtype=model.dtype)
        out.append(model.eps(chunk, int(t)).double().cpu())
    return torch.cat(out)


def ou_time(abar: float | np.ndarray) -> float | np.ndarray:
    """OU time ``tau`` of a VP / DDPM noise level: ``abar_t = exp(-2 tau)``, i.e. ``tau = -log(abar_t) / 2``.

    The OU process ``dX = -X dtau + sqrt(2) dW`` has ``X_tau = e^{-tau} X_0 + sqrt(1 - e^{-2 tau}) Z``,
    the DDPM forward marginal ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) z`` with ``sqrt(abar_t) = e^{-tau}``;
    the stationary law is gamma = N(0, I) and the score is ``s_t(x) = -eps_t(x) / sqrt(1 - abar_t)``.
    """
    return -0.5 * np.log(abar)


def schedule_row(model: DiffusionModel, t: int) -> dict[str, float]:
    """``t``, ``abar_t``, ``sigma_t = sqrt(1 - abar_t)`` and the OU time ``tau`` of training timestep ``t``."""
    abar = float(model.scheduler.alphas_cumprod[int(t)])
    return {"t": int(t), "abar": abar, "sigma": math.sqrt(1 - abar), "tau": ou_time(abar)}
