"""The in-memory form of a samples file: samples with the addresses of their noise (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SampleSet"]


@dataclass
class SampleSet:
    """Samples of one (model, sampler, design) with the addresses of their noise.

    ``samples`` is the raw sampler output ``x_0`` (float32, ``(N, C, H, W)``, data range [-1, 1]);
    sample ``i`` was generated from noise index ``indices[i]``, member ``members[i]`` of group
    ``groups[i]`` of the design. ``noise_shape`` is the shape of one initial noise the design drew
    (the model's ``sample_shape``: the latent of a VAE or latent diffusion model, which differs from
    the output's shape); None for files written before it was recorded.
    """

    samples: np.ndarray
    indices: np.ndarray
    groups: np.ndarray
    members: np.ndarray
    design: dict[str, Any]
    sampler: dict[str, Any]
    seconds: float = 0.0
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    noise_shape: tuple[int, ...] | None = None

    def grouped(self) -> np.ndarray:
        """Samples arranged as ``(num_groups, group_size, C, H, W)`` in group and member order."""
        size = int(self.design["group_size"])
        order = np.lexsort((self.members, self.groups))
        return self.samples[order].reshape(-1, size, *self.samples.shape[1:])
