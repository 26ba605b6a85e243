"""Data sets that ship inside packages, so the default run needs no download."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["digits_class_means", "load_dataset", "load_digits_images"]


def load_digits_images() -> tuple[torch.Tensor, torch.Tensor]:
    """The 1,797 real 8x8 handwritten digits of :func:`sklearn.datasets.load_digits`.

    Returns:
        images in ``[-1, 1]`` of shape ``(1797, 1, 8, 8)`` (float32; 0 = white paper maps to -1) and labels.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.float32) / 16.0 * 2.0 - 1.0
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(bunch.target.astype(np.int64))


def digits_class_means() -> torch.Tensor:
    """Mean image of each digit class, ``(10, 1, 8, 8)`` in ``[-1, 1]``."""
    images, labels = load_digits_images()
    return torch.stack([images[labels == c].mean(0) for c in range(10)])


_DATASETS = {"digits": load_digits_images}


def load_dataset(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a packaged data set by its config name."""
    if name not in _DATASETS:
        raise ValueError(f"unknown dataset {name!r}; available offline: {sorted(_DATASETS)}")
    return _DATASETS[name]()
