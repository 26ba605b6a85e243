"""The one interface every model of the workflow sits behind.

A :class:`DiffusionModel` is a noise predictor ``eps_theta(x_t, t, cond)`` (the paper's ``eps_t``)
together with the training noise schedule it belongs to, given as a diffusers scheduler. Samplers
only ever see this interface, so a UNet loaded from a hub id, the workflow's own digits model and
the analytic models of :mod:`antithetic.models.analytic` are interchangeable.

Every diffusion model states its ``parametrization`` (a key of :data:`antithetic.kinds.PARAMETRIZATIONS`):
what its network predicts and on which noise scale. Three wrappers cover the common networks:

* :class:`DiffusionModel` (``ddpm_eps``): a discrete DDPM noise predictor at integer timesteps.
* :class:`VPSDEModel` (``vp_sde_eps``, ``vp_sde_score``, ``vp_sde_x0``): a continuous-time score-SDE
  network ``net(x, t, cond)`` of a VP-SDE with linear or constant beta, ``t`` in ``[0, T]``.
* :class:`EDMModel` (``edm_denoiser``): an EDM / k-diffusion denoiser ``D(x; sigma)`` in VE coordinates.

The continuous models keep the discrete interface too: they carry a fine grid of ``num_train_timesteps``
noise levels as a diffusers scheduler, and ``eps(x_t, t)`` at grid step ``t`` evaluates the network at the
exact continuous time (or sigma) whose alpha-bar is the grid's ``alphas_cumprod[t]``, with ``x_t`` in DDPM
scaling. So the DDIM/DDPM samplers, the eta sweep and the symmetry probes (which always take eps) run on
them unchanged, and the sigma-space samplers call :meth:`ContinuousDiffusionModel.denoise`. Conversions
are in :mod:`antithetic.parametrization`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import torch
from diffusers import DDPMScheduler, SchedulerMixin

from ..kinds import parametrization as registered_parametrization
from ..parametrization import (
    PREDICTIONS,
    VPSDE,
    EDMScale,
    abar_from_sigma,
    denoiser_from_eps,
    eps_from_denoiser,
    eps_from_prediction,
    sigma_from_abar,
    ve_from_vp,
    vp_from_ve,
)

__all__ = [
    "ContinuousDiffusionModel",
    "DiffusionModel",
    "EDMModel",
    "TorchModel",
    "VPSDEModel",
    "grid_scheduler",
    "state_dict_sha256",
]


class TorchModel:
    """What every model of the workflow shares: a name, the noise shape the designs draw, an optional
    :class:`torch.nn.Module` (moved by :meth:`to`, hashed for provenance) and provenance ``info``."""

    def __init__(
        self, *, sample_shape: tuple[int, ...], name: str, module: torch.nn.Module | None, info: dict[str, Any] | None
    ) -> None:
        self.sample_shape = tuple(int(s) for s in sample_shape)
        self.name = name
        self.module = module
        self.info = dict(info or {})
        self.device = torch.device("cpu")
        self.dtype = torch.float32

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        """Move the model (in place) and return it."""
        if device is not None:
            self.device = torch.device(device)
        if dtype is not None:
            self.dtype = dtype
        if self.module is not None:
            self.module.to(device=self.device, dtype=self.dtype)
        return self

    def weights_sha256(self) -> str | None:
        """SHA-256 of the weights (``None`` for models without trained weights)."""
        return None if self.module is None else state_dict_sha256(self.module)


class DiffusionModel(TorchModel):
    """A noise predictor and its noise schedule.

    Args:
        eps: callable ``(x_t, t, cond) -> eps`` where ``x_t`` has shape ``(B, *sample_shape)`` and ``t``
            is a 1-D integer tensor of training timesteps (indices into ``scheduler.alphas_cumprod``).
        scheduler: the training scheduler (e.g. :class:`diffusers.DDPMScheduler`); samplers build their
            own scheduler from its config.
        sample_shape: shape ``(C, H, W)`` of one sample.
        name: human-readable name, used in tables and provenance.
        module: the underlying :class:`torch.nn.Module`, if any (moved by :meth:`to`, hashed for provenance).
        info: extra facts recorded in provenance (source id or path, architecture).
    """

    #: what the network predicts and on which noise scale (:data:`antithetic.kinds.PARAMETRIZATIONS`)
    parametrization = "ddpm_eps"

    def __init__(
        self,
        *,
        eps: Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor],
        scheduler: SchedulerMixin,
        sample_shape: tuple[int, ...],
        name: str,
        module: torch.nn.Module | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(sample_shape=sample_shape, name=name, module=module, info=info)
        self._eps = eps
        self.scheduler = scheduler

    @torch.no_grad()
    def eps(self, x: torch.Tensor, t: torch.Tensor | int, cond: Any = None) -> torch.Tensor:
        """Predicted noise ``eps_t(x)`` for a batch ``x`` at timestep(s) ``t``."""
        if x.shape[1:] != self.sample_shape:
            raise ValueError(f"model {self.name!r} expects samples of shape {self.sample_shape}, got {tuple(x.shape[1:])}")
        t = torch.as_tensor(t, device=x.device)
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        out = self._eps(x.to(self.dtype), t, cond)
        _check_output(self, out, x, "eps")
        return out.to(x.dtype)

    def eps_differentiable(self, x: torch.Tensor, t: torch.Tensor | int, cond: Any = None) -> torch.Tensor:
        """:meth:`eps` with autograd enabled, for guidance that differentiates through the model
        (diffusion posterior sampling): gradients flow to ``x`` through the noise predictor."""
        with torch.enable_grad():
            return type(self).eps.__wrapped__(self, x, t, cond)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, parametrization={self.parametrization!r}, "
            f"sample_shape={self.sample_shape}, device={self.device})"
        )


def _check_output(model: TorchModel, out: Any, x: torch.Tensor, what: str) -> None:
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"model {model.name!r} returned {what} of shape {got} for a batch of shape {tuple(x.shape)}; the network "
            "must return one tensor of the input's shape"
        )


def grid_scheduler(abars: torch.Tensor) -> DDPMScheduler:
    """A DDPM scheduler whose ``alphas_cumprod`` are ``abars`` (ascending noise, i.e. descending values).

    ``betas_i = 1 - abar_i / abar_{i-1}``; no sample clipping (the data range of a user's model is unknown).
    """
    abars = abars.to(torch.float64)
    if abars.ndim != 1 or len(abars) < 2 or not bool((abars[1:] < abars[:-1]).all()) or not bool(((abars > 0) & (abars < 1)).all()):
        raise ValueError("a noise grid needs at least two alpha-bars in (0, 1), strictly decreasing")
    betas = 1.0 - abars / torch.cat([abars.new_ones(1), abars[:-1]])
    return DDPMScheduler(num_train_timesteps=len(abars), trained_betas=betas.tolist(), clip_sample=False)


class ContinuousDiffusionModel(DiffusionModel):
    """A diffusion model defined at every noise level in ``[sigma_min, sigma_max]`` (VE ``sigma``).

    Subclasses implement :meth:`eps_at` (VP coordinates, any alpha-bar) and :meth:`denoise` (VE
    coordinates, any sigma); :meth:`eps` at an integer grid step uses the grid's own alpha-bar.
    """

    sigma_min: float
    sigma_max: float

    def __init__(self, *, abars: torch.Tensor, sample_shape, name, module=None, info=None) -> None:
        super().__init__(eps=self._eps_on_grid, scheduler=grid_scheduler(abars), sample_shape=sample_shape,
                         name=name, module=module, info=info)
        # the alpha-bars the DDIM/DDPM updates use (float32 in diffusers), read back in float64: the
        # network is evaluated exactly where the update assumes it is
        self._grid_abars = self.scheduler.alphas_cumprod.to(torch.float64)

    def _eps_on_grid(self, x: torch.Tensor, t: torch.Tensor, cond: Any) -> torch.Tensor:
        abar = self._grid_abars.to(x.device)[t.long()]
        return self.eps_at(x, abar, cond)

    def eps_at(self, x_vp: torch.Tensor, abar: torch.Tensor, cond: Any = None) -> torch.Tensor:
        """Noise prediction at VP state ``x_vp`` of alpha-bar ``abar`` (1-D, one per sample, float64)."""
        raise NotImplementedError

    @torch.no_grad()
    def denoise(self, x_ve: torch.Tensor, sigma: torch.Tensor | float, cond: Any = None) -> torch.Tensor:
        """EDM's denoiser ``D(x_ve; sigma)``: the predicted clean sample at VE state ``x_ve``."""
        raise NotImplementedError

    def _per_sample(self, value: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
        value = torch.as_tensor(value, dtype=torch.float64, device=x.device)
        return value.expand(x.shape[0]) if value.ndim == 0 else value

    def _check_input(self, x: torch.Tensor) -> None:
        if x.shape[1:] != self.sample_shape:
            raise ValueError(f"model {self.name!r} expects samples of shape {self.sample_shape}, got {tuple(x.shape[1:])}")


def _column(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.ndim - 1)))


