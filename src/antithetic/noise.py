"""Seed-addressed noise designs.

A *noise design* decides how the Gaussian noise of a batch of samples is drawn and coupled.
Every design is addressed by ``(seed, sample index)``: the noise of sample ``k`` depends on the
base seed and on ``k`` only, never on the batch size, the position in a batch or the device, so
that splitting a job over batches or machines changes no number (the stacked-generator idea of
NVlabs/edm).

Samples are organised in *groups*. Group ``g`` owns its own random streams, derived from
``(seed, g, stream)`` with :class:`numpy.random.SeedSequence`; stream ``0`` feeds the initial noise
``x_T`` and stream ``1`` the per-step noise of stochastic samplers. A design draws ``draws_per_group``
independent standard normal tensors ``w`` for a group and *couples* them into the
``group_size`` noises of its members:

* :class:`IIDNoise` (plain Monte Carlo): group size 1, ``z_k = w_k``.
* :class:`AntitheticNoise` (PN pairs of the paper): group size 2, ``(z, -z)`` with ``z = w``.
  Because the group streams are shared, the positive member of pair ``g`` is exactly iid sample
  ``g`` of the same seed.
* :class:`KAntitheticNoise` (K-antithetic noise): ``z_i = sqrt(K/(K-1)) (w_i - mean(w))``; each
  ``z_i`` is exactly N(0, I) and two members have correlation ``-1/(K-1)``. ``K = 2`` gives ``(z, -z)``.
* :class:`PartialAntitheticNoise` (the paper's ablation): ``(z, m * (-z) + (1 - m) * z)`` for a
  binary mask ``m`` over the image, e.g. its top half.

Every design takes an ``offset`` (default 0): sample ``k`` then uses the noise of index ``k + offset``
(the group and member of that index), so two sets of the same seed can be drawn from disjoint
noise, e.g. RR pairs that share no noise with the PN pairs (an iid design with an offset of at least
the antithetic set's size). The offset must be a multiple of the group size; batch-size invariance
holds as before and offset 0 changes no number.

The same coupling applies to the per-step noise of stochastic samplers (DDPM, DDIM with eta > 0):
the antithetic twin negates its initial noise *and* every injected noise (paper, "Definitions").
All noise is drawn on the CPU in float32 and only then moved to the requested device and dtype.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .kinds import DESIGN_KINDS
from .regions import REGIONS, region_mask

INITIAL_STREAM = 0
STEP_STREAM = 1

__all__ = [
    "AntitheticNoise",
    "IIDNoise",
    "KAntitheticNoise",
    "NoiseDesign",
    "PartialAntitheticNoise",
    "StepNoise",
    "derive_seed",
    "make_design",
    "register_design",
]


def derive_seed(seed: int, *key: int) -> int:
    """Return a 64-bit generator seed for the stream addressed by ``(seed, *key)``.

    Uses :class:`numpy.random.SeedSequence` so that nearby keys give statistically independent
    streams; the mapping is stable across platforms and pinned by golden-value tests.
    """
    if seed < 0 or any(k < 0 for k in key):
        raise ValueError(f"seeds and stream keys must be non-negative, got seed={seed}, key={key}")
    state = np.random.SeedSequence(entropy=seed, spawn_key=tuple(int(k) for k in key))
    low, high = state.generate_state(2, dtype=np.uint32)
    return int(low) | (int(high) << 32)


def _generator(seed: int, *key: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(derive_seed(seed, *key))


class NoiseDesign(ABC):
    """Base class of the seed-addressed designs.

    Subclasses set ``group_size`` and ``draws_per_group`` and implement :meth:`couple`.

    Args:
        seed: base seed of the design; every number it produces is a function of the seed and of
            the sample index.
        offset: sample ``k`` uses the noise of index ``k + offset`` (a non-negative multiple of the
            group size).
    """

    #: the design's kind, a key of :data:`antithetic.kinds.DESIGN_KINDS` (also used in file names)
    name: str = ""
    group_size: int = 1
    draws_per_group: int = 1

    def __init__(self, *, seed: int = 0, offset: int = 0) -> None:
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if not isinstance(offset, int) or offset < 0:
            raise ValueError(f"offset must be a non-negative integer, got {offset!r}")
        self.seed = seed
        self.offset = offset
        self._check_offset()  # subclasses whose group size is a parameter check again once it is set

    def _check_offset(self) -> None:
        # called once group_size is known: an offset inside a group would split pairs
        if self.offset % self.group_size:
            raise ValueError(
                f"design {self.name!r}: offset={self.offset} must be a multiple of the group size {self.group_size}"
            )

    # ----------------------------------------------------------------------------- coupling
    @abstractmethod
    def couple(self, w: torch.Tensor) -> torch.Tensor:
        """Map ``draws_per_group`` iid N(0, I) tensors ``w`` (stacked on dim 0) to the noises of the
        ``group_size`` members of a group (stacked on dim 0). Each member's marginal law must be
        exactly N(0, I)."""

    # ----------------------------------------------------------------------------- addressing
    def locate(self, index: int) -> tuple[int, int]:
        """Return ``(group, member)`` of sample ``index`` (of noise index ``index + offset``)."""
        if index < 0:
            raise ValueError(f"sample indices must be non-negative, got {index}")
        return divmod(int(index) + self.offset, self.group_size)

    def check_num_samples(self, num_samples: int) -> None:
        """Raise if ``num_samples`` does not fill whole groups (a half pair estimates nothing)."""
        if num_samples <= 0 or num_samples % self.group_size:
            raise ValueError(
                f"design {self.name!r} couples samples in groups of {self.group_size}; "
                f"num_samples={num_samples} must be a positive multiple of {self.group_size}"
            )

    def describe(self) -> dict[str, Any]:
        """Parameters that identify the design (stored in provenance)."""
        described = {"name": self.name, "seed": self.seed, "group_size": self.group_size}
        if self.offset:
            described["offset"] = self.offset
        return described

    # ----------------------------------------------------------------------------- drawing
    def _group_noise(self, group: int, stream: int, shape: Sequence[int], generator=None) -> torch.Tensor:
        gen = generator if generator is not None else _generator(self.seed, group, stream)
        w = torch.randn((self.draws_per_group, *shape), generator=gen, dtype=torch.float32)
        return self.couple(w)

    def initial_noise(
        self,
        indices: Sequence[int],
        shape: Sequence[int],
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Initial noise ``x_T`` of the samples ``indices``, shape ``(len(indices), *shape)``."""
        located = [self.locate(k) for k in indices]
        cache: dict[int, torch.Tensor] = {}
        out = []
        for group, member in located:
            if group not in cache:
                cache[group] = self._group_noise(group, INITIAL_STREAM, shape)
            out.append(cache[group][member])
        return torch.stack(out).to(device=device, dtype=dtype)

    def step_noise(
        self,
        indices: Sequence[int],
        shape: Sequence[int],
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> StepNoise:
        """Per-step noise source of a stochastic sampler for the samples ``indices``."""
        return StepNoise(self, indices, shape, device=device, dtype=dtype)


class StepNoise:
    """Per-step noise of a batch: call it with the step number to get that step's noise.

    One CPU generator per group, seeded from ``(seed, group, STEP_STREAM)``, draws the groups'
    noises step after step, so step ``i`` of sample ``k`` does not depend on the batch. Steps must be
    requested in order ``0, 1, 2, ...`` (each call advances the generators).
    """

    def __init__(self, design: NoiseDesign, indices, shape, *, device="cpu", dtype=torch.float32):
        self.design = design
        self.shape = tuple(shape)
        self.device = device
        self.dtype = dtype
        located = [design.locate(k) for k in indices]
        self.groups = sorted({g for g, _ in located})
        self._slot = {g: i for i, g in enumerate(self.groups)}
        self._rows = [(self._slot[g], m) for g, m in located]
        self._generators = [_generator(design.seed, g, STEP_STREAM) for g in self.groups]
        self._next_step = 0

    def __call__(self, step: int) -> torch.Tensor:
        if step != self._next_step:
            raise RuntimeError(
                f"per-step noise must be drawn in order: expected step {self._next_step}, got {step}"
            )
        self._next_step += 1
        coupled = [
            self.design._group_noise(g, STEP_STREAM, self.shape, generator=gen)
            for g, gen in zip(self.groups, self._generators)
        ]
        out = torch.stack([coupled[slot][member] for slot, member in self._rows])
        return out.to(device=self.device, dtype=self.dtype)


class IIDNoise(NoiseDesign):
    """Independent N(0, I) noise: plain Monte Carlo, and the RR pairs ``(z_{2g}, z_{2g+1})``."""

    name = "iid"

    def couple(self, w: torch.Tensor) -> torch.Tensor:
        return w


class AntitheticNoise(NoiseDesign):
    """Antithetic pairs ``(z, -z)``: the PN pairs of the paper."""

    name = "antithetic"
    group_size = 2

    def couple(self, w: torch.Tensor) -> torch.Tensor:
        return torch.cat([w, -w])


class KAntitheticNoise(NoiseDesign):
    """K-antithetic noise: ``z_i = sqrt(K/(K-1)) (w_i - mean_j w_j)``, i = 1..K.

    Each ``z_i`` is exactly N(0, I) (the centred vector has per-coordinate variance (K-1)/K) and
    ``Corr(z_i, z_j) = -1/(K-1)`` for ``i != j``; the K members sum to zero.
    """

    name = "k_antithetic"

    def __init__(self, *, k: int, seed: int = 0, offset: int = 0) -> None:
        super().__init__(seed=seed, offset=offset)
        if not isinstance(k, int) or k < 2:
            raise ValueError(f"k_antithetic needs an integer k >= 2, got k={k!r}")
        self.group_size = self.draws_per_group = k
        self._check_offset()

    def couple(self, w: torch.Tensor) -> torch.Tensor:
        k = self.group_size
        return math.sqrt(k / (k - 1)) * (w - w.mean(dim=0, keepdim=True))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "k": self.group_size}


