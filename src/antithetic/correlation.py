"""Pixel-wise Pearson correlation of sample pairs (paper, "Definitions" and Table 1).

* PN pair: ``(DM(z), DM(-z))``, the two members of a group of the antithetic design.
* RR pair: ``(DM(z_1), DM(z_2))``, consecutive samples ``(2g, 2g + 1)`` of the iid design.
* *standard*: Pearson correlation across the D pixel values of the two raw samples.
* *centered*: the same after subtracting the per-pixel mean image, which removes the layout shared by
  all samples (e.g. the blank background of digits) that inflates RR correlation. The mean image is
  taken over all samples of the PN and RR sets together (both are exact draws of the same law).

Correlations are computed on the sampler output in data space [-1, 1]; the usual map to pixels
``(x + 1) / 2`` is affine and leaves Pearson correlation unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .pearson import pearson
from .sample_set import SampleSet

__all__ = ["pair_correlations", "pn_pairs", "rr_pairs", "correlation_frame", "summarize"]


def pair_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row pair: ``a, b`` of shape ``(P, ...)`` -> ``(P,)`` (float64).

    A constant sample has no defined correlation; its entry is NaN.
    """
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    if a.shape != b.shape:
        raise ValueError(f"pair members must have equal shapes, got {a.shape} and {b.shape}")
    return pearson(a, b, axis=1)


def pn_pairs(samples: SampleSet) -> np.ndarray:
    """PN pairs ``(P, 2, ...)`` of an antithetic (or partial-antithetic) sample set."""
    if int(samples.design["group_size"]) != 2:
        raise ValueError(f"PN pairs need a design with groups of 2, got design {samples.design}")
    return samples.grouped()


def rr_pairs(samples: SampleSet) -> np.ndarray:
    """RR pairs ``(P, 2, ...)``: consecutive samples ``(2g, 2g+1)`` of an iid sample set."""
    if samples.design["name"] != "iid":
        raise ValueError(f"RR pairs need the iid design, got {samples.design['name']!r}")
    x = samples.samples[np.argsort(samples.indices)]
    if len(x) % 2:
        x = x[:-1]
    return x.reshape(-1, 2, *x.shape[1:])


def correlation_frame(pn: SampleSet, rr: SampleSet) -> pd.DataFrame:
    """Per-pair correlations, one row per pair: ``pair``, ``kind`` (PN/RR), ``standard``, ``centered``."""
    pn_x, rr_x = pn_pairs(pn), rr_pairs(rr)
    mean_image = np.concatenate([pn_x.reshape(-1, *pn_x.shape[2:]), rr_x.reshape(-1, *rr_x.shape[2:])]).mean(0)
    frames = []
    for kind, pairs in (("PN", pn_x), ("RR", rr_x)):
        frames.append(
            pd.DataFrame(
                {
                    "pair": np.arange(len(pairs)),
                    "kind": kind,
                    "standard": pair_correlations(pairs[:, 0], pairs[:, 1]),
                    "centered": pair_correlations(pairs[:, 0] - mean_image, pairs[:, 1] - mean_image),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def summarize(frame: pd.DataFrame) -> dict[str, float]:
    """Mean and SD over pairs of each (kind, variant): keys like ``pn_standard_mean``, ``rr_centered_sd``."""
    out: dict[str, float] = {}
    for kind, group in frame.groupby("kind"):
        for variant in ("standard", "centered"):
            values = group[variant].dropna()
            out[f"{kind.lower()}_{variant}_mean"] = float(values.mean())
            out[f"{kind.lower()}_{variant}_sd"] = float(values.std(ddof=1))
        out[f"{kind.lower()}_pairs"] = int(len(group))
    return out
