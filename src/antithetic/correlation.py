"""Pixel-wise Pearson correlation of sample pairs (paper, "Definitions" and Table 1).

* PN pair: ``(DM(z), DM(-z))``, the two members of a group of the antithetic design.
* RR pair: ``(DM(z_1), DM(z_2))``, consecutive samples ``(2g, 2g + 1)`` of the iid design.
* *standard*: Pearson correlation across the D pixel values of the two raw samples.
* *centered*: the same after subtracting a per-pixel mean image, which removes the layout shared by
  all samples (e.g. the blank background of digits) that inflates RR correlation. The mean image
  must not contain the pair it centres, and the two members must not share it: with one in-sample
  mean ``m``, ``a - m`` and ``b - m`` both contain ``-(a + b)/n`` (bias about ``-1/n``); with one
  leave-pair-out mean both contain the same ``-m`` (bias about ``+1/n``). So the pairs of the PN and RR
  sets are split into two halves by pair number (alternating), and member ``a`` of a pair is centred
  with the mean image of one half, member ``b`` with that of the other, each without the pair itself.
  Both means are then independent of the pair and of each other, and the centred RR correlation of
  independent samples has mean zero (exactly, for laws symmetric about their mean).
  This needs RR pairs whose noise is disjoint from the PN pairs': with the same seed, iid sample
  ``g`` *is* the positive member of PN pair ``g``; give the iid design an ``offset`` of at least the
  PN set's size (:mod:`antithetic.noise`). :func:`shared_noise` counts the overlap and
  :func:`correlation_frame` warns about it.

Correlations are computed on the sampler output in data space [-1, 1]; the usual map to pixels
``(x + 1) / 2`` is affine and leaves Pearson correlation unchanged.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from .pearson import pearson
from .sample_set import SampleSet

if TYPE_CHECKING:  # pandas is needed by the DataFrame helpers only (the workflow extra installs it)
    import pandas as pd

__all__ = [
    "MIN_CENTERED_PAIRS", "MIN_PAIRS", "centering_means", "correlation_frame", "iter_pairs", "pair_correlations", "pn_pairs",
    "rr_pairs", "shared_noise", "summarize",
]


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


def _pair_order(samples: SampleSet, kind: str) -> np.ndarray:
    """The file positions of :func:`pn_pairs` (``kind="PN"``) or :func:`rr_pairs` (``"RR"``), pair after pair."""
    if kind == "PN":
        if int(samples.design["group_size"]) != 2:
            raise ValueError(f"PN pairs need a design with groups of 2, got design {samples.design}")
        return np.lexsort((samples.members, samples.groups))
    if kind == "RR":
        if samples.design["name"] != "iid":
            raise ValueError(f"RR pairs need the iid design, got {samples.design['name']!r}")
        order = np.argsort(samples.indices)
        return order[: len(order) - len(order) % 2]
    raise ValueError(f"kind must be 'PN' or 'RR', got {kind!r}")


def iter_pairs(path, kind: str, *, pairs_per_chunk: int):
    """The PN or RR pairs of a samples file, ``(p, 2, ...)`` at most ``pairs_per_chunk`` at a time, in pair order.

    The concatenated chunks equal :func:`pn_pairs` / :func:`rr_pairs` of the whole file. When the file holds
    its samples pair after pair (as :func:`antithetic.generate.generate` writes them) only one chunk is in
    memory at a time (:func:`antithetic.artifacts.iter_samples`); otherwise the file is read whole first.
    """
    from .artifacts import iter_samples, load_sample_addresses, load_samples

    if pairs_per_chunk < 1:
        raise ValueError(f"pairs_per_chunk must be at least 1, got {pairs_per_chunk}")
    order = _pair_order(load_sample_addresses(path), kind)
    if np.array_equal(order, np.arange(len(order))):
        chunks = iter_samples(path, chunk_size=2 * pairs_per_chunk)
    else:
        x = load_samples(path).samples[order]
        chunks = (x[lo : lo + 2 * pairs_per_chunk] for lo in range(0, len(x), 2 * pairs_per_chunk))
    remaining = len(order)
    for chunk in chunks:
        chunk = chunk[:remaining]  # an odd iid sample count: the last sample has no partner
        remaining -= len(chunk)
        if len(chunk):
            yield chunk.reshape(-1, 2, *chunk.shape[1:])


def shared_noise(pn: SampleSet, rr: SampleSet) -> int:
    """Number of RR samples whose noise stream is also a PN pair's (same seed and noise group)."""
    if int(pn.design.get("seed", 0)) != int(rr.design.get("seed", 0)):
        return 0
    return int(np.isin(np.asarray(rr.groups), np.asarray(pn.groups)).sum())


