"""Diversity of antithetic pairs (paper, Table 4): PN pairs against RR pairs.

For every pair ``(x_1, x_2)`` (PN: ``(DM(z), DM(-z))``; RR: two independent samples) two similarity
measures are computed; lower similarity means a more diverse pair:

* **SSIM** (Wang et al. 2004) by torchmetrics' :class:`~torchmetrics.image.StructuralSimilarityIndexMeasure`
  on pixel intensities ``(x + 1) / 2`` in ``[0, 1]`` (``data_range = 1``). SSIM is not invariant to
  the sign of the data: on the raw range ``[-1, 1]`` an image and its negative would score as *similar*
  (both luminance and structure terms flip sign), hence the map to intensities. An 8x8 image needs a
  small window: a Gaussian window of ``kernel_size`` (default 3) and ``sigma`` (default 0.5); the
  SSIM map is averaged over the ``(8 - kernel_size + 1)^2`` positions where the window fits.
* **Classifier-feature distance** (``perceptual`` lists ``classifier``, the default): the
  Euclidean distance between the L2-normalised penultimate features of the digits classifier
  (:mod:`antithetic.classifier`), in ``[0, 2]``. It plays the role of the paper's LPIPS on a data set
  LPIPS was not trained for and is labelled as what it is. It only applies to 8x8 digits.
* **LPIPS** (Zhang et al. 2018; torchmetrics, AlexNet backbone) on request (``perceptual`` lists
  ``lpips``), on images resized bilinearly to ``lpips_size`` pixels. It needs the ImageNet AlexNet
  weights in the torch hub cache; they are never downloaded here: :func:`lpips_distance` raises
  :class:`LPIPSWeightsMissingError` with the command that fetches them when they are absent.

The *average percentage improvement* of PN over RR pairs for a measure ``m`` with pair means
``m_PN``, ``m_RR`` is ``100 (m_RR - m_PN) / |m_RR|`` for a similarity (SSIM) and ``100 (m_PN - m_RR) /
|m_RR|`` for a distance, so positive numbers mean PN pairs are more diverse. Its CI is a BCa
bootstrap interval (:mod:`antithetic.bootstrap`) that resamples the PN and the RR pairs independently.
The difference ``m_PN - m_RR`` is reported with its CI (same resamples) as well: it stays
interpretable when ``m_RR`` is near 0 and the percentage is not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .bootstrap import bootstrap_ci

__all__ = [
    "MEASURES",
    "MIN_PAIRS",
    "LPIPSWeightsMissingError",
    "feature_distance",
    "improvement",
    "lpips_distance",
    "lpips_weights_path",
    "pair_measures",
    "ssim",
]

#: measure -> (label, True if larger values mean a more diverse pair)
MEASURES: dict[str, tuple[str, bool]] = {
    "ssim": ("SSIM", False),
    "feature_distance": ("classifier-feature distance", True),
    "lpips": ("LPIPS (AlexNet)", True),
}


#: PN pairs, and as many RR pairs, that :func:`improvement` needs (a mean and an SD of each)
MIN_PAIRS = 2


class LPIPSWeightsMissingError(FileNotFoundError):
    """The ImageNet AlexNet weights of LPIPS are not in the torch hub cache (they are never downloaded here)."""


def _intensities(x: torch.Tensor) -> torch.Tensor:
    return ((x.float() + 1.0) / 2.0).clamp(0.0, 1.0)


@torch.no_grad()
def ssim(a: torch.Tensor, b: torch.Tensor, *, kernel_size: int = 3, sigma: float = 0.5) -> np.ndarray:
    """Per-pair SSIM of images ``a, b`` ``(P, C, H, W)`` in the data range ``[-1, 1]`` (see module docs)."""
    from torchmetrics.image import StructuralSimilarityIndexMeasure

    if kernel_size % 2 == 0 or kernel_size > min(a.shape[-2:]):
        raise ValueError(f"kernel_size must be odd and at most the image size {tuple(a.shape[-2:])}, got {kernel_size}")
    metric = StructuralSimilarityIndexMeasure(
        gaussian_kernel=True, kernel_size=kernel_size, sigma=sigma, data_range=1.0, reduction="none"
    )
    return metric(_intensities(a), _intensities(b)).double().numpy()


@torch.no_grad()
def feature_distance(a: torch.Tensor, b: torch.Tensor, extractor: nn.Module) -> np.ndarray:
    """Per-pair Euclidean distance of the L2-normalised classifier features of ``a`` and ``b``."""
    fa = nn.functional.normalize(extractor(a.float()).double(), dim=1)
    fb = nn.functional.normalize(extractor(b.float()).double(), dim=1)
    return (fa - fb).norm(dim=1).numpy()


def lpips_weights_path() -> Path:
    """Where torchvision looks for the ImageNet AlexNet weights (the torch hub cache)."""
    from torchvision.models import AlexNet_Weights

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(AlexNet_Weights.DEFAULT.url).name


@torch.no_grad()
def lpips_distance(a: torch.Tensor, b: torch.Tensor, *, size: int = 64) -> np.ndarray:
    """Per-pair LPIPS (AlexNet) of images upsampled to ``size`` pixels.

    Raises:
        LPIPSWeightsMissingError: the AlexNet weights are not in the torch hub cache (:func:`lpips_weights_path`).
    """
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    weights = lpips_weights_path()
    if not weights.is_file():
        raise LPIPSWeightsMissingError(
            f"LPIPS needs the AlexNet backbone weights in {str(weights)!r}, which are never downloaded here; fetch them "
            "once where the network is reachable: python -c \"import torchvision; torchvision.models.alexnet(weights='DEFAULT')\""
        )
    metric = LearnedPerceptualImagePatchSimilarity(net_type="alex", reduction="none", normalize=True)

    def prepare(x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.interpolate(_intensities(x), size=(size, size), mode="bilinear", align_corners=False)
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x

    return metric(prepare(a), prepare(b)).double().reshape(-1).numpy()


def pair_measures(
    pairs: torch.Tensor,
    *,
    extractor: nn.Module | None = None,
    kernel_size: int = 3,
    sigma: float = 0.5,
    perceptual: tuple[str, ...] = ("classifier",),
    lpips_size: int = 64,
) -> pd.DataFrame:
    """Per-pair measures of pairs ``(P, 2, C, H, W)``: ``ssim``, then ``feature_distance`` (needs the
    classifier's ``extractor``) and ``lpips`` as ``perceptual`` asks.

    Raises:
        ValueError: ``perceptual`` names a measure other than ``classifier`` and ``lpips``, or lists
            ``classifier`` without an ``extractor``.
        LPIPSWeightsMissingError: ``perceptual`` lists ``lpips`` and its weights are not cached.
    """
    unknown = set(perceptual) - {"classifier", "lpips"}
    if unknown:
        raise ValueError(f"perceptual names {sorted(unknown)}; choose from ['classifier', 'lpips']")
    a, b = pairs[:, 0], pairs[:, 1]
    frame = pd.DataFrame({"pair": np.arange(len(pairs)), "ssim": ssim(a, b, kernel_size=kernel_size, sigma=sigma)})
    if "classifier" in perceptual:
        if extractor is None:
            raise ValueError("perceptual lists 'classifier', but no classifier feature extractor was given")
        frame["feature_distance"] = feature_distance(a, b, extractor)
    if "lpips" in perceptual:
        frame["lpips"] = lpips_distance(a, b, size=lpips_size)
    return frame


def improvement(
    pn: np.ndarray, rr: np.ndarray, *, higher_is_diverse: bool, num_bootstrap: int = 1000, level: float = 0.95, seed: int = 0
) -> dict[str, Any]:
    """Average percentage improvement of PN over RR pairs (see module docs) with a bootstrap CI."""
    pn, rr = np.asarray(pn, dtype=np.float64), np.asarray(rr, dtype=np.float64)
    if len(pn) < MIN_PAIRS or len(rr) < MIN_PAIRS:
        raise ValueError(f"the improvement needs at least {MIN_PAIRS} PN and {MIN_PAIRS} RR pairs, got {len(pn)} and {len(rr)}")
    sign = 1.0 if higher_is_diverse else -1.0

    def pct(p_mean, r_mean):
        return 100.0 * sign * (p_mean - r_mean) / np.abs(r_mean)

    def pct_and_difference(p, r, axis=-1):
        p_mean, r_mean = p.mean(axis), r.mean(axis)
        return np.stack([pct(p_mean, r_mean), p_mean - r_mean])

    # PN and RR pairs are independent samples: resampled independently (not paired), one set of resamples
    # for both statistics
    low, high = bootstrap_ci((pn, rr), pct_and_difference, paired=False, num_bootstrap=num_bootstrap, level=level,
                             rng=np.random.default_rng(seed))
    return {
        "pn_mean": float(pn.mean()), "pn_sd": float(pn.std(ddof=1)),
        "rr_mean": float(rr.mean()), "rr_sd": float(rr.std(ddof=1)),
        "improvement_pct": float(pct(pn.mean(), rr.mean())),
        "ci_low": float(low[0]), "ci_high": float(high[0]),
        # the plain difference stays interpretable when m_RR is near 0 and the percentage is not
        "difference": float(pn.mean() - rr.mean()),
        "difference_ci_low": float(low[1]), "difference_ci_high": float(high[1]),
        "pn_pairs": int(len(pn)), "rr_pairs": int(len(rr)), "bootstrap": int(num_bootstrap), "level": level,
    }


def diversity_summary(pairs: pd.DataFrame, *, num_bootstrap: int, level: float, seed: int) -> list[dict[str, Any]]:
    """One row per measure from per-pair measures with a ``kind`` column (PN / RR)."""
    rows = []
    for measure, (label, higher) in MEASURES.items():
        if measure not in pairs:
            continue
        pn = pairs.loc[pairs["kind"] == "PN", measure].dropna().to_numpy()
        rr = pairs.loc[pairs["kind"] == "RR", measure].dropna().to_numpy()
        rows.append({"measure": measure, "label": label, "higher_is_diverse": higher,
                     **improvement(pn, rr, higher_is_diverse=higher, num_bootstrap=num_bootstrap, level=level, seed=seed)})
    return rows
