"""Tiny randomly initialised diffusers pipelines, built from configs and saved with save_pretrained.

They stand in for the paper's hub checkpoints (Stable Diffusion 1.5, DiT-XL/2, consistency models)
in offline tests: same classes, same loading path, a few thousand parameters. The builders live in
:mod:`antithetic.models.tiny` (the paper-scale rehearsal uses them too, at the checkpoints' sizes).
"""

from __future__ import annotations

from pathlib import Path

from antithetic.models.tiny import (
    tiny_consistency_pipeline,
    tiny_dit_pipeline,
    tiny_stable_diffusion_pipeline,
    write_clip_tokenizer,
)

__all__ = ["tiny_consistency", "tiny_dit", "tiny_stable_diffusion", "write_clip_tokenizer"]


def tiny_stable_diffusion(path: Path) -> Path:
    """A tiny StableDiffusionPipeline (16x16 images, 8x8 latents) with a DDIM schedule."""
    return tiny_stable_diffusion_pipeline(path / "sd")


def tiny_dit(path: Path, num_classes: int = 1000) -> Path:
    """A tiny DiTPipeline (learned sigma, 8x8 latents; 1000 classes: DiTPipeline hard-codes null class 1000)."""
    return tiny_dit_pipeline(path / "dit", num_classes=num_classes)


def tiny_consistency(path: Path, num_classes: int | None = 10) -> Path:
    """A tiny ConsistencyModelPipeline (8x8 RGB, class-conditional unless ``num_classes`` is None)."""
    return tiny_consistency_pipeline(path / ("cm" if num_classes else "cm-uncond"), num_classes=num_classes)