#: pairs (PN and RR together) that the centering means of :func:`centering_means` need: each member is
#: centred by the mean of a half of the pairs without its own pair
MIN_CENTERED_PAIRS = 5
#: PN pairs, and as many RR pairs, that :func:`correlation_frame` needs (``2 * MIN_PAIRS >= MIN_CENTERED_PAIRS``)
MIN_PAIRS = -(-MIN_CENTERED_PAIRS // 2)


def centering_means(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean images ``(m_a, m_b)``, each ``(P, ...)``, that centre the two members of each of the pairs
    ``(P, 2, ...)``: pairs alternate between two halves; member ``a`` of pair ``p`` gets the mean of one
    half, member ``b`` the mean of the other, both without pair ``p`` (see module docs)."""
    num_pairs = len(pairs)
    if num_pairs < MIN_CENTERED_PAIRS:
        raise ValueError(f"centered correlation needs at least {MIN_CENTERED_PAIRS} pairs in all, got {num_pairs}")
    flat = pairs.reshape(num_pairs, 2, -1).astype(np.float64)
    half = np.arange(num_pairs) % 2
    sums = np.stack([flat[half == h].sum(axis=(0, 1)) for h in (0, 1)])      # (2, D)
    counts = np.array([2 * np.sum(half == h) for h in (0, 1)], dtype=np.float64)
    own = flat.sum(axis=1)                                                     # (P, D)
    m_own = (sums[half] - own) / (counts[half] - 2)[:, None]                   # own half without the pair
    m_other = sums[1 - half] / counts[1 - half][:, None]                       # the other half
    shape = (num_pairs, *pairs.shape[2:])
    return m_own.reshape(shape), m_other.reshape(shape)


def correlation_frame(pn: SampleSet, rr: SampleSet) -> pd.DataFrame:
    """Per-pair correlations, one row per pair: ``pair``, ``kind`` (PN/RR), ``standard``, ``centered``.

    The centering means of :func:`centering_means` are taken over the PN and RR pairs together (both
    are exact draws of the same law).
    """
    import pandas as pd

    pn_x, rr_x = pn_pairs(pn), rr_pairs(rr)
    overlap = shared_noise(pn, rr)
    if overlap:
        warnings.warn(
            f"{overlap} RR samples reuse the noise of PN pairs (same seed and noise index): RR and PN "
            "correlations are not independent; give the iid design an offset of at "
            f"least {2 * len(pn_x)}",
            stacklevel=2,
        )
    m_a, m_b = centering_means(np.concatenate([pn_x, rr_x]))
    frames = []
    for kind, pairs, rows in (("PN", pn_x, slice(0, len(pn_x))), ("RR", rr_x, slice(len(pn_x), None))):
        frames.append(
            pd.DataFrame(
                {
                    "pair": np.arange(len(pairs)),
                    "kind": kind,
                    "standard": pair_correlations(pairs[:, 0], pairs[:, 1]),
                    "centered": pair_correlations(pairs[:, 0] - m_a[rows], pairs[:, 1] - m_b[rows]),
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
