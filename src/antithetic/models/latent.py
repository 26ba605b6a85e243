"""Latent diffusion models behind the common interface: Stable Diffusion and class-conditional DiT.

Both run in the latent space of a VAE. The samplers of :mod:`antithetic.samplers` drive the latent
noise predictor with their own loop (the initial latent ``z`` and every injected noise come from the
noise design, so the antithetic twin receives exactly ``-z`` and the negated step noises), and
:func:`antithetic.generate.generate` decodes the final latents with :meth:`LatentDiffusionModel.decode_latents`.

* :func:`stable_diffusion_model`: :class:`~diffusers.UNet2DConditionModel` conditioned on CLIP text
  embeddings of the prompts (one per sample index, see :mod:`antithetic.models.conditional`), with
  classifier-free guidance against the negative prompt, as :class:`~diffusers.StableDiffusionPipeline`.
* :func:`dit_model`: :class:`~diffusers.DiTTransformer2DModel` conditioned on ImageNet class labels,
  guidance against the null class, learned-sigma channels dropped, as :class:`~diffusers.DiTPipeline`.

Precision: the denoiser (and text encoder) run in the model's dtype (float16 on CUDA by default, see
:func:`antithetic.device.resolve_dtype`); the sampler state stays float32 and the VAE always decodes
in float32 (half-precision VAE decoding can overflow).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from diffusers import DDIMScheduler

from .base import DiffusionModel, state_dict_sha256
from .conditional import ClassLabels, Prompts, guide
from .errors import ModelNotAvailableError
from .pretrained import load_pipeline

__all__ = ["LatentDiffusionModel", "dit_model", "load_dit", "load_stable_diffusion", "stable_diffusion_model"]


def _sampling_scheduler(scheduler) -> DDIMScheduler:
    """The training schedule as a DDIM scheduler that never clips: latents are not in [-1, 1]."""
    return DDIMScheduler.from_config(scheduler.config, clip_sample=False)


class LatentDiffusionModel(DiffusionModel):
    """A latent noise predictor plus the VAE that maps final latents to images in [-1, 1].

    Args:
        vae: a :class:`~diffusers.AutoencoderKL`; latents are divided by its ``scaling_factor``
            before decoding.
        guidance_scale: classifier-free guidance scale ``w`` (``1``: no guidance).
        modules: the networks moved by :meth:`to` in the model dtype (the VAE stays float32).
        other arguments: as :class:`DiffusionModel` (``sample_shape`` is the latent shape).
    """

    def __init__(self, *, vae, guidance_scale: float, modules: dict[str, torch.nn.Module], **kwargs: Any) -> None:
        super().__init__(module=torch.nn.ModuleDict(modules), **kwargs)
        self.vae = vae.eval()
        self.guidance_scale = float(guidance_scale)
        # hashed once, as loaded: casting to float16 later must not change the recorded weights hash
        self._sha256 = state_dict_sha256(torch.nn.ModuleDict({**modules, "vae": vae}))

    def to(self, device=None, dtype=None) -> LatentDiffusionModel:
        super().to(device, dtype)
        self.vae.to(device=self.device, dtype=torch.float32)
        return self

    def weights_sha256(self) -> str:
        return self._sha256

    #: latents the VAE decodes at once: its float32 activations take about 0.65 GB per 512^2 image, so a
    #: whole batch (32 images: about 21 GB) would not fit where the UNet's batch does. One at a time also
    #: makes each image independent of the batch it was sampled in (a convolution's rounding depends on
    #: its batch size); a 512^2 decode fills a GPU on its own, so little throughput is lost
    DECODE_CHUNK = 1

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor, *, chunk_size: int | None = None) -> torch.Tensor:
        """Images in [-1, 1] (float32) from final latents: ``VAE.decode(latents / scaling_factor)``.

        Decodes ``chunk_size`` latents at a time (default :attr:`DECODE_CHUNK`), so the VAE's peak memory
        does not grow with the batch. The decoder treats every latent on its own (no batch statistics), so
        each image is what a decode of the whole batch gives, up to float32 rounding (about 1e-6: the
        convolutions' kernels depend on the batch size).
        """
        chunk = int(chunk_size or self.DECODE_CHUNK)
        if chunk < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        scale = self.vae.config.scaling_factor
        latents = latents.to(device=self.device, dtype=torch.float32)
        images = [self.vae.decode(part / scale).sample for part in torch.split(latents, chunk)]
        return torch.cat(images).clamp(-1.0, 1.0)


# ------------------------------------------------------------------------------------ Stable Diffusion
class StableDiffusionModel(LatentDiffusionModel):
    """Stable Diffusion's latent UNet with CLIP text conditioning and classifier-free guidance."""

    def __init__(self, *, unet, text_encoder, tokenizer, vae, prompts: Prompts, negative_prompt: str, **kwargs: Any):
        self.unet, self.text_encoder, self.tokenizer = unet.eval(), text_encoder.eval(), tokenizer
        self.prompts = prompts
        self.negative_prompt = negative_prompt
        self._cache: dict[str, torch.Tensor] = {}
        super().__init__(eps=self._predict, vae=vae, modules={"unet": unet, "text_encoder": text_encoder}, **kwargs)

    def to(self, device=None, dtype=None) -> StableDiffusionModel:
        self._cache.clear()
        return super().to(device, dtype)

    @torch.no_grad()
    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        """CLIP text embeddings ``(B, L, D)`` as in ``StableDiffusionPipeline.encode_prompt`` (cached per prompt)."""
        missing = sorted({p for p in prompts if p not in self._cache})
        if missing:
            tokens = self.tokenizer(
                missing, padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True, return_tensors="pt"
            )
            embeds = self.text_encoder(tokens.input_ids.to(self.device))[0].to(self.dtype)
            self._cache.update(zip(missing, embeds))
        return torch.stack([self._cache[p] for p in prompts])

    def condition(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        """Text embeddings of the samples' prompts and of the negative prompt."""
        prompts = self.prompts(indices)
        return {"prompt_embeds": self.encode(prompts), "negative_prompt_embeds": self.encode([self.negative_prompt] * len(prompts))}

    def _predict(self, x: torch.Tensor, t: torch.Tensor, cond: dict[str, torch.Tensor] | None) -> torch.Tensor:
        if cond is None:
            raise ValueError(f"model {self.name!r} is text-conditional: pass cond=model.condition(indices)")
        w = self.guidance_scale
        if w == 1.0:
            return self.unet(x, t, encoder_hidden_states=cond["prompt_embeds"]).sample
        # 1. one batched pass over [null, text] as the pipeline does; 2. combine with scale w
        both = torch.cat([cond["negative_prompt_embeds"], cond["prompt_embeds"]])
        eps_uncond, eps_text = self.unet(torch.cat([x, x]), torch.cat([t, t]), encoder_hidden_states=both).sample.chunk(2)
        return guide(eps_text, eps_uncond, w)


def stable_diffusion_model(
    *,
    unet,
    vae,
    text_encoder,
    tokenizer,
    scheduler,
    prompts: Sequence[str],
    name: str,
    negative_prompt: str = "",
    guidance_scale: float = 7.5,
    image_size: int | None = None,
    source: str | None = None,
) -> StableDiffusionModel:
    """Wrap Stable Diffusion components (an epsilon-prediction UNet2DConditionModel) as a latent model.

    Args:
        prompts: the prompts, used in turn by condition slot (two consecutive samples share one).
        image_size: image height = width in pixels (default: the UNet's sample size times the VAE factor).
    """
    if scheduler.config.get("prediction_type", "epsilon") != "epsilon":
        raise ValueError(f"model {name!r}: only epsilon-prediction Stable Diffusion checkpoints are supported")
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    image_size = int(image_size or unet.config.sample_size * factor)
    if image_size % factor:
        raise ValueError(f"models.{name}.image_size must be a multiple of the VAE factor {factor}, got {image_size}")
    latent = image_size // factor
    info = {
        "kind": "stable_diffusion", "source": source, "image_size": image_size, "negative_prompt": negative_prompt,
        "num_prompts": len(prompts), "parameters": sum(p.numel() for p in unet.parameters()),
    }
    return StableDiffusionModel(
        unet=unet, text_encoder=text_encoder, tokenizer=tokenizer, vae=vae, prompts=Prompts(prompts),
        negative_prompt=negative_prompt, guidance_scale=guidance_scale, scheduler=_sampling_scheduler(scheduler),
        sample_shape=(unet.config.in_channels, latent, latent), name=name, info=info,
    )


def load_stable_diffusion(source: str | Path, *, name: str, prompts: Sequence[str], **options: Any):
    """Load a Stable Diffusion folder or hub id (the safety checker is not loaded: images are never shown)."""
    pipe = load_pipeline(source, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    if not all(hasattr(pipe, part) for part in ("unet", "vae", "text_encoder", "tokenizer")):
        raise ModelNotAvailableError(f"{source!r} is a {type(pipe).__name__}, not a Stable Diffusion pipeline; fix kind or pretrained")
    return stable_diffusion_model(
        unet=pipe.unet, vae=pipe.vae, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer, scheduler=pipe.scheduler,
        prompts=prompts, name=name, source=str(source), **options,
    )


# ------------------------------------------------------------------------------------ DiT
class DiTModel(LatentDiffusionModel):
    """Class-conditional DiT with guidance against the null class; learned-sigma channels dropped."""

    def __init__(self, *, transformer, vae, labels: ClassLabels, **kwargs: Any):
        self.transformer = transformer.eval()
        self.labels = labels
        self.null_class = int(transformer.config.num_embeds_ada_norm)
        super().__init__(eps=self._predict, vae=vae, modules={"transformer": transformer}, **kwargs)
        self.info.update(labels.describe())

    def condition(self, indices: Sequence[int]) -> torch.Tensor:
        return self.labels(indices).to(self.device)

    def _predict(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        if cond is None:
            raise ValueError(f"model {self.name!r} is class-conditional: pass cond=model.condition(indices)")
        channels = self.sample_shape[0]
        w = self.guidance_scale
        if w == 1.0:
            return self.transformer(x, timestep=t, class_labels=cond).sample[:, :channels]
        # 1. one batched pass over [class, null]; 2. guide the eps channels (sigma channels are unused)
        null = torch.full_like(cond, self.null_class)
        out = self.transformer(torch.cat([x, x]), timestep=torch.cat([t, t]), class_labels=torch.cat([cond, null])).sample
        eps_cond, eps_uncond = out[:, :channels].chunk(2)
        return guide(eps_cond, eps_uncond, w)


def dit_model(
    *, transformer, vae, scheduler, name: str, class_labels: str | Sequence[int] = "random", label_seed: int = 0,
    guidance_scale: float = 4.0, source: str | None = None,
) -> DiTModel:
    """Wrap DiT components (transformer, VAE, training scheduler) as a class-conditional latent model."""
    num_classes = int(transformer.config.num_embeds_ada_norm)
    labels = ClassLabels(class_labels, num_classes=num_classes, seed=label_seed)
    size = transformer.config.sample_size
    info = {"kind": "dit", "source": source, "parameters": sum(p.numel() for p in transformer.parameters())}
    return DiTModel(
        transformer=transformer, vae=vae, labels=labels, guidance_scale=guidance_scale,
        scheduler=_sampling_scheduler(scheduler), sample_shape=(transformer.config.in_channels, size, size), name=name, info=info,
    )


def load_dit(source: str | Path, *, name: str, **options: Any) -> DiTModel:
    """Load a DiT pipeline folder or hub id (e.g. ``facebook/DiT-XL-2-256``)."""
    pipe = load_pipeline(source)
    if not hasattr(pipe, "transformer") or not hasattr(pipe, "vae"):
        raise ModelNotAvailableError(f"{source!r} is a {type(pipe).__name__}, not a DiT pipeline; fix kind or pretrained")
    return dit_model(transformer=pipe.transformer, vae=pipe.vae, scheduler=pipe.scheduler, name=name, source=str(source), **options)
