"""Sample quality of antithetic samples: is DM(-z) as good as DM(z)?

Both members of a PN pair are exact draws of the model (``-z ~ N(0, I)`` when ``z`` is), so their
quality must match that of independent samples. We measure it as the Fréchet distance (Heusel et al.
2017) between generated and held-out real digits in the *classifier feature space* of
:mod:`antithetic.classifier` (a digits stand-in for Inception features; never called FID of
Inception), computed by torchmetrics' :class:`~torchmetrics.image.fid.FrechetInceptionDistance` with
the classifier as its ``feature`` module.

Three generated sets of equal size ``P`` are compared:

* ``z``: the positive members ``DM(z_g)`` of the ``P`` PN pairs;
* ``-z``: their antithetic twins ``DM(-z_g)``;
* ``iid``: iid samples ``P .. 2P-1`` of the iid design. Samples ``0 .. P-1`` of the iid design share
  their noise with the ``z`` members (:mod:`antithetic.noise`), so the second half is used: an
  independent set of the same size (the Fréchet distance is biased upwards at small ``n``, so equal
  sizes matter).

Uncertainty: a bootstrap over pairs and over real digits (bias-corrected percentile
intervals, see :func:`bootstrap_quality`). Each replicate
resamples the real digits once, the pair indices once (the same indices for ``z`` and ``-z``, so the
difference of the two is a paired comparison) and the iid indices independently. The claim "no loss"
holds when the intervals of the differences ``FD(-z) - FD(z)`` and ``FD(iid) - FD(z)`` contain 0.

Precision, recall, density and coverage (Kynkäänniemi et al. 2019; Naeem et al. 2020) with ``k``
nearest neighbours in the same feature space are added as point estimates (package ``prdc``).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

__all__ = [
    "QUALITY_SETS",
    "bootstrap_quality",
    "evaluate_quality",
    "frechet_distance",
    "no_loss_verdict",
    "prdc_scores",
    "quality_sets",
]

#: generated sets compared, in table order
QUALITY_SETS = ("z", "-z", "iid")


def _metric(extractor: nn.Module):
    from torchmetrics.image.fid import FrechetInceptionDistance

    if not isinstance(getattr(extractor, "num_features", None), int):
        raise ValueError("the feature extractor needs an integer attribute num_features (see antithetic.classifier.FeatureExtractor)")
    # normalize=True: float images go to the custom extractor unchanged (data range [-1, 1] here);
    # reset_real_features=False: reset() keeps the real statistics, so one real resample serves all sets
    # (feature sums and covariances accumulate in float64 inside the metric)
    return FrechetInceptionDistance(feature=extractor, normalize=True, reset_real_features=False)


@torch.no_grad()
def frechet_distance(real: torch.Tensor, generated: torch.Tensor, extractor: nn.Module) -> float:
    """Fréchet distance between the feature distributions of ``real`` and ``generated`` images ``(N, C, H, W)``."""
    metric = _metric(extractor)
    metric.update(real.float(), real=True)
    metric.update(generated.float(), real=False)
    return float(metric.compute())


def quality_sets(pn: np.ndarray, iid: np.ndarray) -> dict[str, np.ndarray]:
    """The sets ``z``, ``-z`` (members of the PN pairs ``(P, 2, ...)``) and ``iid`` (iid samples ``P .. 2P-1``).

    Args:
        pn: PN pairs ``(P, 2, C, H, W)``.
        iid: iid samples ``(N, C, H, W)`` in sample-index order, ``N >= 2P``.
    """
    num_pairs = len(pn)
    if len(iid) < 2 * num_pairs:
        raise ValueError(
            f"the iid set has {len(iid)} samples; the quality stage needs 2 x {num_pairs} (its second half is "
            "independent of the z members)"
        )
    return {"z": pn[:, 0], "-z": pn[:, 1], "iid": iid[num_pairs : 2 * num_pairs]}


class _Precomputed(nn.Module):
    """Identity "extractor": lets the bootstrap feed features the classifier computed once."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = int(num_features)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


