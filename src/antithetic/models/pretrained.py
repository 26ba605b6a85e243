"""Diffusers pipelines behind the common interface: one loading path for hub ids and local folders.

A hub id such as ``google/ddpm-cifar10-32`` and a local directory written by ``save_pretrained``
(the workflow's own digits model) both go through :meth:`diffusers.DiffusionPipeline.from_pretrained`.

Two UNet models:

* :func:`unet_model`: an unconditional :class:`~diffusers.UNet2DModel` predicting the noise.
* :func:`conditional_unet_model`: a class-conditional one (a class embedding whose last row is the null
  class, as :mod:`antithetic.training` trains it) under classifier-free guidance (Ho & Salimans 2022)::

      eps_w(x, t, c) = eps(x, t, null) + w * (eps(x, t, c) - eps(x, t, null))

  the guidance of the paper's class-conditional rows (:func:`antithetic.models.conditional.guide`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from diffusers import DiffusionPipeline, UNet2DModel

from ..artifacts import check_weights
from .base import DiffusionModel
from .conditional import ClassConditionalModel, ClassLabels, guide
from .errors import ModelNotAvailableError

__all__ = [
    "DEFAULT_GUIDANCE_SCALE",
    "ModelNotAvailableError",
    "conditional_unet_model",
    "load_conditional_unet_model",
    "load_pipeline",
    "load_unet_model",
    "unet_model",
]

#: guidance scale ``w`` of a class-conditional UNet when none is given: the DiT pipeline's default (and the ``dit``
#: kind's), the paper's class-conditional setting
DEFAULT_GUIDANCE_SCALE = 4.0


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


def _check_epsilon_prediction(scheduler, name: str) -> None:
    if scheduler.config.get("prediction_type", "epsilon") != "epsilon":
        raise ValueError(
            f"model {name!r}: only epsilon-prediction UNets are supported here, "
            f"got prediction_type={scheduler.config.prediction_type!r}"
        )


def _sample_shape(unet: UNet2DModel) -> tuple[int, int, int]:
    size = unet.config.sample_size
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    return (unet.config.in_channels, h, w)


def unet_model(unet: UNet2DModel, scheduler, *, name: str, source: str | None = None) -> DiffusionModel:
    """Wrap an unconditional :class:`~diffusers.UNet2DModel` predicting the noise."""
    _check_epsilon_prediction(scheduler, name)
    unet.eval()

    def eps(x: torch.Tensor, t: torch.Tensor, cond=None) -> torch.Tensor:
        return unet(x, t).sample

    info = {
        "kind": "unet",
        "source": source,
        "block_out_channels": list(unet.config.block_out_channels),
        "parameters": sum(p.numel() for p in unet.parameters()),
    }
    return DiffusionModel(eps=eps, scheduler=scheduler, sample_shape=_sample_shape(unet), name=name, module=unet, info=info)


def _pipeline_unet(source: str | Path):
    pipe = load_pipeline(source)
    unet = getattr(pipe, "unet", None)
    if not isinstance(unet, UNet2DModel):
        raise ModelNotAvailableError(
            f"{source!r} is a {type(pipe).__name__} without a UNet2DModel; use a model kind that matches it"
        )
    return pipe, unet


def load_unet_model(source: str | Path, *, name: str) -> DiffusionModel:
    """Load an unconditional UNet pipeline (e.g. a :class:`~diffusers.DDPMPipeline`) as a :class:`DiffusionModel`.

    Raises:
        ModelNotAvailableError: ``source`` cannot be loaded, holds no UNet2DModel, or its UNet is class-conditional
            (load it with :func:`load_conditional_unet_model`).
    """
    pipe, unet = _pipeline_unet(source)
    if unet.config.get("num_class_embeds") is not None:
        raise ModelNotAvailableError(
            f"{source!r} holds a class-conditional UNet2DModel ({unet.config.num_class_embeds} class embeddings); "
            f"load it as a class-conditional model (kind conditional_unet, load_conditional_unet_model)"
        )
    return unet_model(unet, pipe.scheduler, name=name, source=str(source))


def conditional_unet_model(
    unet: UNet2DModel, scheduler, *, name: str, labels: ClassLabels, guidance_scale: float = DEFAULT_GUIDANCE_SCALE,
    source: str | None = None,
) -> ClassConditionalModel:
    """Wrap a class-conditional :class:`~diffusers.UNet2DModel` predicting the noise, under classifier-free guidance.

    The UNet's class embedding has ``num_classes + 1`` rows; the last, ``null = num_class_embeds - 1``, is the
    null class the network was trained on for dropped labels (:mod:`antithetic.training`). With guidance
    scale ``w`` (the model's :attr:`~ClassConditionalModel.guidance_scale`, read at every call) the noise
    prediction of class ``c`` is :func:`~antithetic.models.conditional.guide`'s
    ``eps(x, t, null) + w (eps(x, t, c) - eps(x, t, null))``.

    Args:
        unet: the network; ``unet.config.num_class_embeds`` must be set.
        scheduler: its training scheduler (epsilon prediction).
        name: the model's name.
        labels: the class label of every sample index (``labels.num_classes`` must be ``num_class_embeds - 1``).
        guidance_scale: ``w``; 1 is the conditional model, 0 the unconditional one.
        source: where the weights came from (provenance).

    Raises:
        ValueError: the UNet has no class embedding, or ``labels`` cover another number of classes.
    """
    _check_epsilon_prediction(scheduler, name)
    embeds = unet.config.get("num_class_embeds")
    if embeds is None:
        raise ValueError(
            f"model {name!r}: the UNet2DModel has no class embedding (num_class_embeds is None), so it cannot be "
            f"class-conditional; load it as an unconditional UNet (kind unet) or train it with num_classes set"
        )
    num_classes = int(embeds) - 1
    if labels.num_classes != num_classes:
        raise ValueError(
            f"model {name!r}: the labels cover {labels.num_classes} classes but the UNet has {num_classes} "
            f"(num_class_embeds={embeds}, the last one the null class)"
        )
    unet.eval()
    null_class = num_classes

    def eps(x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        if cond is None:
            raise ValueError(f"model {name!r} is class-conditional: pass class labels as cond (model.condition(indices))")
        classes = torch.as_tensor(cond, device=x.device).long()
        null = torch.full_like(classes, null_class)
        w = model.guidance_scale
        # guide(c, u, 1) = c and guide(c, u, 0) = u exactly: at w = 1 and w = 0 one branch suffices (half the cost)
        if w == 1.0:
            return unet(x, t, class_labels=classes).sample
        if w == 0.0:
            return unet(x, t, class_labels=null).sample
        # one batched forward pass over [class, null] (one network call per step, as diffusers' pipelines do)
        out = unet(torch.cat([x, x]), torch.cat([t, t]), class_labels=torch.cat([classes, null])).sample
        eps_cond, eps_uncond = out.chunk(2)
        return guide(eps_cond, eps_uncond, w)

    info = {
        "kind": "conditional_unet",
        "source": source,
        "block_out_channels": list(unet.config.block_out_channels),
        "parameters": sum(p.numel() for p in unet.parameters()),
        "null_class": null_class,
    }
    model = ClassConditionalModel(
        eps=eps, scheduler=scheduler, sample_shape=_sample_shape(unet), name=name, module=unet, info=info,
        labels=labels, guidance_scale=guidance_scale,
    )
    return model


def load_conditional_unet_model(
    source: str | Path, *, name: str, class_labels: str | Sequence[int] = "random", label_seed: int = 0,
    guidance_scale: float = DEFAULT_GUIDANCE_SCALE,
) -> ClassConditionalModel:
    """Load a class-conditional UNet pipeline (e.g. a :class:`~diffusers.DDPMPipeline` trained by
    :func:`antithetic.training.train_ddpm` with ``num_classes``) as a guided :class:`ClassConditionalModel`.

    Args:
        source: hub id or local directory written by ``save_pretrained``.
        name: the model's name.
        class_labels: ``"random"`` (seed-addressed uniform label per condition slot) or a list of class indices
            used in turn (:class:`~antithetic.models.conditional.ClassLabels`).
        label_seed: seed of the random labels.
        guidance_scale: ``w`` (default :data:`DEFAULT_GUIDANCE_SCALE`).

    Raises:
        ModelNotAvailableError: ``source`` cannot be loaded, holds no UNet2DModel, or its UNet has no class
            embedding (load it with :func:`load_unet_model`).
    """
    pipe, unet = _pipeline_unet(source)
    embeds = unet.config.get("num_class_embeds")
    if embeds is None:
        raise ModelNotAvailableError(
            f"{source!r} holds an unconditional UNet2DModel (num_class_embeds is None); load it as an unconditional "
            f"model (kind unet, load_unet_model), or train a class-conditional one (num_classes set)"
        )
    labels = ClassLabels(class_labels, num_classes=int(embeds) - 1, seed=label_seed)
    return conditional_unet_model(
        unet, pipe.scheduler, name=name, labels=labels, guidance_scale=guidance_scale, source=str(source)
    )
