"""Consistency models (Song et al. 2023) behind the common interface, with a sampler that takes its noise.

A consistency model maps a noisy sample at level ``sigma`` straight to a clean one,
``f(x, sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, t(sigma))`` (the boundary-condition
parameterisation of :class:`~diffusers.CMStochasticIterativeScheduler`). Multistep sampling
alternates denoising and re-noising::

    x = sigma_max * z
    for i, sigma_i in enumerate(sigmas):
        x0 = f(x, sigma_i)
        x = x0 + sqrt(sigma_{i+1}^2 - sigma_min^2) * s_noise * n_i   (not after the last step)

The initial noise ``z`` and the injected noises ``n_i`` come from the noise design, so the
antithetic twin starts from ``-z`` *and* is re-noised with ``-n_i`` (paper, "Definitions": every
noise of a stochastic sampler is negated). One step uses no injected noise; two steps use one.
This is exactly the update of ``CMStochasticIterativeScheduler.step`` (tested against
:class:`~diffusers.ConsistencyModelPipeline`), which draws its noise itself and so cannot be fed
a negated one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from diffusers import CMStochasticIterativeScheduler, UNet2DModel
from tqdm.auto import tqdm

from .base import DiffusionModel, state_dict_sha256
from .conditional import ClassLabels
from .errors import ModelNotAvailableError
from .pretrained import load_pipeline

__all__ = ["ConsistencyModel", "consistency_model", "load_consistency_model", "sample_consistency"]


class ConsistencyModel(DiffusionModel):
    """A consistency-model UNet (optionally class-conditional) and its Karras schedule.

    It has no noise predictor ``eps_t``: sample it with :func:`sample_consistency` (sampler kind
    ``consistency``).
    """

    def __init__(self, *, unet: UNet2DModel, scheduler: CMStochasticIterativeScheduler, name: str,
                 labels: ClassLabels | None = None, info: dict[str, Any] | None = None) -> None:
        def no_eps(x, t, cond):
            raise TypeError(
                f"model {name!r} is a consistency model: it predicts clean samples, not noise; "
                f"sample it with a sampler of kind 'consistency'"
            )

        size = unet.config.sample_size
        h, w = (size, size) if isinstance(size, int) else tuple(size)
        super().__init__(eps=no_eps, scheduler=scheduler, sample_shape=(unet.config.in_channels, h, w), name=name,
                         module=unet.eval(), info=info)
        self.labels = labels
        if labels is not None:
            self.info.update(labels.describe())
        self._sha256 = state_dict_sha256(unet)

    def weights_sha256(self) -> str:
        return self._sha256

    def condition(self, indices: Sequence[int]) -> torch.Tensor | None:
        """Class labels of the samples (class-conditional models), else ``None``."""
        return None if self.labels is None else self.labels(indices).to(self.device)

    @torch.no_grad()
    def network(self, x_scaled: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """Raw network output ``F(c_in x, t)`` in the state's dtype (the network runs in the model dtype)."""
        out = self.module(x_scaled.to(self.dtype), t, class_labels=cond).sample
        return out.to(x_scaled.dtype)


def sample_consistency(
    model: ConsistencyModel,
    x_T: torch.Tensor,
    *,
    num_steps: int | None = 1,
    timesteps: Sequence[int] | None = None,
    step_noise: Callable[[int], torch.Tensor] | None = None,
    cond: Any = None,
    callback: Callable[[dict[str, Any]], None] | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Consistency sampling from standard normal ``x_T`` (scaled by ``sigma_max`` here).

    Args:
        num_steps: evenly spaced steps (ignored if ``timesteps`` is given); 1 = one-step generation.
        timesteps: explicit descending training-step indices, e.g. ``[22, 0]`` (two steps, ImageNet-64)
            or ``[17, 0]`` (LSUN 256), as in the consistency-models paper.
        step_noise: ``step -> noise`` for the re-noising after every step but the last.
    """
    if not isinstance(model, ConsistencyModel):
        raise TypeError(f"sampler 'consistency' needs a consistency model, got {type(model).__name__} {model.name!r}")
    scheduler = CMStochasticIterativeScheduler.from_config(model.scheduler.config)
    if timesteps is not None:
        scheduler.set_timesteps(timesteps=[int(t) for t in timesteps], device=x_T.device)
    else:
        scheduler.set_timesteps(int(num_steps or 1), device=x_T.device)
    cfg = scheduler.config
    sigmas = scheduler.sigmas.to(device=x_T.device, dtype=x_T.dtype)
    n = len(scheduler.timesteps)
    if n > 1 and step_noise is None:
        raise ValueError("multistep consistency sampling re-noises: it needs step_noise (samplers never draw noise)")

    x = x_T * cfg.sigma_max
    for i, t in enumerate(tqdm(scheduler.timesteps, desc="sampling", disable=not progress, leave=False)):
        sigma = sigmas[i]
        # 1. network on the preconditioned input c_in(sigma) x
        out = model.network(x / (sigma**2 + cfg.sigma_data**2) ** 0.5, t, cond)
        # 2. boundary-condition parameterisation f = c_skip x + c_out F
        c_skip, c_out = scheduler.get_scalings_for_boundary_condition(sigma)
        x0 = c_out * out + c_skip * x
        if cfg.clip_denoised:
            x0 = x0.clamp(-1, 1)
        if callback is not None:
            callback({"step": i, "t": float(t), "x": x, "eps": None, "x0": x0})
        # 3. re-noise to the next level with the injected (for the twin: negated) noise
        if i + 1 < n:
            sigma_next = sigmas[i + 1].clamp(cfg.sigma_min, cfg.sigma_max)
            x = x0 + step_noise(i) * cfg.s_noise * (sigma_next**2 - cfg.sigma_min**2) ** 0.5
        else:
            x = x0
    return x


def consistency_model(unet: UNet2DModel, scheduler, *, name: str, class_labels: str | Sequence[int] = "random",
                      label_seed: int = 0, source: str | None = None) -> ConsistencyModel:
    """Wrap a consistency-model UNet; class-conditional if it has class embeddings (``num_class_embeds``)."""
    if not isinstance(scheduler, CMStochasticIterativeScheduler):
        scheduler = CMStochasticIterativeScheduler.from_config(scheduler.config)
    num_classes = unet.config.num_class_embeds
    labels = (
        ClassLabels(class_labels, num_classes=num_classes, seed=label_seed)
        if num_classes else None
    )
    info = {"kind": "consistency", "source": source, "parameters": sum(p.numel() for p in unet.parameters())}
    return ConsistencyModel(unet=unet, scheduler=scheduler, name=name, labels=labels, info=info)


def load_consistency_model(source: str | Path, *, name: str, **options: Any) -> ConsistencyModel:
    """Load a :class:`~diffusers.ConsistencyModelPipeline` folder or hub id (e.g. ``openai/diffusers-cd_imagenet64_l2``)."""
    pipe = load_pipeline(source)
    if not isinstance(getattr(pipe, "unet", None), UNet2DModel):
        raise ModelNotAvailableError(f"{source!r} is a {type(pipe).__name__} without a UNet2DModel; load it with the model kind that matches it")
    return consistency_model(pipe.unet, pipe.scheduler, name=name, source=str(source), **options)
