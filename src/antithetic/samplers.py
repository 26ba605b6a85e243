"""Samplers that take their noise.

Every sampler has the same signature (k-diffusion style)::

    sampler(model, x_T, *, num_steps, step_noise=None, cond=None, callback=None, **options) -> x_0

``x_T`` is the initial noise and ``step_noise`` a callable ``step -> tensor`` that returns the noise
injected at each step of a stochastic sampler (see :class:`antithetic.noise.StepNoise`); samplers
never draw random numbers themselves (NVlabs/edm). ``callback`` is called after every step with a
dict ``{"step", "t", "x", "eps", "x0"}``: ``x`` is the state the step started from (``x_t``),
``eps`` the model's prediction ``eps_t(x_t)`` and ``x0`` the predicted clean sample; trajectory and
symmetry probes hook in there.

The update rule is diffusers' :class:`~diffusers.DDIMScheduler` (Song et al. 2021, Eq. 12), built
from the model's training schedule and fed the injected noise through ``variance_noise``:

* :func:`sample_ddim`: DDIM with ``eta`` in [0, 1]; eta = 0 is the deterministic map DM(z).
* :func:`sample_ddpm`: ancestral DDPM sampling (Ho et al. 2020, Eq. 6-7), i.e. DDIM with eta = 1,
  whose per-step variance is the DDPM posterior variance ``beta~_t``. With ``num_steps`` equal to the
  training horizon it is the original sampler; fewer steps give the respaced DDPM of Nichol &
  Dhariwal (2021). ``x_0`` is re-derived from the clipped prediction, as in DDPM.

One-shot generators (VAE, flow) use :func:`antithetic.models.generator.sample_decode` (kind ``decode``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from diffusers import DDIMScheduler
from tqdm.auto import tqdm

from .kinds import SAMPLER_KINDS
from .models.base import DiffusionModel
from .models.consistency import sample_consistency
from .models.generator import sample_decode

__all__ = ["SAMPLERS", "get_sampler", "sample_ddim", "sample_ddpm"]

Callback = Callable[[dict[str, Any]], None]


def _ddim_loop(
    model: DiffusionModel,
    x_T: torch.Tensor,
    *,
    num_steps: int,
    eta: float,
    step_noise: Callable[[int], torch.Tensor] | None,
    cond: Any,
    callback: Callback | None,
    use_clipped_model_output: bool,
    progress: bool,
) -> torch.Tensor:
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must lie in [0, 1], got {eta}")
    if eta > 0 and step_noise is None:
        raise ValueError("a stochastic sampler (eta > 0) needs step_noise: samplers never draw noise themselves")
    train_steps = model.scheduler.config.num_train_timesteps
    if not 1 <= num_steps <= train_steps:
        raise ValueError(f"num_steps must lie in [1, {train_steps}], got {num_steps}")
    scheduler = DDIMScheduler.from_config(model.scheduler.config)
    scheduler.set_timesteps(num_steps, device=x_T.device)

    x = x_T
    for i, t in enumerate(tqdm(scheduler.timesteps, desc="sampling", disable=not progress, leave=False)):
        # 1. predict the noise at the current state
        eps = model.eps(x, t, cond)
        # 2. the injected noise of this step (negated for the antithetic twin by the design)
        noise = step_noise(i) if eta > 0 else None
        # 3. DDIM update x_t -> x_{t-1}
        out = scheduler.step(
            eps, t, x, eta=eta, variance_noise=noise, use_clipped_model_output=use_clipped_model_output
        )
        if callback is not None:
            callback({"step": i, "t": int(t), "x": x, "eps": eps, "x0": out.pred_original_sample})
        x = out.prev_sample
    return x


def sample_ddim(
    model: DiffusionModel,
    x_T: torch.Tensor,
    *,
    num_steps: int = 50,
    eta: float = 0.0,
    step_noise: Callable[[int], torch.Tensor] | None = None,
    cond: Any = None,
    callback: Callback | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """DDIM sampling from ``x_T`` with ``num_steps`` steps and stochasticity ``eta``."""
    return _ddim_loop(
        model, x_T, num_steps=num_steps, eta=eta, step_noise=step_noise, cond=cond,
        callback=callback, use_clipped_model_output=False, progress=progress,
    )


def sample_ddpm(
    model: DiffusionModel,
    x_T: torch.Tensor,
    *,
    num_steps: int | None = None,
    step_noise: Callable[[int], torch.Tensor] | None = None,
    cond: Any = None,
    callback: Callback | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Ancestral DDPM sampling; ``num_steps=None`` uses every training timestep."""
    num_steps = num_steps or model.scheduler.config.num_train_timesteps
    return _ddim_loop(
        model, x_T, num_steps=num_steps, eta=1.0, step_noise=step_noise, cond=cond,
        callback=callback, use_clipped_model_output=True, progress=progress,
    )


SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {"ddim": sample_ddim, "ddpm": sample_ddpm, "consistency": sample_consistency, "decode": sample_decode}

def get_sampler(kind: str) -> Callable[..., torch.Tensor]:
    """Look a sampler up by its config name."""
    if kind not in SAMPLERS:
        raise ValueError(f"unknown sampler kind {kind!r}; known: {sorted(SAMPLERS)}")
    return SAMPLERS[kind]


def is_stochastic(kind: str, options: dict[str, Any]) -> bool:
    """Whether a configured sampler needs per-step noise."""
    return SAMPLER_KINDS[kind].stochastic or float(options.get("eta", 0.0)) > 0
