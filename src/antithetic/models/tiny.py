"""Tiny randomly initialised diffusers pipelines, built from configs and saved with ``save_pretrained``.

They stand in for hub checkpoints where no weights are at hand: the offline tests
(``tests/tiny_pipelines.py``) and the paper-scale rehearsal (:mod:`antithetic.workflow.rehearsal`). Each
builder makes the same pipeline, network and scheduler classes as the checkpoint it replaces, with the
sample size and channel counts given and a few thousand parameters. Their samples are noise-like
images: they exercise code paths, never numbers of the paper.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "tiny_conditional_ddpm_pipeline",
    "tiny_consistency_pipeline",
    "tiny_ddpm_pipeline",
    "tiny_dit_pipeline",
    "tiny_stable_diffusion_pipeline",
    "tiny_vae",
    "write_clip_tokenizer",
]


def tiny_vae(*, levels: int = 2, sample_size: int = 16, width: int = 8, scaling_factor: float = 0.18215):
    """An :class:`~diffusers.AutoencoderKL` with 4 latent channels and downsampling factor ``2 ** (levels - 1)``."""
    from diffusers import AutoencoderKL

    channels = tuple(width * min(2**i, 2) for i in range(levels))
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=channels, layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * levels, up_block_types=("UpDecoderBlock2D",) * levels,
        norm_num_groups=width, sample_size=sample_size, scaling_factor=scaling_factor,
    )


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map, used by CLIP's byte-level BPE."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def write_clip_tokenizer(path: Path, *, model_max_length: int = 16) -> None:
    """A byte-level CLIP BPE vocabulary (every byte, with and without ``</w>``) and a few merges."""
    from transformers import CLIPTokenizer

    chars = list(_bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    merges = ["#version: 0.2", "a t</w>", "t h", "th e</w>"]
    for token in ("at</w>", "th", "the</w>", "<|startoftext|>", "<|endoftext|>"):
        vocab[token] = len(vocab)
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.json").write_text(json.dumps(vocab))
    (path / "merges.txt").write_text("\n".join(merges) + "\n")
    CLIPTokenizer(str(path / "vocab.json"), str(path / "merges.txt"), model_max_length=model_max_length).save_pretrained(path)


def tiny_stable_diffusion_pipeline(
    path: Path, *, latent_size: int = 8, vae_levels: int = 2, unet_levels: int = 2, max_length: int = 16, scheduler=None,
    seed: int = 0,
) -> Path:
    """A tiny :class:`~diffusers.StableDiffusionPipeline` (CLIP text encoder, 4-channel latents) saved at ``path``.

    Images are ``latent_size * 2 ** (vae_levels - 1)`` pixels; ``scheduler`` defaults to a 100-step DDIM
    schedule with Stable Diffusion's betas. With ``unet_levels`` > 2 the UNet attends to the text only at its
    coarsest level (self-attention over large latents would cost more than the rest of the network).
    """
    from diffusers import DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    write_clip_tokenizer(path.parent / f"_{path.name}_tokenizer", model_max_length=max_length)
    tokenizer = CLIPTokenizer.from_pretrained(path.parent / f"_{path.name}_tokenizer")
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        max_position_embeddings=max_length, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    ))
    if unet_levels == 2:
        channels, down = (16, 32), ("CrossAttnDownBlock2D", "DownBlock2D")
    else:
        channels, down = (8,) * (unet_levels - 2) + (16, 16), ("DownBlock2D",) * (unet_levels - 1) + ("CrossAttnDownBlock2D",)
    up = tuple("CrossAttnUpBlock2D" if block == "CrossAttnDownBlock2D" else "UpBlock2D" for block in reversed(down))
    unet = UNet2DConditionModel(
        sample_size=latent_size, in_channels=4, out_channels=4, block_out_channels=channels, layers_per_block=1,
        down_block_types=down, up_block_types=up, cross_attention_dim=16, attention_head_dim=4, norm_num_groups=8,
    )
    if scheduler is None:
        scheduler = DDIMScheduler(
            num_train_timesteps=100, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
            clip_sample=False, set_alpha_to_one=False, steps_offset=1,
        )
    vae = tiny_vae(levels=vae_levels, sample_size=latent_size * 2 ** (vae_levels - 1))
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(path)
    return path


def tiny_dit_pipeline(
    path: Path, *, latent_size: int = 8, vae_levels: int = 2, num_classes: int = 1000, scheduler=None, seed: int = 1,
) -> Path:
    """A tiny :class:`~diffusers.DiTPipeline` (learned sigma: 8 output channels for 4 latent ones) saved at ``path``.

    ``num_classes`` 1000: DiTPipeline hard-codes the null class 1000. ``scheduler`` defaults to a 100-step DDIM schedule.
    """
    from diffusers import DDIMScheduler, DiTPipeline, DiTTransformer2DModel

    torch.manual_seed(seed)
    transformer = DiTTransformer2DModel(
        num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=8, num_layers=1, sample_size=latent_size,
        patch_size=2, num_embeds_ada_norm=num_classes, norm_num_groups=4,
    )
    # zero-initialised adaLN layers would make a fresh DiT ignore its input; perturb them
    with torch.no_grad():
        for p in transformer.parameters():
            p.add_(0.05 * torch.randn_like(p))
    if scheduler is None:
        scheduler = DDIMScheduler(num_train_timesteps=100, clip_sample=False)
    vae = tiny_vae(levels=vae_levels, sample_size=latent_size * 2 ** (vae_levels - 1))
    DiTPipeline(transformer=transformer, vae=vae, scheduler=scheduler).save_pretrained(path)
    return path


def _tiny_unet(
    sample_size: int, num_class_embeds: int | None = None, channels: Sequence[int] = (8, 16), in_channels: int = 3,
):
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=sample_size, in_channels=in_channels, out_channels=in_channels, block_out_channels=tuple(channels),
        layers_per_block=1,
        down_block_types=("DownBlock2D",) * len(channels), up_block_types=("UpBlock2D",) * len(channels),
        norm_num_groups=min(channels), num_class_embeds=num_class_embeds,
    )


def tiny_consistency_pipeline(
    path: Path, *, sample_size: int = 8, num_classes: int | None = 10, scheduler_config: dict[str, Any] | None = None,
    channels: Sequence[int] = (8, 16), seed: int = 2,
) -> Path:
    """A tiny :class:`~diffusers.ConsistencyModelPipeline` (RGB, class-conditional unless ``num_classes`` is None).

    ``channels``: one width per UNet level; the mid-block attends over ``sample_size / 2 ** (levels - 1)`` squared
    positions, so large images need several levels.
    """
    from diffusers import CMStochasticIterativeScheduler, ConsistencyModelPipeline

    torch.manual_seed(seed)
    unet = _tiny_unet(sample_size, num_classes, channels)
    scheduler = CMStochasticIterativeScheduler(**(scheduler_config or {"num_train_timesteps": 40, "sigma_min": 0.002, "sigma_max": 80.0}))
    ConsistencyModelPipeline(unet=unet, scheduler=scheduler).save_pretrained(path)
    return path


def tiny_ddpm_pipeline(
    path: Path, *, sample_size: int, scheduler_config: dict[str, Any], channels: Sequence[int] = (8, 16), seed: int = 3,
) -> Path:
    """A tiny unconditional :class:`~diffusers.DDPMPipeline` (RGB, epsilon prediction) with a :class:`~diffusers.DDPMScheduler`.

    ``channels``: one width per UNet level (see :func:`tiny_consistency_pipeline`).
    """
    from diffusers import DDPMPipeline, DDPMScheduler

    torch.manual_seed(seed)
    DDPMPipeline(unet=_tiny_unet(sample_size, None, channels), scheduler=DDPMScheduler(**scheduler_config)).save_pretrained(path)
    return path


def tiny_conditional_ddpm_pipeline(
    path: Path, *, sample_size: int = 8, channels: int = 1, num_classes: int = 10, widths: Sequence[int] = (8, 16),
    num_train_timesteps: int = 100, seed: int = 4,
) -> Path:
    """A tiny class-conditional :class:`~diffusers.DDPMPipeline` saved at ``path``, laid out as
    :func:`antithetic.training.train_ddpm` lays out a class-conditional model: ``num_classes + 1`` class
    embeddings, the last the null class of classifier-free guidance. ``widths``: one per UNet level.

    The class embedding of a fresh UNet is drawn like its other weights, so each class (and the null class)
    already moves the noise prediction: guidance changes the samples.
    """
    from diffusers import DDPMPipeline, DDPMScheduler

    torch.manual_seed(seed)
    unet = _tiny_unet(sample_size, num_classes + 1, widths, in_channels=channels)
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=num_train_timesteps)).save_pretrained(path)
    return path