class PartialAntitheticNoise(NoiseDesign):
    """Pairs ``(z, z')`` where ``z'`` negates ``z`` only inside a mask (the paper's top-half ablation).

    Args:
        region: ``"top_half"``, ``"bottom_half"``, ``"left_half"`` or ``"right_half"`` of the image
            (the last two dimensions of the noise are height and width).
    """

    name = "partial"
    group_size = 2
    REGIONS = REGIONS

    def __init__(self, *, region: str = "top_half", seed: int = 0, offset: int = 0) -> None:
        super().__init__(seed=seed, offset=offset)
        self._check_offset()
        if region not in self.REGIONS:
            raise ValueError(f"unknown partial-antithetic region {region!r}; choose one of {self.REGIONS}")
        self.region = region

    def mask(self, shape: Sequence[int]) -> torch.Tensor:
        """Boolean mask over ``shape`` (``(..., H, W)``), True where the twin's noise is negated."""
        return torch.from_numpy(region_mask(self.region, shape))

    def couple(self, w: torch.Tensor) -> torch.Tensor:
        z = w[0]
        return torch.stack([z, torch.where(self.mask(z.shape), -z, z)])

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "region": self.region}


#: design kind -> implementation; what each kind is (and which estimator it feeds) is in :mod:`antithetic.kinds`
_DESIGNS: dict[str, type[NoiseDesign]] = {}


