"""A small CNN classifier of the 8x8 digits: held-out accuracy, and the feature extractor of the
sample-quality, diversity and editing experiments.

The digits are split once into a training and a held-out part (:func:`digits_split`, stratified by
label, fixed seed). The classifier sees images in the DDPM's data range ``[-1, 1]`` and shape
``(1, 8, 8)`` (:func:`antithetic.data.load_digits_images`), so generated samples go in unchanged.

Its penultimate layer (global-average-pooled activations of the last convolution, ``num_features``
values) is the *classifier feature space*: the Fréchet distance of :mod:`antithetic.quality` and the
"feature distance" of :mod:`antithetic.diversity` are measured there. It is a digits-specific
stand-in for Inception / LPIPS features and is always labelled as such.

Saved and loaded like the other models of the workflow (:class:`~diffusers.ModelMixin`):
``save_pretrained(dir)`` writes ``config.json`` and safetensors weights; the training record
(``training.json``: split, accuracy, losses, provenance) travels in the same folder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

from .data import load_dataset

__all__ = [
    "ClassifierTrainConfig",
    "DigitsClassifier",
    "FeatureExtractor",
    "accuracy",
    "digits_split",
    "load_classifier",
    "predict",
    "train_classifier",
]


class DigitsClassifier(ModelMixin, ConfigMixin):
    """Convolutions (3x3, ReLU; a 2x2 max-pool after the first ``pool_after`` blocks), global average
    pooling to ``channels[-1]`` features, and a linear layer to the class logits.

    Args:
        in_channels: image channels.
        channels: output channels of each convolution block.
        num_classes: number of classes.
        pool_after: how many of the first blocks are followed by a 2x2 max-pool (8x8 -> 4x4 for 1).
    """

    @register_to_config
    def __init__(self, in_channels: int = 1, channels: tuple[int, ...] = (32, 64, 64), num_classes: int = 10, pool_after: int = 1):
        super().__init__()
        if not channels:
            raise ValueError("classifier.channels must list at least one convolution width")
        layers: list[nn.Module] = []
        width = in_channels
        for i, out in enumerate(channels):
            layers += [nn.Conv2d(width, int(out), 3, padding=1), nn.ReLU()]
            if i < pool_after:
                layers.append(nn.MaxPool2d(2))
            width = int(out)
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(width, num_classes)

    @property
    def num_features(self) -> int:
        """Dimension of the feature space (the penultimate layer)."""
        return int(self.head.in_features)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features ``(B, num_features)`` of images ``(B, C, H, W)`` in ``[-1, 1]``."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, num_classes)``."""
        return self.head(self.features(x))


class FeatureExtractor(nn.Module):
    """The classifier's feature map as a module, for torchmetrics' ``feature=`` argument.

    torchmetrics reads the attribute ``num_features`` and feeds the images it receives unchanged to
    a custom extractor, so images in the data range ``[-1, 1]`` go in as they are.
    """

    def __init__(self, classifier: DigitsClassifier) -> None:
        super().__init__()
        self.classifier = classifier.eval()
        self.num_features = classifier.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(x.to(torch.float32))


@dataclass
class ClassifierTrainConfig:
    """Training settings of the digits classifier."""

    dataset: str = "digits"
    test_fraction: float = 0.25
    split_seed: int = 0
    seed: int = 0
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 0.003
    weight_decay: float = 0.0001
    channels: list[int] = field(default_factory=lambda: [32, 64, 64])


def digits_split(*, dataset: str = "digits", test_fraction: float = 0.25, split_seed: int = 0) -> dict[str, torch.Tensor]:
    """The fixed, label-stratified training / held-out split of a packaged data set.

    Returns:
        ``{"train_images", "train_labels", "test_images", "test_labels", "train_index", "test_index"}``;
        images in ``[-1, 1]``, indices into :func:`antithetic.data.load_dataset`'s order.
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"classifier.test_fraction must lie in (0, 1), got {test_fraction}")
    images, labels = load_dataset(dataset)
    index = np.arange(len(labels))
    train_index, test_index = train_test_split(
        index, test_size=test_fraction, random_state=split_seed, stratify=labels.numpy()
    )
    train_index, test_index = np.sort(train_index), np.sort(test_index)
    return {
        "train_images": images[train_index], "train_labels": labels[train_index],
        "test_images": images[test_index], "test_labels": labels[test_index],
        "train_index": torch.from_numpy(train_index), "test_index": torch.from_numpy(test_index),
    }


@torch.no_grad()
def accuracy(classifier: DigitsClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``images`` whose arg-max class equals ``labels``."""
    classifier.eval()
    return float((classifier(images).argmax(1) == labels).float().mean())


@torch.no_grad()
def predict(classifier: DigitsClassifier, images: torch.Tensor | np.ndarray, *, batch_size: int = 1024) -> torch.Tensor:
    """The arg-max class of every image ``(N, C, H, W)`` in ``[-1, 1]`` (generated samples go in as they are),
    as a 1-D int64 tensor on the CPU; ``batch_size`` images per forward pass."""
    classifier.eval()
    images = torch.as_tensor(images, dtype=torch.float32)
    device = next(classifier.parameters()).device
    return torch.cat(
        [classifier(images[i : i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(images), batch_size)]
        or [torch.zeros(0, dtype=torch.long)]
    )


def train_classifier(cfg: ClassifierTrainConfig) -> tuple[DigitsClassifier, dict[str, Any]]:
    """Train the classifier with Adam and cross-entropy on the training split; fully seeded.

    Returns:
        the classifier (eval mode) and a record: per-epoch mean loss, training and held-out accuracy,
        split sizes and the settings.
    """
    split = digits_split(dataset=cfg.dataset, test_fraction=cfg.test_fraction, split_seed=cfg.split_seed)
    torch.manual_seed(cfg.seed)
    model = DigitsClassifier(in_channels=split["train_images"].shape[1], channels=tuple(cfg.channels))
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    x, y = split["train_images"], split["train_labels"]
    losses: list[float] = []
    for _ in range(cfg.epochs):
        model.train()
        order = torch.randperm(len(y), generator=gen)
        total = 0.0
        for start in range(0, len(y), cfg.batch_size):
            batch = order[start : start + cfg.batch_size]
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach().item() * len(batch)
        losses.append(total / len(y))
    model.eval()
    record = {
        "settings": asdict(cfg),
        "train_size": int(len(y)),
        "test_size": int(len(split["test_labels"])),
        "train_accuracy": accuracy(model, x, y),
        "test_accuracy": accuracy(model, split["test_images"], split["test_labels"]),
        "epoch_loss": losses,
        "num_features": model.num_features,
    }
    return model, record


def load_classifier(path: str | Path) -> DigitsClassifier:
    """Load a classifier saved by the workflow's ``train_classifier`` rule (eval mode, no gradients).

    Raises:
        FileNotFoundError: ``path`` holds no classifier.
        UnreadableFileError: its weights file is truncated or corrupt (the message names it).
    """
    from .artifacts import check_weights

    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no classifier in {str(path)!r}; run the workflow rule train_classifier that writes it")
    check_weights(path)
    model = DigitsClassifier.from_pretrained(path)
    model.eval().requires_grad_(False)
    return model
