"""Where torch's hub cache keeps downloaded weights, found without importing torch.

The config checks (run while Snakemake builds the DAG, without torch) and :mod:`antithetic.diversity`
(LPIPS) both read :func:`alexnet_weights_path`; a test checks it against ``torch.hub`` and torchvision.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ALEXNET_WEIGHTS", "alexnet_weights_path", "hub_dir"]

#: the file name of torchvision's ImageNet AlexNet weights (``AlexNet_Weights.DEFAULT``), the backbone of LPIPS
ALEXNET_WEIGHTS = "alexnet-owt-7be5be79.pth"


def hub_dir() -> Path:
    """``torch.hub.get_dir()`` as torch finds it: ``$TORCH_HOME/hub``, else ``$XDG_CACHE_HOME/torch/hub``,
    else ``~/.cache/torch/hub`` (a directory set with ``torch.hub.set_dir`` is not seen)."""
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    return Path(os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))) / "hub"


def alexnet_weights_path() -> Path:
    """Where torchvision looks for the ImageNet AlexNet weights that LPIPS needs."""
    return hub_dir() / "checkpoints" / ALEXNET_WEIGHTS
