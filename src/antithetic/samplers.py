"""Samplers that take their noise.

Every sampler has the same signature (k-diffusion style)::

    sampler(model, x_T, *, num_steps, step_noise=None, cond=None, callback=None, **options) -> x_0

``x_T`` is the initial noise and ``step_noise`` a callable ``step -> tensor`` that returns the noise
injected at each step of a stochastic sampler (see :class:`antithetic.noise.StepNoise`); samplers
never draw random numbers themselves (NVlabs/edm). ``callback`` is called after every step with a
dict ``{"step", "t", "x", "eps", "x0"}``: ``x`` is the state the step started from (``x_t``),
``eps`` the model's prediction ``eps_t(x_t)`` and ``x0`` the predicted clean sample; trajectory and
symmetry probes hook in there.

The DDIM/DDPM samplers take two more hooks, so that guided and partial runs are options of the one loop
rather than copies of it:

* ``guidance``: a callable ``guidance(model, x, t, *, abar, cond) -> (eps, shift, extras)`` that replaces the
  model call of every step: ``eps`` feeds the sampler's update, ``shift`` (or ``None``) is added to the state
  after the update and ``extras`` go into the callback's dict. Diffusion posterior sampling
  (:class:`antithetic.inverse.DPSGuidance`) is such a hook: its ``eps`` comes from a differentiable model
  call and its shift is ``-zeta`` times the gradient of the measurement residual.
* ``start``: a :class:`Start` ``(t, image)`` enters the timestep grid part-way (SDEdit, Meng et al. 2022):
  at the largest grid timestep ``t_s <= t``, from the forward process of ``image`` with the sampler's own
  noise, ``x_{t_s} = sqrt(abar_{t_s}) image + sqrt(1 - abar_{t_s}) x_T``; the steps are then numbered from 0.

The update rule is diffusers' :class:`~diffusers.DDIMScheduler` (Song et al. 2021, Eq. 12), built
from the model's training schedule and fed the injected noise through ``variance_noise``:

* :func:`sample_ddim`: DDIM with ``eta`` in [0, 1]; eta = 0 is the deterministic map DM(z).
* :func:`sample_ddpm`: ancestral DDPM sampling (Ho et al. 2020, Eq. 6-7) with the variance the
  checkpoint's scheduler names (``variance_type``): ``fixed_small`` (``sigma_t^2 = beta~_t``, the posterior
  variance; DDIM with eta = 1) or ``fixed_large`` (``sigma_t^2 = beta_t``, e.g. ``google/ddpm-cifar10-32``;
  the posterior mean plus ``sqrt(beta_t)`` times the injected noise, diffusers' ``DDPMScheduler.step``).
  With ``num_steps`` equal to the training horizon it is the original sampler; fewer steps give the
  respaced DDPM of Nichol & Dhariwal (2021). ``x_0`` is re-derived from the clipped prediction, as in DDPM.

Sigma-space samplers (Karras et al. 2022, "EDM"; NVlabs/edm ``edm_sampler``, k-diffusion ``sample_heun``)
integrate the probability-flow ODE ``dx/dsigma = (x - D(x; sigma)) / sigma`` in VE coordinates on the
rho-schedule ``sigma_i = (sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho``,
``sigma_N = 0``, starting from ``x = sigma_0 z``. They need a model with a continuous noise scale
(:class:`~antithetic.models.base.ContinuousDiffusionModel`, parametrizations ``vp_sde_*`` and ``edm_denoiser``):

* :func:`sample_edm_heun`: the deterministic Heun sampler (EDM Algorithm 1); Euler on the last step.
* :func:`sample_edm_stochastic`: EDM Algorithm 2: before step i the noise level rises from ``sigma_i`` to
  ``sigma^_i = (1 + gamma_i) sigma_i``, ``gamma_i = min(S_churn / N, sqrt(2) - 1)`` for ``S_min <= sigma_i <= S_max``,
  by adding ``sqrt(sigma^_i^2 - sigma_i^2) S_noise`` times the step's injected noise ``step_noise(i)``; the
  antithetic twin's design negates that noise. Defaults are EDM's ImageNet-64 settings.

Their callback reports ``t`` as the noise level ``sigma^_i`` (a float), ``x`` in DDPM scaling
``x_ve / sqrt(1 + sigma^2)`` (the state the network is evaluated at, after the churn), ``eps`` the ODE
direction ``(x_ve - D) / sigma`` (the same eps as in DDPM scaling) and ``x0 = D``.

Every sampler first checks that the model's parametrization fits it (:func:`check_model_fits_sampler`).

One-shot generators (VAE, flow) use :func:`antithetic.models.generator.sample_decode` (kind ``decode``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import DDIMScheduler
from tqdm.auto import tqdm

from .kinds import PARAMETRIZATIONS, SAMPLER_KINDS
from .models.base import ContinuousDiffusionModel, DiffusionModel
from .models.generator import sample_decode
from .parametrization import vp_from_ve

__all__ = [
    "SAMPLERS",
    "Guidance",
    "Start",
    "check_model_fits_sampler",
    "edm_sigmas",
    "get_sampler",
    "sample_ddim",
    "sample_ddpm",
    "sample_edm_heun",
    "sample_edm_stochastic",
    "start_timestep",
]

Callback = Callable[[dict[str, Any]], None]
#: ``guidance(model, x, t, *, abar, cond) -> (eps, shift, extras)``, called instead of ``model.eps`` at every step
Guidance = Callable[..., tuple[torch.Tensor, "torch.Tensor | None", dict[str, Any]]]


@dataclass(frozen=True)
class Start:
    """Where a run enters the timestep grid: at the largest grid timestep ``t_s <= t``, from the forward
    process of ``image`` (one per sample, the shape of ``x_T``) with the sampler's noise ``x_T``:
    ``x_{t_s} = sqrt(abar_{t_s}) image + sqrt(1 - abar_{t_s}) x_T`` (SDEdit's starting point)."""

    t: int
    image: torch.Tensor


def _ddim_grid(model: DiffusionModel, num_steps: int, device=None) -> DDIMScheduler:
    """The DDIM scheduler of ``model``'s training schedule, set to ``num_steps`` timesteps."""
    train_steps = model.scheduler.config.num_train_timesteps
    if not 1 <= num_steps <= train_steps:
        raise ValueError(f"num_steps must lie in [1, {train_steps}], got {num_steps}")
    scheduler = DDIMScheduler.from_config(model.scheduler.config)
    scheduler.set_timesteps(num_steps, device=device)
    return scheduler


def _entered(timesteps: Sequence, t: int) -> list:
    """The grid timesteps at or below ``t`` (a run started at ``t`` takes these steps)."""
    entered = [s for s in timesteps if int(s) <= t]
    if not entered:
        raise ValueError(
            f"a start at t={t} lies below every timestep of the {len(timesteps)}-step grid (the lowest is "
            f"{int(timesteps[-1])}); start at a higher t or use more steps"
        )
    return entered


def start_timestep(model: DiffusionModel, num_steps: int, t: int) -> int:
    """The timestep at which a ``num_steps``-step DDIM/DDPM run started at ``t`` (:class:`Start`) enters the
    grid: the largest grid timestep not above ``t``. Raises ``ValueError`` if ``t`` lies below the grid."""
    return int(_entered(_ddim_grid(model, num_steps).timesteps, int(t))[0])


def _enter(start: Start | None, x_T: torch.Tensor, timesteps: Sequence, alphas_cumprod: torch.Tensor):
    """The initial state and the timesteps of a run: ``(x_T, all timesteps)`` or the :class:`Start`'s."""
    if start is None:
        return x_T, timesteps
    entered = _entered(timesteps, int(start.t))
    image = start.image.to(device=x_T.device, dtype=x_T.dtype)
    if image.shape != x_T.shape:
        raise ValueError(f"start.image has shape {tuple(image.shape)}; it needs x_T's shape {tuple(x_T.shape)}")
    abar = alphas_cumprod[int(entered[0])].to(image.dtype)
    return torch.sqrt(abar) * image + torch.sqrt(1 - abar) * x_T, entered


def _predict(model, x, t, cond, guidance: Guidance | None, abar_of: Callable[[], torch.Tensor]):
    """The step's ``(eps, shift, extras)``: the model's prediction, or the guidance hook's."""
    if guidance is None:
        return model.eps(x, t, cond), None, {}
    return guidance(model, x, t, abar=abar_of(), cond=cond)


def check_model_fits_sampler(model: Any, kind: str) -> None:
    """Raise ``ValueError`` unless sampler kind ``kind`` can integrate ``model``'s parametrization.

    A check on kinds alone (:func:`antithetic.kinds.fitting_samplers`) can run before any model is built; a
    ``kind: python`` model states its parametrization only when its factory runs, so this is its check.
    """
    name = getattr(model, "parametrization", None)
    if name is None:  # not a diffusion model (a one-shot generator): the sampler's own checks say what it is
        return
    if name not in PARAMETRIZATIONS:
        raise ValueError(
            f"model {getattr(model, 'name', model)!r} states no known parametrization ({name!r}); a diffusion "
            f"sampler needs one of {sorted(PARAMETRIZATIONS)} (see antithetic.models.base)"
        )
    fits = PARAMETRIZATIONS[name].samplers
    if kind not in fits:
        raise ValueError(
            f"model {model.name!r} has parametrization {name!r}, which sampler kind {kind!r} cannot integrate; "
            f"use a sampler of kind {sorted(fits)}"
            + (" or give the model a continuous noise scale (VPSDEModel or EDMModel)" if name == "ddpm_eps" else "")
        )


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
    guidance: Guidance | None,
    start: Start | None,
    progress: bool,
) -> torch.Tensor:
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must lie in [0, 1], got {eta}")
    if eta > 0 and step_noise is None:
        raise ValueError("a stochastic sampler (eta > 0) needs step_noise: samplers never draw noise themselves")
    check_model_fits_sampler(model, "ddpm" if use_clipped_model_output else "ddim")
    scheduler = _ddim_grid(model, num_steps, device=x_T.device)
    x, timesteps = _enter(start, x_T, scheduler.timesteps, scheduler.alphas_cumprod)
    abars = scheduler.alphas_cumprod.to(device=x_T.device, dtype=x_T.dtype) if guidance is not None else None

    for i, t in enumerate(tqdm(timesteps, desc="sampling", disable=not progress, leave=False)):
        # 1. predict the noise at the current state (a guidance hook may also return a shift of the state)
        eps, shift, extras = _predict(model, x, t, cond, guidance, lambda t=t: abars[int(t)])
        # 2. the injected noise of this step (negated for the antithetic twin by the design)
        noise = step_noise(i) if eta > 0 else None
        # 3. DDIM update x_t -> x_{t-1}
        out = scheduler.step(
            eps, t, x, eta=eta, variance_noise=noise, use_clipped_model_output=use_clipped_model_output
        )
        if callback is not None:
            callback({"step": i, "t": int(t), "x": x, "eps": eps, "x0": out.pred_original_sample, **extras})
        # 4. the guidance step after the sampler step
        x = out.prev_sample if shift is None else out.prev_sample + shift
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
    guidance: Guidance | None = None,
    start: Start | None = None,
    use_clipped_model_output: bool = False,
    progress: bool = False,
) -> torch.Tensor:
    """DDIM sampling from ``x_T`` with ``num_steps`` steps and stochasticity ``eta``.

    ``guidance`` and ``start`` are the hooks of the module docstring; ``use_clipped_model_output``
    re-derives ``eps`` from the clipped ``x0`` prediction in the update (DDPM's convention, as
    :func:`sample_ddpm` does).
    """
    return _ddim_loop(
        model, x_T, num_steps=num_steps, eta=eta, step_noise=step_noise, cond=cond, callback=callback,
        use_clipped_model_output=use_clipped_model_output, guidance=guidance, start=start, progress=progress,
    )