def register_design(cls: type[NoiseDesign]) -> type[NoiseDesign]:
    """Make a design constructible by its kind name (usable as a class decorator).

    Raises:
        ValueError: ``cls.name`` is not a registered design kind (:data:`antithetic.kinds.DESIGN_KINDS`).
    """
    if cls.name not in DESIGN_KINDS:
        raise ValueError(
            f"{cls.__name__}.name={cls.name!r} is not a design kind of antithetic.kinds.DESIGN_KINDS "
            f"({sorted(DESIGN_KINDS)}); register the kind there first"
        )
    _DESIGNS[cls.name] = cls
    return cls


for _cls in (IIDNoise, AntitheticNoise, KAntitheticNoise, PartialAntitheticNoise):
    register_design(_cls)


def make_design(name: str, *, seed: int = 0, **params: Any) -> NoiseDesign:
    """Build a design from its kind name and parameters, e.g. ``make_design("k_antithetic", k=8)``.

    Raises:
        ValueError: ``name`` is not a registered design kind, or ``params`` do not fit it.
    """
    from . import rqmc  # noqa: F401  (registers the "rqmc" design; imported here because it imports scipy)

    if name not in _DESIGNS:
        raise ValueError(f"unknown noise design {name!r}; known designs: {sorted(_DESIGNS)}")
    try:
        return _DESIGNS[name](seed=seed, **params)
    except TypeError as err:
        raise ValueError(f"bad parameters {params} for noise design {name!r}: {err}") from err
