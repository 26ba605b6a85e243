"""Image regions of the partial-negation ablation (paper: negating only the top half of z).

numpy only: the partial design (:class:`antithetic.noise.PartialAntitheticNoise`) builds its mask from
here, and so do the analysis jobs that score the regions without importing torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["REGIONS", "region_mask"]

#: the regions a partial design can negate (the last two dimensions are height and width)
REGIONS = ("top_half", "bottom_half", "left_half", "right_half")


def region_mask(region: str, shape: Sequence[int]) -> np.ndarray:
    """Boolean mask over ``shape`` (``(..., H, W)``), True inside ``region``."""
    if region not in REGIONS:
        raise ValueError(f"unknown partial-antithetic region {region!r}; choose one of {REGIONS}")
    if len(shape) < 2:
        raise ValueError(f"partial antithetic noise needs image-shaped noise (..., H, W), got {tuple(shape)}")
    h, w = shape[-2], shape[-1]
    mask = np.zeros(tuple(shape), dtype=bool)
    if region == "top_half":
        mask[..., : h // 2, :] = True
    elif region == "bottom_half":
        mask[..., h - h // 2 :, :] = True
    elif region == "left_half":
        mask[..., :, : w // 2] = True
    else:
        mask[..., :, w - w // 2 :] = True
    return mask
