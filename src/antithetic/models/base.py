"""The one interface every model of the workflow sits behind.

A :class:`DiffusionModel` is a noise predictor ``eps_theta(x_t, t, cond)`` (the paper's ``eps_t``)
together with the training noise schedule it belongs to, given as a diffusers scheduler. Samplers
only ever see this interface, so a UNet loaded from a hub id, the workflow's own digits model and
the analytic models of :mod:`antithetic.models.analytic` are interchangeable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import torch
from diffusers import SchedulerMixin

__all__ = ["DiffusionModel", "TorchModel", "state_dict_sha256"]


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
        return self._eps(x.to(self.dtype), t, cond).to(x.dtype)

    def eps_differentiable(self, x: torch.Tensor, t: torch.Tensor | int, cond: Any = None) -> torch.Tensor:
        """:meth:`eps` with autograd enabled, for guidance that differentiates through the model
        (diffusion posterior sampling): gradients flow to ``x`` through the noise predictor."""
        with torch.enable_grad():
            return type(self).eps.__wrapped__(self, x, t, cond)

    def __repr__(self) -> str:
        return f"DiffusionModel(name={self.name!r}, sample_shape={self.sample_shape}, device={self.device})"


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