class VPSDEModel(ContinuousDiffusionModel):
    """A continuous-time score-SDE network on a VP-SDE (Song et al. 2021).

    Args:
        net: ``net(x_t, t, cond) -> tensor`` with ``x_t`` in VP scaling (``sqrt(abar(t)) x_0 + sqrt(1 - abar(t)) eps``),
            ``t`` a 1-D tensor of continuous times in ``[0, T]`` (the dtype of ``x_t``), returning the
            prediction named by ``predicts`` with the shape of ``x_t``.
        predicts: ``"eps"``, ``"score"`` (``grad log p_t(x_t)``) or ``"x0"``.
        beta_min, beta_max, T: the SDE (:class:`antithetic.parametrization.VPSDE`); equal betas give a constant beta.
        t_min: smallest time sampled (score-SDE's ``eps = 1e-3``; default ``1e-3 T``).
        num_train_timesteps: points of the grid ``linspace(t_min, T, num_train_timesteps)`` that the
            DDIM/DDPM samplers and the symmetry probes step on.
        sample_shape, name, module, info: as for :class:`DiffusionModel`.
    """

    def __init__(
        self,
        *,
        net: Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor],
        predicts: str,
        beta_min: float = 0.1,
        beta_max: float = 20.0,
        T: float = 1.0,
        t_min: float | None = None,
        num_train_timesteps: int = 1000,
        sample_shape: tuple[int, ...],
        name: str,
        module: torch.nn.Module | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        if predicts not in PREDICTIONS:
            raise ValueError(f"VPSDEModel(predicts=...) must be one of {PREDICTIONS}, got {predicts!r}")
        self.sde = VPSDE(float(beta_min), float(beta_max), float(T))
        self.t_min = 1e-3 * self.sde.T if t_min is None else float(t_min)
        if not 0 < self.t_min < self.sde.T:
            raise ValueError(f"t_min must lie in (0, T = {self.sde.T}), got {self.t_min}")
        self.net = net
        self.predicts = predicts
        self.parametrization = registered_parametrization(f"vp_sde_{predicts}").name
        times = torch.linspace(self.t_min, self.sde.T, int(num_train_timesteps), dtype=torch.float64)
        facts = {"parametrization": self.parametrization, "beta_min": self.sde.beta_min, "beta_max": self.sde.beta_max,
                 "T": self.sde.T, "t_min": self.t_min}
        super().__init__(abars=self.sde.abar(times), sample_shape=sample_shape, name=name, module=module,
                         info={**facts, **(info or {})})
        self.sigma_min = float(self.sde.sigma(self.t_min))
        self.sigma_max = float(self.sde.sigma(self.sde.T))

    def eps_at(self, x_vp: torch.Tensor, abar: torch.Tensor, cond: Any = None) -> torch.Tensor:
        abar = self._per_sample(abar, x_vp)
        # 1. the continuous time of this alpha-bar (exact inverse of abar(t))
        t = self.sde.time(abar).to(device=x_vp.device, dtype=x_vp.dtype)
        out = self.net(x_vp, t, cond)
        _check_output(self, out, x_vp, self.predicts)
        # 2. whatever the network predicts, as eps
        return eps_from_prediction(self.predicts, out, x_vp, _column(abar, x_vp)).to(x_vp.dtype)

    @torch.no_grad()
    def denoise(self, x_ve: torch.Tensor, sigma: torch.Tensor | float, cond: Any = None) -> torch.Tensor:
        self._check_input(x_ve)
        sigma = _column(self._per_sample(sigma, x_ve), x_ve)
        # VE -> VP: x_vp = x_ve / sqrt(1 + sigma^2) at alpha-bar 1 / (1 + sigma^2) (EDM's VPPrecond)
        x_vp = vp_from_ve(x_ve.double(), sigma).to(self.dtype)
        eps = self.eps_at(x_vp, abar_from_sigma(sigma).reshape(-1), cond)
        return denoiser_from_eps(x_ve.double(), eps.double(), sigma).to(x_ve.dtype)


