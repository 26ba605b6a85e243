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

    def first(self, num_samples: int) -> SampleSet:
        """The ``num_samples`` samples of the lowest sample indices (the first whole groups of the design).

        Sample ``k`` depends only on the seed and ``k``, so these are the samples a run of ``num_samples``
        would have drawn: a larger file of the same model, sampler and design serves a smaller experiment.

        Raises:
            ValueError: ``num_samples`` exceeds the samples held or splits a group of the design.
        """
        size = int(self.design.get("group_size", 1))
        if not 0 < num_samples <= len(self.indices) or num_samples % size:
            raise ValueError(
                f"cannot take the first {num_samples} of {len(self.indices)} samples of a design of group size {size}; "
                "ask for a positive multiple of the group size no larger than the file"
            )
        keep = np.sort(np.argsort(self.indices, kind="stable")[:num_samples])
        return SampleSet(
            samples=self.samples[keep], indices=self.indices[keep], groups=self.groups[keep], members=self.members[keep],
            design=self.design, sampler=self.sampler, seconds=self.seconds * num_samples / len(self.indices),
            extras={k: v[keep] if len(v) == len(self.indices) else v for k, v in self.extras.items()}, noise_shape=self.noise_shape,
        )
