"""One-shot generators ``x = G(z)`` (VAE decoders, normalizing flows) behind the sampling interface.

The paper's claim reaches beyond diffusion models: any generator that maps Gaussian noise to a
sample, ``x = G(z)`` with ``z ~ N(0, I)``, gives exact samples for both ``z`` and ``-z``, and PN
pairs ``(G(z), G(-z))`` are negatively correlated whenever ``G`` is close to odd around its mean
(paper, "Definitions": the antithetic pair of a deterministic sampler; for a linear odd ``G`` the PN
correlation is exactly -1).

A :class:`GeneratorModel` has the attributes :func:`antithetic.generate.generate` uses (``name``,
``sample_shape``, ``device``, ``dtype``, ``info``, :meth:`to`, :meth:`weights_sha256`); as for latent
diffusion models, ``sample_shape`` is the shape of the noise the designs draw (the latent ``z``), and
``image_shape`` that of the output,
so generators run through the same noise designs, samples files, correlation analysis and Table 1
as the diffusion models. Their sampler is :func:`sample_decode` (config ``kind: decode``): one call
of ``G``, no per-step noise.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..kinds import GENERATOR, kinds_where
from .base import TorchModel

__all__ = ["GENERATOR_KINDS", "GeneratorModel", "load_generator", "sample_decode"]

#: model kinds that are one-shot generators, from the kind registry (:mod:`antithetic.kinds`)
GENERATOR_KINDS = tuple(kinds_where(family=GENERATOR))


class GeneratorModel(TorchModel):
    """A deterministic generator ``x = G(z)`` of a latent ``z ~ N(0, I)``.

    Args:
        decode: callable ``z -> x`` with ``z`` of shape ``(B, *sample_shape)`` and ``x`` of shape
            ``(B, *image_shape)`` in data range [-1, 1].
        sample_shape: shape of one latent ``z`` (the noise the designs draw and negate).
        image_shape: shape ``(C, H, W)`` of one generated image.
        name: human-readable name, used in tables and provenance.
        module: the underlying :class:`torch.nn.Module` (moved by :meth:`to`, hashed for provenance).
        info: extra facts recorded in provenance.
    """

    def __init__(
        self,
        *,
        decode: Callable[[torch.Tensor], torch.Tensor],
        sample_shape: tuple[int, ...],
        image_shape: tuple[int, ...],
        name: str,
        module: torch.nn.Module | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(sample_shape=sample_shape, name=name, module=module, info=info)
        self._decode = decode
        self.image_shape = tuple(int(s) for s in image_shape)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``G(z)`` for a batch of latents ``z``."""
        if tuple(z.shape[1:]) != self.sample_shape:
            raise ValueError(f"generator {self.name!r} expects latents of shape {self.sample_shape}, got {tuple(z.shape[1:])}")
        x = self._decode(z.to(device=self.device, dtype=self.dtype))
        if tuple(x.shape[1:]) != self.image_shape:
            raise RuntimeError(f"generator {self.name!r} produced shape {tuple(x.shape[1:])}, expected {self.image_shape}")
        return x.to(z.dtype)

    # A generator has no noise predictor: diffusion samplers fail with a message naming the fix.
    def _not_diffusion(self, what: str):
        raise TypeError(
            f"model {self.name!r} is a one-shot generator (kind {self.info.get('kind', '?')!r}) without {what}; "
            f"sample it with a sampler of kind 'decode'"
        )

    def eps(self, x, t, cond=None):
        self._not_diffusion("a noise predictor eps(x_t, t)")

    @property
    def scheduler(self):
        self._not_diffusion("a noise schedule")

    def __repr__(self) -> str:
        return f"GeneratorModel(name={self.name!r}, sample_shape={self.sample_shape}, image_shape={self.image_shape})"


def sample_decode(
    model: GeneratorModel,
    x_T: torch.Tensor,
    *,
    num_steps: int | None = None,
    step_noise: Callable[[int], torch.Tensor] | None = None,
    cond: Any = None,
    callback: Callable[[dict[str, Any]], None] | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """The one-shot sampler ``x = G(z)``: the latent ``x_T = z`` goes through the generator once.

    Same signature as the diffusion samplers; ``num_steps`` must be ``None`` or 1 and there is no
    per-step noise (the antithetic twin differs only by ``z -> -z``). ``callback`` is called once with
    ``{"step": 0, "t": 0, "x": z, "eps": None, "x0": G(z)}``.
    """
    if not isinstance(model, GeneratorModel):
        raise TypeError(
            f"sampler kind 'decode' needs a one-shot generator (model kind one of {list(GENERATOR_KINDS)}), "
            f"got {type(model).__name__} {getattr(model, 'name', '')!r}; use a ddim or ddpm sampler for diffusion models"
        )
    if num_steps not in (None, 1):
        raise ValueError(f"sampler kind 'decode' takes exactly one step, got num_steps={num_steps}; remove the key")
    if cond is not None:
        raise ValueError("the workflow's generators are unconditional; got a condition")
    # 1. one pass through the generator
    x = model.decode(x_T)
    if callback is not None:
        callback({"step": 0, "t": 0, "x": x_T, "eps": None, "x0": x})
    return x


def load_generator(kind: str, source: str | Path, *, name: str) -> GeneratorModel:
    """Load a generator saved with ``save_pretrained`` (a local directory) as a :class:`GeneratorModel`.

    Args:
        kind: ``"vae"`` (sampled with the decoder mean) or ``"flow"``.
        source: a folder written by ``save_pretrained`` of a model of ``kind``
            (:func:`antithetic.generator_training.train_generator` trains one).
        name: the model's name.

    Raises:
        ModelNotAvailableError: ``source`` holds no ``config.json``.
        UnreadableFileError: its weights file is truncated or corrupt (the message names it).
    """
    from ..artifacts import check_weights
    from .errors import ModelNotAvailableError
    from .flow import DigitsFlow
    from .vae import DigitsVAE

    classes = {"vae": DigitsVAE, "flow": DigitsFlow}
    if kind not in classes:
        raise ValueError(f"unknown generator kind {kind!r}; known: {sorted(classes)}")
    path = Path(source).expanduser()
    if not (path / "config.json").is_file():
        raise ModelNotAvailableError(
            f"generator directory source={str(source)!r} has no config.json; train the model first "
            "(antithetic.generator_training) or fix the path"
        )
    check_weights(path)
    module = classes[kind].from_pretrained(str(path)).eval()
    info = {
        "kind": kind,
        "source": str(source),
        "parameters": sum(p.numel() for p in module.parameters()),
        **module.describe(),
    }
    return GeneratorModel(
        decode=module.generate,
        sample_shape=module.noise_shape,
        image_shape=module.sample_shape,
        name=name,
        module=module,
        info=info,
    )
