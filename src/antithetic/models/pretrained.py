"""Diffusers pipelines behind the common interface: one loading path for hub ids and local folders.

A hub id such as ``google/ddpm-cifar10-32`` and a local directory written by ``save_pretrained``
(the workflow's own digits model) both go through :meth:`diffusers.DiffusionPipeline.from_pretrained`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import DiffusionPipeline, UNet2DModel

from ..artifacts import check_weights
from .base import DiffusionModel
from .errors import ModelNotAvailableError

__all__ = ["ModelNotAvailableError", "load_pipeline", "load_unet_model", "unet_model"]


def load_pipeline(source: str | Path, **kwargs) -> DiffusionPipeline:
    """Load a diffusers pipeline from a hub id or a local directory, with an actionable error.

    Args:
        source: hub id (``owner/name``) or path of a directory written by ``save_pretrained``.
        kwargs: passed to :meth:`diffusers.DiffusionPipeline.from_pretrained`.

    Raises:
        ModelNotAvailableError: the local directory does not exist, or the pipeline cannot be loaded.
        UnreadableFileError: a weights file of the local directory is truncated or corrupt (the message names it).
    """
    source = str(source)
    looks_local = source.startswith((".", "/", "~")) or Path(source).exists()
    if looks_local and not Path(source).expanduser().is_dir():
        raise ModelNotAvailableError(
            f"model directory source={source!r} does not exist; train or download the model first, or fix the path"
        )
    if looks_local:
        check_weights(Path(source).expanduser())
    try:
        return DiffusionPipeline.from_pretrained(str(Path(source).expanduser()) if looks_local else source, **kwargs)
    except (OSError, ValueError, EnvironmentError) as err:
        raise ModelNotAvailableError(
            f"could not load model source={source!r}: {err.__class__.__name__}: {str(err).splitlines()[0]}\n"
            f"If this machine has no access to the Hugging Face hub, download the model where it has "
            f"(`huggingface-cli download {source} --local-dir models/{source.split('/')[-1]}`) and set "
            f"load it from that local directory."
        ) from err


def unet_model(unet: UNet2DModel, scheduler, *, name: str, source: str | None = None) -> DiffusionModel:
    """Wrap an unconditional :class:`~diffusers.UNet2DModel` predicting the noise."""
    if scheduler.config.get("prediction_type", "epsilon") != "epsilon":
        raise ValueError(
            f"model {name!r}: only epsilon-prediction UNets are supported here, "
            f"got prediction_type={scheduler.config.prediction_type!r}"
        )
    unet.eval()
    size = unet.config.sample_size
    h, w = (size, size) if isinstance(size, int) else tuple(size)

    def eps(x: torch.Tensor, t: torch.Tensor, cond=None) -> torch.Tensor:
        return unet(x, t).sample

    info = {
        "kind": "unet",
        "source": source,
        "block_out_channels": list(unet.config.block_out_channels),
        "parameters": sum(p.numel() for p in unet.parameters()),
    }
    return DiffusionModel(
        eps=eps, scheduler=scheduler, sample_shape=(unet.config.in_channels, h, w), name=name, module=unet, info=info
    )


def load_unet_model(source: str | Path, *, name: str) -> DiffusionModel:
    """Load an unconditional UNet pipeline (e.g. a :class:`~diffusers.DDPMPipeline`) as a :class:`DiffusionModel`."""
    pipe = load_pipeline(source)
    unet = getattr(pipe, "unet", None)
    if not isinstance(unet, UNet2DModel):
        raise ModelNotAvailableError(
            f"{source!r} is a {type(pipe).__name__} without an unconditional UNet2DModel; "
            f"use a model kind that matches it"
        )
    return unet_model(unet, pipe.scheduler, name=name, source=str(source))
