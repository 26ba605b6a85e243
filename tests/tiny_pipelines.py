"""Tiny randomly initialised diffusers pipelines, built from configs and saved with save_pretrained.

They stand in for the paper's hub checkpoints (Stable Diffusion 1.5, DiT-XL/2, consistency models)
in offline tests: same classes, same loading path, a few thousand parameters.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch


def _vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"), up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        norm_num_groups=8, sample_size=16,
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


def write_clip_tokenizer(path: Path) -> None:
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
    CLIPTokenizer(str(path / "vocab.json"), str(path / "merges.txt"), model_max_length=16).save_pretrained(path)


def tiny_stable_diffusion(path: Path) -> Path:
    """A tiny StableDiffusionPipeline (16x16 images, 8x8 latents) with a DDIM schedule."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    write_clip_tokenizer(path / "_tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(path / "_tokenizer")
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        max_position_embeddings=16, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    ))
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 32), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16, attention_head_dim=4, norm_num_groups=8,
    )
    scheduler = DDIMScheduler(
        num_train_timesteps=100, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
        clip_sample=False, set_alpha_to_one=False, steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=_vae(), text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(path / "sd")
    return path / "sd"


def tiny_dit(path: Path, num_classes: int = 1000) -> Path:
    """A tiny DiTPipeline (learned sigma, 8x8 latents; 1000 classes: DiTPipeline hard-codes null class 1000)."""
    from diffusers import DDIMScheduler, DiTPipeline, DiTTransformer2DModel

    torch.manual_seed(1)
    transformer = DiTTransformer2DModel(
        num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=8, num_layers=1, sample_size=8,
        patch_size=2, num_embeds_ada_norm=num_classes, norm_num_groups=4,
    )
    # zero-initialised adaLN layers would make a fresh DiT ignore its input; perturb them
    with torch.no_grad():
        for p in transformer.parameters():
            p.add_(0.05 * torch.randn_like(p))
    scheduler = DDIMScheduler(num_train_timesteps=100, clip_sample=False)
    DiTPipeline(transformer=transformer, vae=_vae(), scheduler=scheduler).save_pretrained(path / "dit")
    return path / "dit"


def tiny_consistency(path: Path, num_classes: int | None = 10) -> Path:
    """A tiny ConsistencyModelPipeline (8x8 RGB, class-conditional unless ``num_classes`` is None)."""
    from diffusers import CMStochasticIterativeScheduler, ConsistencyModelPipeline, UNet2DModel

    torch.manual_seed(2)
    unet = UNet2DModel(
        sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=8,
        num_class_embeds=num_classes,
    )
    scheduler = CMStochasticIterativeScheduler(num_train_timesteps=40, sigma_min=0.002, sigma_max=80.0)
    name = "cm" if num_classes else "cm-uncond"
    ConsistencyModelPipeline(unet=unet, scheduler=scheduler).save_pretrained(path / name)
    return path / name
