"""Randomized quasi-Monte Carlo (RQMC) noise: scrambled Sobol points mapped to N(0, I).

A replicate of the design is one randomly scrambled Sobol point set of ``n = 2^m`` points in
``[0, 1)^d`` (``d`` = number of noise coordinates, the flattened ``(C, H, W)`` in C order), mapped
coordinate-wise by the inverse normal CDF (paper, "Definitions", RQMC). Replicates are the
*groups* of the seed-addressed scheme: replicate ``r`` is scrambled with a generator seeded from
``(seed, r, 0)``, so sample ``k`` is point ``k mod n`` of replicate ``k // n`` and depends only on
``(seed, k)``. The R replicates of a run are independent scramblings, each an unbiased estimator;
the CI comes from the spread of the R replicate means (:func:`antithetic.estimators.rqmc_estimate`).

Choices (each pinned by a test):

* **All 2^m points, first point kept.** ``Sobol.random_base2(m)`` returns the first ``2^m`` points
  of the scrambled sequence, including its first point; dropping or skipping points breaks the net
  property (scipy's documentation warns against it). Because Sobol nets are nested, the first
  ``2^m'`` points (``m' < m``) of a replicate are themselves a scrambled net, so an RQMC run can be
  evaluated at every smaller power of two.
* **Clipping.** ``u`` is clipped to ``[eps, 1 - eps]`` with ``eps = 1e-10`` before
  ``scipy.special.ndtri``, so the noise is finite (``|z| <= 6.36``); the clipped mass is 2e-10.
* **Dimensions above Sobol's limit.** scipy's Sobol supports ``d <= 21201`` (``max_sobol_dim``);
  a 3x256x256 image has 196,608 noise coordinates. The design never falls back silently: the
  argument ``high_dim`` picks the strategy and the default ``"error"`` stops with a message.

  - ``"sobol_prefix"``: Sobol on the first ``max_sobol_dim`` coordinates (C order: the first
    channel's top rows first), plain iid N(0, 1) noise on the rest, drawn from stream ``(seed, r, 2)``.
  - ``"padded"``: Owen's padding by *Latin supercube sampling*: split the coordinates into
    consecutive blocks of at most ``max_sobol_dim``, give each block its own independent
    scrambling of the same Sobol net (stream ``(seed, r, 0, b)``) and, for every block after the
    first, an independent uniformly random permutation of the point order (stream
    ``(seed, r, 0, b, 1)``). Without the permutation every block would keep the same point order
    and coordinates of different blocks would be strongly dependent (a cross-block product
    ``z_j z_{j+w}`` then has many times the variance of plain MC); with it, point ``i`` of block ``b``
    is paired with a random point of block ``b'``, so cross-block terms behave like MC at worst
    while every block keeps its net (additive and within-block terms keep the QMC gain). Each point
    is still exactly uniform on ``[0, 1)^d``: the estimator stays unbiased and the replicate CI
    valid. The first ``2^m'`` points of a replicate are a net only in the first block.

* **Stochastic samplers.** The per-step noise of DDPM / DDIM with eta > 0 is iid N(0, I) per
  sample (stream ``(seed, r, 1)``), not quasi-random: only the initial noise ``x_T`` is RQMC. A
  quasi-random per-step noise would need ``d x num_steps`` dimensions.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy.special import ndtri
from scipy.stats import qmc

from .noise import INITIAL_STREAM, NoiseDesign, derive_seed, register_design

__all__ = ["HIGH_DIM_STRATEGIES", "RQMCNoise", "SOBOL_MAX_DIM", "sobol_normal"]

#: the largest dimension scipy's Sobol generator supports
SOBOL_MAX_DIM = int(qmc.Sobol.MAXDIM)
#: stream of the iid coordinates of the ``sobol_prefix`` strategy
REST_STREAM = 2
#: ``u`` is clipped to ``[CLIP, 1 - CLIP]`` before the inverse normal CDF
CLIP = 1e-10
HIGH_DIM_STRATEGIES = ("error", "sobol_prefix", "padded")


def sobol_normal(dim: int, m: int, *, seed: int) -> np.ndarray:
    """The ``2^m`` points (first point kept) of one scrambled Sobol set in ``dim`` dimensions, mapped
    to N(0, 1) by the clipped inverse normal CDF; float64 array ``(2^m, dim)``."""
    sobol = qmc.Sobol(dim, scramble=True, rng=np.random.default_rng(seed))
    u = sobol.random_base2(m)
    return ndtri(np.clip(u, CLIP, 1.0 - CLIP))


@register_design
class RQMCNoise(NoiseDesign):
    """Scrambled-Sobol initial noise; one group = one replicate of ``2^m`` points (see module docs).

    Args:
        m: log2 of the points per replicate (``n = 2^m``); a run of ``N`` samples has ``R = N / 2^m``
            replicates.
        high_dim: strategy when the noise has more than ``max_sobol_dim`` coordinates: ``"error"``
            (default), ``"sobol_prefix"`` or ``"padded"``.
        max_sobol_dim: largest dimension handed to one Sobol generator (at most 21,201; smaller
            values exercise the strategies on small images).
        seed: base seed; replicate ``r`` is scrambled from ``(seed, r)``.
    """

    name = "rqmc"

    def __init__(
        self, *, m: int, high_dim: str = "error", max_sobol_dim: int = SOBOL_MAX_DIM, seed: int = 0, offset: int = 0
    ) -> None:
        super().__init__(seed=seed, offset=offset)
        if not isinstance(m, int) or not 0 <= m <= 20:
            raise ValueError(f"rqmc needs an integer m in [0, 20] (2^m points per replicate), got m={m!r}")
        if high_dim not in HIGH_DIM_STRATEGIES:
            raise ValueError(f"rqmc: high_dim must be one of {HIGH_DIM_STRATEGIES}, got {high_dim!r}")
        if not isinstance(max_sobol_dim, int) or not 1 <= max_sobol_dim <= SOBOL_MAX_DIM:
            raise ValueError(f"rqmc: max_sobol_dim must be an integer in [1, {SOBOL_MAX_DIM}], got {max_sobol_dim!r}")
        self.m = m
        self.high_dim = high_dim
        self.max_sobol_dim = max_sobol_dim
        self.group_size = self.draws_per_group = 2**m
        self._check_offset()
        # the last replicates drawn, (replicate, shape) -> noise: a batch that ends inside a replicate and
        # the next batch that starts there share one draw (a 256^2 replicate costs seconds of CPU)
        self._replicates: OrderedDict[tuple[int, tuple[int, ...]], torch.Tensor] = OrderedDict()

    def couple(self, w: torch.Tensor) -> torch.Tensor:
        # only used for the per-step noise of stochastic samplers: iid per sample
        return w

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "m": self.m, "high_dim": self.high_dim, "max_sobol_dim": self.max_sobol_dim}

    #: how many replicates a design keeps drawn (batches walk the indices in order, so one or two are in use)
    CACHED_REPLICATES = 2

    def replicate_noise(self, replicate: int, shape: Sequence[int]) -> torch.Tensor:
        """All ``2^m`` initial noises of ``replicate``, shape ``(2^m, *shape)``, float32.

        Drawn once and kept for the next calls (the last :attr:`CACHED_REPLICATES` replicates): the noise
        depends only on ``(seed, replicate, shape)``, so a kept draw is the same tensor a new one would be.
        Callers index or copy it; they must not write into it.
        """
        key = (int(replicate), tuple(int(s) for s in shape))
        if key in self._replicates:
            self._replicates.move_to_end(key)
            return self._replicates[key]
        z = self._draw_replicate(*key)
        self._replicates[key] = z
        while len(self._replicates) > self.CACHED_REPLICATES:
            self._replicates.popitem(last=False)
        return z

    def _draw_replicate(self, replicate: int, shape: tuple[int, ...]) -> torch.Tensor:
        d = math.prod(shape)
        n = self.group_size
        if d <= self.max_sobol_dim:
            z = sobol_normal(d, self.m, seed=derive_seed(self.seed, replicate, INITIAL_STREAM, 0))
        elif self.high_dim == "error":
            raise ValueError(
                f"rqmc: the noise has {d} coordinates but Sobol supports at most {self.max_sobol_dim}; "
                "pass high_dim='sobol_prefix' (Sobol on the first coordinates, "
                "iid on the rest) or 'padded' (Latin supercube: scrambled and permuted blocks), see docs/uq.md"
            )
        elif self.high_dim == "sobol_prefix":
            head = sobol_normal(self.max_sobol_dim, self.m, seed=derive_seed(self.seed, replicate, INITIAL_STREAM, 0))
            gen = torch.Generator().manual_seed(derive_seed(self.seed, replicate, REST_STREAM))
            rest = torch.randn((n, d - self.max_sobol_dim), generator=gen, dtype=torch.float32).numpy()
            z = np.concatenate([head, rest], axis=1)
        else:  # padded: Latin supercube sampling (module docs)
            blocks = []
            for b, lo in enumerate(range(0, d, self.max_sobol_dim)):
                width = min(self.max_sobol_dim, d - lo)
                block = sobol_normal(width, self.m, seed=derive_seed(self.seed, replicate, INITIAL_STREAM, b))
                if b > 0:  # block 0 keeps the Sobol order; the others are matched to it at random
                    order = np.random.default_rng(derive_seed(self.seed, replicate, INITIAL_STREAM, b, 1)).permutation(n)
                    block = block[order]
                blocks.append(block)
            z = np.concatenate(blocks, axis=1)
        return torch.from_numpy(z.astype(np.float32)).reshape(n, *shape)

    def _group_noise(self, group: int, stream: int, shape: Sequence[int], generator=None) -> torch.Tensor:
        if stream == INITIAL_STREAM:
            return self.replicate_noise(group, shape)
        return super()._group_noise(group, stream, shape, generator=generator)