def sample_ddpm(
    model: DiffusionModel,
    x_T: torch.Tensor,
    *,
    num_steps: int | None = None,
    step_noise: Callable[[int], torch.Tensor] | None = None,
    cond: Any = None,
    callback: Callback | None = None,
    guidance: Guidance | None = None,
    start: Start | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Ancestral DDPM sampling with the scheduler's ``variance_type``; ``num_steps=None`` uses every training
    timestep. ``guidance`` and ``start`` are the hooks of the module docstring."""
    num_steps = num_steps or model.scheduler.config.num_train_timesteps
    variance_type = model.scheduler.config.get("variance_type", "fixed_small") or "fixed_small"
    if variance_type in ("fixed_small", "fixed_small_log"):  # the same variance beta~_t, computed in log or not
        return _ddim_loop(
            model, x_T, num_steps=num_steps, eta=1.0, step_noise=step_noise, cond=cond, callback=callback,
            use_clipped_model_output=True, guidance=guidance, start=start, progress=progress,
        )
    if variance_type == "fixed_large":
        return _ddpm_fixed_large_loop(
            model, x_T, num_steps=num_steps, step_noise=step_noise, cond=cond, callback=callback,
            guidance=guidance, start=start, progress=progress,
        )
    raise ValueError(
        f"model {model.name!r}: its scheduler's variance_type is {variance_type!r}; the ddpm sampler supports "
        "'fixed_small' and 'fixed_large' (a learned variance needs the network's variance output); sample it "
        "with a sampler of kind ddim instead"
    )


def _ddpm_fixed_large_loop(model, x_T, *, num_steps, step_noise, cond, callback, guidance, start, progress):
    if step_noise is None:
        raise ValueError("the ddpm sampler needs step_noise: samplers never draw noise themselves")
    check_model_fits_sampler(model, "ddpm")
    config = model.scheduler.config
    if config.get("prediction_type", "epsilon") != "epsilon" or config.get("thresholding", False):
        raise ValueError(f"model {model.name!r}: the ddpm sampler takes epsilon-prediction schedulers without thresholding")
    # the timesteps of DDIM/DDPM ("leading" spacing etc. from the same config)
    scheduler = _ddim_grid(model, num_steps, device=x_T.device)
    abars = model.scheduler.alphas_cumprod.to(x_T.device)
    x, entered = _enter(start, x_T, scheduler.timesteps, model.scheduler.alphas_cumprod)
    timesteps = [int(t) for t in entered]

    for i, t in enumerate(tqdm(timesteps, desc="sampling", disable=not progress, leave=False)):
        prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        abar_t = abars[t]
        abar_prev = abars[prev] if prev >= 0 else torch.ones_like(abar_t)
        beta_t = 1 - abar_t / abar_prev
        # 1. predict the noise and the clean sample (clipped as the checkpoint's scheduler says)
        eps, shift, extras = _predict(model, x, t, cond, guidance, lambda: abar_t.to(x.dtype))
        x0 = (x - (1 - abar_t) ** 0.5 * eps) / abar_t**0.5
        if config.get("clip_sample", False):
            r = config.get("clip_sample_range", 1.0)
            x0 = x0.clamp(-r, r)
        # 2. the posterior mean mu~_t(x_t, x0) (Ho et al. 2020, Eq. 7)
        mean = (abar_prev**0.5 * beta_t / (1 - abar_t)) * x0 + ((1 - beta_t) ** 0.5 * (1 - abar_prev) / (1 - abar_t)) * x
        # 3. plus sigma_t z with sigma_t^2 = beta_t; the noise is drawn every step (in order), used for t > 0
        noise = step_noise(i)
        if callback is not None:
            callback({"step": i, "t": t, "x": x, "eps": eps, "x0": x0, **extras})
        x = mean + beta_t**0.5 * noise if t > 0 else mean
        # 4. the guidance step after the sampler step
        if shift is not None:
            x = x + shift
    return x


def edm_sigmas(
    num_steps: int, *, sigma_min: float, sigma_max: float, rho: float = 7.0, dtype=torch.float64, device=None
) -> torch.Tensor:
    """EDM's noise levels ``sigma_0 > ... > sigma_{N-1}`` (Karras et al. 2022, Eq. 5) and ``sigma_N = 0``."""
    if num_steps < 2:
        raise ValueError(f"the EDM rho-schedule needs num_steps >= 2, got {num_steps}")
    if not 0 < sigma_min < sigma_max or rho <= 0:
        raise ValueError(f"need 0 < sigma_min < sigma_max and rho > 0, got {sigma_min}, {sigma_max}, {rho}")
    i = torch.arange(num_steps, dtype=torch.float64)
    sigmas = (sigma_max ** (1 / rho) + i / (num_steps - 1) * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    return torch.cat([sigmas, torch.zeros(1, dtype=torch.float64)]).to(device=device, dtype=dtype)


def _edm_loop(
    model: ContinuousDiffusionModel,
    x_T: torch.Tensor,
    *,
    sigmas: torch.Tensor,
    kind: str,
    second_order: bool = True,
    S_churn: float = 0.0,
    S_min: float = 0.0,
    S_max: float = float("inf"),
    S_noise: float = 1.0,
    step_noise: Callable[[int], torch.Tensor] | None = None,
    cond: Any = None,
    callback: Callback | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """EDM's sampler loop on explicit noise levels ``sigmas`` (descending, ending in 0); float64 state."""
    check_model_fits_sampler(model, kind)
    num_steps = len(sigmas) - 1
    stochastic = S_churn > 0
    if stochastic and step_noise is None:
        raise ValueError("a stochastic EDM sampler (S_churn > 0) needs step_noise: samplers never draw noise themselves")
    sigmas = sigmas.to(device=x_T.device, dtype=torch.float64)
    x_next = x_T.to(torch.float64) * sigmas[0]
    for i in tqdm(range(num_steps), desc="sampling", disable=not progress, leave=False):
        x_cur, t_cur, t_next = x_next, sigmas[i], sigmas[i + 1]
        # 1. raise the noise level temporarily (churn) with the step's injected noise
        gamma = min(S_churn / num_steps, 2**0.5 - 1) if stochastic and S_min <= float(t_cur) <= S_max else 0.0
        t_hat = t_cur + gamma * t_cur
        x_hat = x_cur
        if step_noise is not None:
            noise = step_noise(i).to(torch.float64)  # drawn every step, in order, like edm's randn_like
            x_hat = x_cur + (t_hat**2 - t_cur**2).sqrt() * S_noise * noise
        # 2. Euler step along dx/dsigma = (x - D(x; sigma)) / sigma
        denoised = model.denoise(x_hat, t_hat, cond).to(torch.float64)
        d_cur = (x_hat - denoised) / t_hat
        if callback is not None:
            callback({"step": i, "t": float(t_hat), "x": vp_from_ve(x_hat, t_hat).to(x_T.dtype),
                      "eps": d_cur.to(x_T.dtype), "x0": denoised.to(x_T.dtype)})
        x_next = x_hat + (t_next - t_hat) * d_cur
        # 3. Heun's second-order correction, except on the last step (sigma_N = 0)
        if second_order and i < num_steps - 1:
            denoised = model.denoise(x_next, t_next, cond).to(torch.float64)
            d_prime = (x_next - denoised) / t_next
            x_next = x_hat + (t_next - t_hat) * (0.5 * d_cur + 0.5 * d_prime)
    return x_next.to(x_T.dtype)


def _edm_schedule(model, x_T, num_steps, sigma_min, sigma_max, rho):
    if not isinstance(model, ContinuousDiffusionModel):
        raise TypeError(
            f"model {getattr(model, 'name', model)!r} is a {type(model).__name__}; the EDM samplers need a diffusion "
            "model with a continuous noise scale (VPSDEModel or EDMModel)"
        )
    # like edm_sampler: clamp the requested range to the levels the network supports
    lo = model.sigma_min if sigma_min is None else max(float(sigma_min), model.sigma_min)
    hi = model.sigma_max if sigma_max is None else min(float(sigma_max), model.sigma_max)
    return edm_sigmas(num_steps, sigma_min=lo, sigma_max=hi, rho=rho, device=x_T.device)


def sample_edm_heun(
    model: ContinuousDiffusionModel,
    x_T: torch.Tensor,
    *,
    num_steps: int = 18,
    sigma_min: float | None = None,
    sigma_max: float | None = None,
    rho: float = 7.0,
    step_noise: Callable[[int], torch.Tensor] | None = None,
    cond: Any = None,
    callback: Callback | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """EDM's deterministic Heun sampler (Algorithm 1) from ``x = sigma_max x_T``; ``sigma_min``/``sigma_max``
    default to (and are clamped to) the model's range. ``step_noise`` is ignored (deterministic)."""
    check_model_fits_sampler(model, "edm_heun")
    sigmas = _edm_schedule(model, x_T, num_steps, sigma_min, sigma_max, rho)
    return _edm_loop(model, x_T, sigmas=sigmas, kind="edm_heun", cond=cond, callback=callback, progress=progress)


def sample_edm_stochastic(
    model: ContinuousDiffusionModel,
    x_T: torch.Tensor,
    *,
    num_steps: int = 18,
    sigma_min: float | None = None,
    sigma_max: float | None = None,
    rho: float = 7.0,
    S_churn: float = 40.0,
    S_min: float = 0.05,
    S_max: float = 50.0,
    S_noise: float = 1.003,
    step_noise: Callable[[int], torch.Tensor] | None = None,
    cond: Any = None,
    callback: Callback | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """EDM's stochastic sampler (Algorithm 2): churn ``S_churn`` within ``[S_min, S_max]``, noise inflation
    ``S_noise``, the injected noise of step ``i`` is ``step_noise(i)`` (never drawn here)."""
    check_model_fits_sampler(model, "edm_stochastic")
    if step_noise is None:
        raise ValueError("the edm_stochastic sampler needs step_noise: samplers never draw noise themselves")
    if S_churn < 0 or S_noise <= 0 or S_min < 0 or S_max < S_min:
        raise ValueError(f"need S_churn >= 0, S_noise > 0 and 0 <= S_min <= S_max, got {S_churn}, {S_noise}, {S_min}, {S_max}")
    sigmas = _edm_schedule(model, x_T, num_steps, sigma_min, sigma_max, rho)
    return _edm_loop(
        model, x_T, sigmas=sigmas, kind="edm_stochastic", S_churn=S_churn, S_min=S_min, S_max=S_max, S_noise=S_noise,
        step_noise=step_noise, cond=cond, callback=callback, progress=progress,
    )


def sample_consistency(model, x_T: torch.Tensor, **kwargs) -> torch.Tensor:
    """Consistency-model sampling (:func:`antithetic.models.consistency.sample_consistency`).

    Imported on use: it loads diffusers' UNet and consistency scheduler, which other samplers never need.
    """
    from .models.consistency import sample_consistency as sample

    return sample(model, x_T, **kwargs)


SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {
    "ddim": sample_ddim,
    "ddpm": sample_ddpm,
    "consistency": sample_consistency,
    "decode": sample_decode,
    "edm_heun": sample_edm_heun,
    "edm_stochastic": sample_edm_stochastic,
}

def get_sampler(kind: str) -> Callable[..., torch.Tensor]:
    """Look a sampler up by its config name."""
    if kind not in SAMPLERS:
        raise ValueError(f"unknown sampler kind {kind!r}; known: {sorted(SAMPLERS)}")
    return SAMPLERS[kind]


def is_stochastic(kind: str, options: dict[str, Any]) -> bool:
    """Whether a configured sampler needs per-step noise."""
    return SAMPLER_KINDS[kind].stochastic or float(options.get("eta", 0.0)) > 0
