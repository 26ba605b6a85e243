"""Train the workflow's own small DDPM on a packaged data set (default: sklearn's digits).

Standard epsilon-prediction DDPM training (Ho et al. 2020): ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``,
loss ``||eps_theta(x_t, t) - eps||^2`` with ``t`` uniform, an exponential moving average of the weights,
and a cosine learning-rate schedule. Fully seeded; saved with ``save_pretrained`` as a
:class:`~diffusers.DDPMPipeline`, so it loads through the same path as ``google/ddpm-cifar10-32``.

With ``num_classes`` set the network is class-conditional and trained for classifier-free guidance
(Ho & Salimans 2022, Algorithm 1): the loss is ``||eps_theta(x_t, t, c) - eps||^2`` with ``c`` the
image's class label, replaced by the null class ``num_classes`` with probability ``label_dropout``, so the
one network learns both the conditional ``eps(x_t, t, c)`` and the unconditional ``eps(x_t, t, null)``
that guidance combines (:func:`antithetic.models.conditional.guide`). The UNet's class embedding has
``num_classes + 1`` rows, the last one the null class.
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

__all__ = ["TrainConfig", "build_unet", "drop_class_labels", "train_ddpm", "save_pipeline_atomically"]


@dataclass
class TrainConfig:
    """Training hyper-parameters of the digits DDPM.

    Attributes:
        num_classes: ``None`` trains an unconditional DDPM; a number of classes trains a class-conditional
            one on the data set's labels (which must lie in ``[0, num_classes)``), with the null class
            ``num_classes`` for the unconditional branch of classifier-free guidance.
        label_dropout: probability that a training image's label is replaced by the null class (Ho &
            Salimans 2022 use 0.1 and 0.2); in ``[0, 1)``. Unused when ``num_classes`` is ``None``.
    """

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
    num_classes: int | None = None
    label_dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.num_classes is not None and int(self.num_classes) < 1:
            raise ValueError(f"num_classes must be a positive number of classes (or None: unconditional), got {self.num_classes}")
        if not 0.0 <= float(self.label_dropout) < 1.0:
            raise ValueError(
                f"label_dropout must lie in [0, 1), got {self.label_dropout}: it is the probability of training on the "
                "null class; 0.1 is usual (at 1 the network would never see a class)"
            )

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None


def build_unet(cfg: TrainConfig, *, sample_size: int, channels: int) -> UNet2DModel:
    """A small UNet2DModel: convolutional blocks only (attention buys nothing at 8x8).

    A class-conditional config adds a class embedding of ``num_classes + 1`` rows (the last: the null class),
    added to the timestep embedding (diffusers' ``num_class_embeds``).
    """
    n = len(cfg.block_out_channels)
    conditional = {"num_class_embeds": int(cfg.num_classes) + 1} if cfg.conditional else {}
    return UNet2DModel(
        sample_size=sample_size,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=tuple(cfg.block_out_channels),
        layers_per_block=cfg.layers_per_block,
        down_block_types=("DownBlock2D",) * n,
        up_block_types=("UpBlock2D",) * n,
        norm_num_groups=min(32, min(cfg.block_out_channels)),
        **conditional,
    )


def drop_class_labels(labels: torch.Tensor, *, null_class: int, probability: float, generator: torch.Generator) -> torch.Tensor:
    """``labels`` with each one replaced by ``null_class`` with probability ``probability`` (independently).

    The label dropout of classifier-free guidance training (Ho & Salimans 2022, Algorithm 1, ``p_uncond``).
    Draws ``len(labels)`` uniforms from ``generator``, whatever ``probability`` is.
    """
    dropped = torch.rand(labels.shape, generator=generator) < probability
    return torch.where(dropped, torch.full_like(labels, null_class), labels)


def train_ddpm(cfg: TrainConfig, *, progress: bool = True) -> tuple[DDPMPipeline, list[float]]:
    """Train a DDPM and return the pipeline (EMA weights) and the per-step training loss.

    An unconditional config (``num_classes`` None) draws exactly the random numbers it always did; a
    class-conditional one draws the label dropout after the noise of each step.

    Raises:
        ValueError: a class-conditional config whose ``num_classes`` does not cover the data set's labels.
    """
    torch.manual_seed(cfg.seed)
    images, labels = load_dataset(cfg.dataset)
    if cfg.conditional and not 0 <= int(labels.min()) <= int(labels.max()) < cfg.num_classes:
        raise ValueError(
            f"num_classes={cfg.num_classes} does not cover the labels of dataset {cfg.dataset!r} "
            f"({int(labels.min())} to {int(labels.max())}); set num_classes to {int(labels.max()) + 1}"
        )
    unet = build_unet(cfg, sample_size=images.shape[-1], channels=images.shape[1])
    scheduler = DDPMScheduler(num_train_timesteps=cfg.num_train_timesteps, beta_schedule=cfg.beta_schedule)
    ema = EMAModel(unet.parameters(), decay=cfg.ema_decay, use_ema_warmup=True)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=cfg.learning_rate, weight_decay=0.0)
    lr_schedule = get_cosine_schedule_with_warmup(optimizer, cfg.warmup_steps, cfg.steps)
    gen = torch.Generator().manual_seed(cfg.seed)
    losses: list[float] = []

    unet.train()
    what = "class-conditional DDPM" if cfg.conditional else "DDPM"
    bar = tqdm(range(cfg.steps), desc=f"train {what} on {cfg.dataset}", disable=not progress, mininterval=2.0)
    for _ in bar:
        # 1. a minibatch of data, uniform timesteps and the noise to predict
        rows = torch.randint(0, len(images), (cfg.batch_size,), generator=gen)
        batch = images[rows]
        t = torch.randint(0, cfg.num_train_timesteps, (cfg.batch_size,), generator=gen)
        noise = torch.randn(batch.shape, generator=gen)
        # 2. forward process and epsilon-prediction loss; the class labels (some dropped to the null class)
        #    are drawn only when conditional, so an unconditional run keeps its random numbers and weights
        noisy = scheduler.add_noise(batch, noise, t)
        if cfg.conditional:
            classes = drop_class_labels(labels[rows].long(), null_class=int(cfg.num_classes), probability=cfg.label_dropout, generator=gen)
            prediction = unet(noisy, t, class_labels=classes).sample
        else:
            prediction = unet(noisy, t).sample
        loss = torch.nn.functional.mse_loss(prediction, noise)
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
    """The settings of ``cfg`` as a dict; an unconditional config leaves out the class settings it does not
    use, so its record reads as before they existed."""
    settings = asdict(cfg)
    if not cfg.conditional:
        settings.pop("num_classes")
        settings.pop("label_dropout")
    return settings
