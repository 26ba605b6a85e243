"""Train the workflow's one-shot generators (VAE, RealNVP flow) on a packaged data set.

Both follow the same recipe as the digits DDPM: fully seeded (``torch.manual_seed(seed)`` for the
initial weights, one CPU generator for minibatches and noise), Adam with a cosine learning-rate decay,
gradient-norm clipping at 1, a progress bar, and an atomic ``save_pretrained`` into the model folder
with a ``training.json`` record. The same seed and thread count give bit-identical weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import torch
from tqdm.auto import tqdm

from .data import load_dataset
from .models.flow import DigitsFlow
from .models.vae import DigitsVAE

__all__ = ["FlowTrainConfig", "VAETrainConfig", "train_config", "train_flow", "train_generator", "train_vae"]


@dataclass
class VAETrainConfig:
    """``train:`` block of a ``kind: vae`` model."""

    dataset: str = "digits"
    steps: int = 3000
    batch_size: int = 128
    learning_rate: float = 1e-3
    latent_dim: int = 8
    hidden_dims: list[int] = field(default_factory=lambda: [128, 128])
    seed: int = 0


@dataclass
class FlowTrainConfig:
    """``train:`` block of a ``kind: flow`` model."""

    dataset: str = "digits"
    steps: int = 2000
    batch_size: int = 128
    learning_rate: float = 1e-3
    hidden_features: int = 128
    coupling_layers: int = 4
    logit_alpha: float = 0.05
    seed: int = 0


_CONFIGS = {"vae": VAETrainConfig, "flow": FlowTrainConfig}


def train_config(kind: str, block: dict) -> VAETrainConfig | FlowTrainConfig:
    """The training settings of a generator ``kind`` from the mapping ``block`` of their values.

    Raises:
        ValueError: ``kind`` has no generator training, or ``block`` has keys that do not apply to it.
    """
    if kind not in _CONFIGS:
        raise ValueError(f"no generator training for kind {kind!r}; known: {sorted(_CONFIGS)}")
    cls = _CONFIGS[kind]
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(block) - known)
    if unknown:
        raise ValueError(f"block: keys {unknown} do not apply to a {kind!r} model; allowed: {sorted(known)}")
    return cls(**block)


def _train(model, cfg, images: torch.Tensor, draw_noise, loss_fn, *, desc: str, progress: bool, report_key: str):
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.steps)
    gen = torch.Generator().manual_seed(cfg.seed)
    history: dict[str, list[float]] = {"loss": [], report_key: []}
    model.train()
    bar = tqdm(range(cfg.steps), desc=desc, disable=not progress, mininterval=2.0)
    for _ in bar:
        # 1. a minibatch of data and the noise the objective needs (reparameterisation / dequantization)
        batch = images[torch.randint(0, len(images), (cfg.batch_size,), generator=gen)]
        noise = draw_noise(batch, gen)
        # 2. the objective
        terms = loss_fn(batch, noise)
        # 3. update weights and learning rate
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        history["loss"].append(float(terms["loss"].detach()))
        history[report_key].append(float(terms[report_key].detach()))
        if len(history["loss"]) % 100 == 0:
            bar.set_postfix({report_key: f"{sum(history[report_key][-100:]) / 100:.4f}"})
    model.eval()
    return model, history


def train_vae(cfg: VAETrainConfig, *, progress: bool = True) -> tuple[DigitsVAE, dict[str, list[float]]]:
    """Train a :class:`DigitsVAE`; returns the model and the per-step loss history (nats per pixel)."""
    images, _ = load_dataset(cfg.dataset)
    torch.manual_seed(cfg.seed)
    model = DigitsVAE(sample_shape=tuple(images.shape[1:]), latent_dim=cfg.latent_dim, hidden_dims=tuple(cfg.hidden_dims))
    return _train(
        model, cfg, images,
        lambda batch, gen: torch.randn((len(batch), cfg.latent_dim), generator=gen),
        model.loss, desc=f"train VAE on {cfg.dataset}", progress=progress, report_key="kl",
    )


def train_flow(cfg: FlowTrainConfig, *, progress: bool = True) -> tuple[DigitsFlow, dict[str, list[float]]]:
    """Train a :class:`DigitsFlow`; returns the model and the per-step history (bits per dim)."""
    images, _ = load_dataset(cfg.dataset)
    levels = int(torch.unique(images).numel())
    torch.manual_seed(cfg.seed)
    model = DigitsFlow(
        sample_shape=tuple(images.shape[1:]), hidden_features=cfg.hidden_features,
        coupling_layers=cfg.coupling_layers, levels=levels, logit_alpha=cfg.logit_alpha,
    )
    return _train(
        model, cfg, images,
        lambda batch, gen: torch.rand(batch.shape, generator=gen),
        model.loss, desc=f"train flow on {cfg.dataset}", progress=progress, report_key="bits_per_dim",
    )


def train_generator(kind: str, cfg, *, progress: bool = True):
    """Train a generator of ``kind`` (``"vae"`` or ``"flow"``) from its training config."""
    return {"vae": train_vae, "flow": train_flow}[kind](cfg, progress=progress)


def config_dict(cfg) -> dict:
    return asdict(cfg)
