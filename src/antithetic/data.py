"""Data sets that ship inside packages, so the default run needs no download, and folders of images
that users bring for the paper-scale checkpoints (e.g. CelebA-HQ validation images for Table 3)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

__all__ = ["IMAGE_SUFFIXES", "digits_class_means", "load_dataset", "load_digits_images", "load_image_folder"]

#: File types :func:`load_image_folder` reads.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


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


def load_image_folder(path: str | Path, shape: Sequence[int], count: int) -> torch.Tensor:
    """The first ``count`` images of a folder (by file name), as a model's samples ``(count, *shape)``.

    Each image is centre-cropped to a square, resized (bicubic, antialiased) to ``shape``'s height and
    width, converted to RGB (3 channels) or grey (1 channel), and mapped to ``[-1, 1]``.

    Raises:
        FileNotFoundError: the folder ``path`` does not exist.
        UnreadableFileError: one of its first ``count`` images cannot be read (the message names it).
        ValueError: it holds fewer than ``count`` images, or ``shape`` is not ``(1 or 3, H, W)``.
    """
    from PIL import Image

    folder = Path(path)
    channels, height, width = (int(s) for s in shape)
    if channels not in (1, 3):
        raise ValueError(f"images can feed a model of 1 or 3 channels, got shape={tuple(shape)}")
    if not folder.is_dir():
        raise FileNotFoundError(f"path {str(folder)!r} is no folder; put the images there ({', '.join(IMAGE_SUFFIXES)})")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) < count:
        raise ValueError(f"path {str(folder)!r} holds {len(files)} images, fewer than count={count}; add images or lower the count")
    images = []
    for file in files[:count]:
        try:
            image = Image.open(file)
            image.load()
        except (OSError, SyntaxError, ValueError) as err:  # PIL's errors of a truncated or unknown image file
            from .artifacts import UnreadableFileError

            raise UnreadableFileError(file, f"not an image PIL can read ({err.__class__.__name__}: {err})",
                                      fix="replace it with a readable image or move it out of the folder") from err
        with image:
            image = image.convert("RGB" if channels == 3 else "L")
            side = min(image.size)
            left, top = (image.width - side) // 2, (image.height - side) // 2
            image = image.crop((left, top, left + side, top + side)).resize((width, height), Image.Resampling.BICUBIC)
            array = np.asarray(image, dtype=np.float32).reshape(height, width, channels)
        images.append(torch.from_numpy(array / 127.5 - 1.0).permute(2, 0, 1))
    return torch.stack(images).clamp(-1.0, 1.0)