class EDMModel(ContinuousDiffusionModel):
    """An EDM / k-diffusion denoiser ``D(x; sigma)`` (Karras et al. 2022).

    Args:
        denoiser: ``denoiser(x, sigma, cond) -> tensor``: ``x = x_0 + sigma n`` in VE coordinates, ``sigma`` a
            1-D tensor (the dtype of ``x``), returning the predicted ``x_0`` with the shape of ``x``. EDM's
            preconditioning (``c_skip, c_out, c_in, c_noise`` with ``sigma_data``) belongs inside it, as in
            NVlabs/edm's ``EDMPrecond`` or k-diffusion's ``Denoiser``.
        sigma_min, sigma_max, sigma_data: the noise levels it was trained on and its data scale (EDM's defaults).
        num_train_timesteps: levels of the grid (log-uniform in sigma) that the DDIM/DDPM samplers and the
            symmetry probes step on; grid step ``t`` has ``abar = 1 / (1 + sigma_t^2)`` and
            ``x_vp = x_ve / sqrt(1 + sigma_t^2)``.
        sample_shape, name, module, info: as for :class:`DiffusionModel`.
    """

    parametrization = "edm_denoiser"

    def __init__(
        self,
        *,
        denoiser: Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor],
        sigma_min: float = 0.002,
        sigma_max: float = 80.0,
        sigma_data: float = 0.5,
        num_train_timesteps: int = 1000,
        sample_shape: tuple[int, ...],
        name: str,
        module: torch.nn.Module | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.scale = EDMScale(float(sigma_min), float(sigma_max), float(sigma_data))
        self.net = denoiser
        self.sigma_min, self.sigma_max, self.sigma_data = self.scale.sigma_min, self.scale.sigma_max, self.scale.sigma_data
        facts = {"parametrization": self.parametrization, "sigma_min": self.sigma_min, "sigma_max": self.sigma_max,
                 "sigma_data": self.sigma_data}
        super().__init__(abars=abar_from_sigma(self.scale.log_uniform_sigmas(int(num_train_timesteps))),
                         sample_shape=sample_shape, name=name, module=module, info={**facts, **(info or {})})

    def _denoise(self, x_ve: torch.Tensor, sigma: torch.Tensor, cond: Any) -> torch.Tensor:
        out = self.net(x_ve.to(self.dtype), sigma.to(device=x_ve.device, dtype=self.dtype), cond)
        _check_output(self, out, x_ve, "D(x; sigma)")
        return out

    def eps_at(self, x_vp: torch.Tensor, abar: torch.Tensor, cond: Any = None) -> torch.Tensor:
        abar = self._per_sample(abar, x_vp)
        sigma = sigma_from_abar(abar)
        # VP -> VE: x_ve = x_vp sqrt(1 + sigma^2), then eps = (x_ve - D) / sigma
        x_ve = ve_from_vp(x_vp.double(), _column(sigma, x_vp))
        denoised = self._denoise(x_ve.to(x_vp.dtype), sigma, cond)
        return eps_from_denoiser(x_ve, denoised.double(), _column(sigma, x_vp)).to(x_vp.dtype)

    @torch.no_grad()
    def denoise(self, x_ve: torch.Tensor, sigma: torch.Tensor | float, cond: Any = None) -> torch.Tensor:
        self._check_input(x_ve)
        return self._denoise(x_ve, self._per_sample(sigma, x_ve), cond).to(x_ve.dtype)


def state_dict_sha256(module: torch.nn.Module) -> str:
    """SHA-256 over a module's parameters and buffers (names, dtypes, shapes and bytes), in name order.

    Independent of file format and storage location, so a hub snapshot and a local copy of the same
    weights hash alike.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()
