"""Device selection: explicit when asked, automatic otherwise, never a hard-coded ``cuda:N``."""

from __future__ import annotations

import torch

__all__ = ["resolve_device", "describe_device"]


def resolve_device(requested: str | None = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple MPS, then CPU; anything else is passed to :class:`torch.device`.

    Raises:
        RuntimeError: a CUDA/MPS device was requested but is not available.
    """
    requested = (requested or "auto").strip()
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {requested!r} requested but CUDA is not available; use device=auto or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(f"device {requested!r} requested but MPS is not available; use device=auto or cpu")
    return device


def describe_device(device: torch.device) -> str:
    """Human-readable device name for provenance."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type
