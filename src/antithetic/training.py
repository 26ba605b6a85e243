"""Train the workflow's own small DDPM on a packaged data set (default: sklearn's digits).

Standard epsilon-prediction DDPM training (Ho et al. 2020): ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``,
loss ``||eps_theta(x_t, t) - eps||^2`` with ``t`` uniform, an exponential moving average of the weights,
and a cosine learning-rate schedule. Fully seeded; saved with ``save_pretrained`` as a
:class:`~diffusers.DDPMPipeline`, so it loads through the same path as ``google/ddpm-cifar10-32``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel
from diffusers.optimization import get_cosine_schedule_with_warmup
from diffusers.training_utils import EMAModel
from tqdm.auto import tqdm

from .data import load_dataset

__all__ = ["TrainConfig", "build_unet", "train_ddpm", "save_pipeline_atomically"]


@dataclass
class TrainConfig:
    """Training hyper-parameters of the digits DDPM."""

    dataset: str = "digits"
    steps: int = 2000
    batch_size: int = 128
    learning_rate: float = 2e-3
    warmup_steps: int = 100
    ema_decay: float = 0.999
    block_out_channels: list[int] = field(default_factory=lambda: [32, 64])
    layers_per_block: int = 1
    num_train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    seed: int = 0


def build_unet(cfg: TrainConfig, *, sample_size: int, channels: int) -> UNet2DModel:
    """A small UNet2DModel: convolutional blocks only (attention buys nothing at 8x8)."""
    n = len(cfg.block_out_channels)
    return UNet2DModel(
        sample_size=sample_size,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=tuple(cfg.block_out_channels),
        layers_per_block=cfg.layers_per_block,
        down_block_types=("DownBlock2D",) * n,
        up_block_types=("UpBlock2D",) * n,
        norm_num_groups=min(32, min(cfg.block_out_channels)),
    )


def train_ddpm(cfg: TrainConfig, *, progress: bool = True) -> tuple[DDPMPipeline, list[float]]:
    """Train a DDPM and return the pipeline (EMA weights) and the per-step training loss."""
    torch.manual_seed(cfg.seed)
    images, _ = load_dataset(cfg.dataset)
    unet = build_unet(cfg, sample_size=images.shape[-1], channels=images.shape[1])
    scheduler = DDPMScheduler(num_train_timesteps=cfg.num_train_timesteps, beta_schedule=cfg.beta_schedule)
    ema = EMAModel(unet.parameters(), decay=cfg.ema_decay, use_ema_warmup=True)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=cfg.learning_rate, weight_decay=0.0)
    lr_schedule = get_cosine_schedule_with_warmup(optimizer, cfg.warmup_steps, cfg.steps)
    gen = torch.Generator().manual_seed(cfg.seed)
    losses: list[float] = []

    unet.train()
    bar = tqdm(range(cfg.steps), desc=f"train DDPM on {cfg.dataset}", disable=not progress, mininterval=2.0)
    for _ in bar:
        # 1. a minibatch of data, uniform timesteps and the noise to predict
        batch = images[torch.randint(0, len(images), (cfg.batch_size,), generator=gen)]
        t = torch.randint(0, cfg.num_train_timesteps, (cfg.batch_size,), generator=gen)
        noise = torch.randn(batch.shape, generator=gen)
        # 2. forward process and epsilon-prediction loss
        noisy = scheduler.add_noise(batch, noise, t)
        loss = torch.nn.functional.mse_loss(unet(noisy, t).sample, noise)
        # 3. update weights, learning rate and EMA
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        lr_schedule.step()
        ema.step(unet.parameters())
        losses.append(loss.detach().item())
        if len(losses) % 50 == 0:
            bar.set_postfix(loss=f"{sum(losses[-50:]) / 50:.4f}")
    ema.copy_to(unet.parameters())
    unet.eval()
    return DDPMPipeline(unet=unet, scheduler=scheduler), losses


def save_pipeline_atomically(pipeline, out_dir: str | Path, *, extra_json: dict[str, dict] | None = None) -> None:
    """``save_pretrained`` into a temporary sibling directory, then rename: never half-written.

    ``extra_json`` maps file names to objects written as JSON into the folder before the rename. The
    folder gets the mode the umask gives a new folder (:func:`antithetic.artifacts.atomic_directory`).
    """
    from .artifacts import atomic_directory

    with atomic_directory(out_dir) as tmp:
        pipeline.save_pretrained(tmp)
        for filename, obj in (extra_json or {}).items():
            (tmp / filename).write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def config_dict(cfg: TrainConfig) -> dict:
    return asdict(cfg)