@torch.no_grad()
def bootstrap_quality(
    real: torch.Tensor,
    sets: dict[str, torch.Tensor],
    extractor: nn.Module,
    *,
    num_bootstrap: int,
    level: float = 0.95,
    seed: int = 0,
    paired: tuple[str, ...] = ("z", "-z"),
    reference: str = "z",
) -> list[dict[str, Any]]:
    """Fréchet distance of each generated set to ``real`` with bootstrap CIs, and of its difference to ``reference``.

    The point estimates run the images through ``extractor`` inside torchmetrics' metric. The
    replicates resample rows of the same features (computed once by ``extractor``) and hand them to
    the same metric class with an identity extractor, which is exact (a resampled image has the
    features of its original) and saves a forward pass per replicate.

    Intervals are bias-corrected percentile intervals ``[q_lo - b, q_hi - b]``, where ``q`` are the
    replicate quantiles and ``b = mean(replicates) - FD`` the bootstrap estimate of the bias:
    resampling with replacement repeats samples, which shrinks the feature covariance and biases a
    replicate's distance upwards, so the plain percentile interval may not even contain the estimate.

    Args:
        real: real images ``(R, C, H, W)``.
        sets: generated sets by name, images ``(n, C, H, W)``; the sets named in ``paired`` must be
            aligned (row ``g`` of each comes from pair ``g``) and are resampled with the same indices.
        extractor: feature module with ``num_features`` (:class:`antithetic.classifier.FeatureExtractor`).
        num_bootstrap: bootstrap replicates.
        level: level of the intervals.
        seed: seed of the resampling.
        reference: the set that differences are taken against.

    Returns:
        one row per set: ``set``, ``n``, ``frechet`` (on the full sets), ``ci_low``, ``ci_high``,
        ``diff`` (``FD(set) - FD(reference)``), ``diff_ci_low``, ``diff_ci_high``, ``bootstrap``.
    """
    from .bootstrap import MIN_RESAMPLES

    if num_bootstrap < MIN_RESAMPLES:
        raise ValueError(f"quality.bootstrap must be >= {MIN_RESAMPLES}, got {num_bootstrap}")
    if reference not in sets:
        raise ValueError(f"reference set {reference!r} is not among {sorted(sets)}")
    lengths = {len(sets[name]) for name in paired if name in sets}
    if len(lengths) > 1:
        raise ValueError(f"paired sets {paired} must have equal lengths, got {lengths}")
    names = list(sets)
    full = {name: frechet_distance(real, sets[name], extractor) for name in names}

    real_f = extractor(real.float()).double()
    set_f = {name: extractor(sets[name].float()).double() for name in names}
    identity = _Precomputed(real_f.shape[1])
    paired_len = lengths.pop() if lengths else 0
    gen = torch.Generator().manual_seed(int(seed))
    draws = {name: [] for name in names}
    for _ in range(num_bootstrap):
        metric = _metric(identity)
        metric.update(real_f[torch.randint(0, len(real_f), (len(real_f),), generator=gen)], real=True)
        shared = torch.randint(0, max(paired_len, 1), (paired_len,), generator=gen)
        for name in names:
            index = shared if name in paired else torch.randint(0, len(set_f[name]), (len(set_f[name]),), generator=gen)
            metric.reset()  # keeps the real statistics (reset_real_features=False)
            metric.update(set_f[name][index], real=False)
            draws[name].append(float(metric.compute()))
    alpha = (1.0 - level) / 2.0
    ref = np.asarray(draws[reference])

    def interval(estimate: float, values: np.ndarray) -> tuple[float, float]:
        low, high = np.quantile(values, [alpha, 1 - alpha]) - (values.mean() - estimate)
        return float(low), float(high)

    rows = []
    for name in names:
        values = np.asarray(draws[name])
        ci = interval(full[name], values)
        diff = full[name] - full[reference]
        diff_ci = interval(diff, values - ref)
        rows.append(
            {
                "set": name, "n": int(len(sets[name])), "frechet": full[name], "ci_low": ci[0], "ci_high": ci[1],
                "diff": diff, "diff_ci_low": diff_ci[0], "diff_ci_high": diff_ci[1], "bootstrap": int(num_bootstrap),
            }
        )
    return rows


@torch.no_grad()
def prdc_scores(real: torch.Tensor, generated: torch.Tensor, extractor: nn.Module, *, nearest_k: int) -> dict[str, float]:
    """Precision, recall, density and coverage of ``generated`` against ``real`` in the feature space."""
    from prdc import compute_prdc

    if nearest_k >= min(len(real), len(generated)):
        raise ValueError(f"quality.nearest_k = {nearest_k} needs more than {nearest_k} real and generated samples")
    real_f = extractor(real.float()).double().numpy()
    gen_f = extractor(generated.float()).double().numpy()
    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the set sizes
        scores = compute_prdc(real_features=real_f, fake_features=gen_f, nearest_k=nearest_k)
    return {key: float(value) for key, value in scores.items()}


def evaluate_quality(
    *,
    real: torch.Tensor,
    sets: dict[str, torch.Tensor],
    extractor: nn.Module,
    num_bootstrap: int,
    level: float = 0.95,
    seed: int = 0,
    nearest_k: int = 5,
) -> pd.DataFrame:
    """:func:`bootstrap_quality` and :func:`prdc_scores` of every set, one row per set."""
    rows = bootstrap_quality(real, sets, extractor, num_bootstrap=num_bootstrap, level=level, seed=seed)
    for row in rows:
        row.update(prdc_scores(real, sets[row["set"]], extractor, nearest_k=nearest_k), nearest_k=nearest_k, level=level)
    return pd.DataFrame(rows)


def no_loss_verdict(frame: pd.DataFrame, *, reference: str = "z", compared: tuple[str, ...] = ("-z", "iid")) -> dict[str, Any]:
    """Whether every compared set's Fréchet distance agrees with the reference's: each CI of the
    difference ``FD(set) - FD(reference)`` contains 0."""
    out: dict[str, Any] = {}
    for name in compared:
        row = frame.loc[frame["set"] == name].iloc[0]
        out[name] = bool(row["diff_ci_low"] <= 0.0 <= row["diff_ci_high"])
    out["agree"] = all(out[name] for name in compared)
    out["reference"] = reference
    return out
