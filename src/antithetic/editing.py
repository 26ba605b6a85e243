"""Antithetic image editing in the style of SDEdit (Meng et al. 2022).

A real image ``x_src`` is noised to level ``t0`` and denoised with DDIM (eta = 0)::

    x_t0 = sqrt(abar_t0) x_src + sqrt(1 - abar_t0) z,      edit = DDIM(x_t0 -> 0)

A **PN edit pair** uses ``z`` and ``-z`` (antithetic design), an **RR edit pair** two independent
noises (iid design). Both edits of either pair are exact draws of the same SDEdit law; the PN pair is
expected to be more *diverse* (its two edits differ more) while each edit stays as *faithful* to the
source. Per source image:

* diversity of the pair: SSIM between the two edits (:func:`antithetic.diversity.ssim`; lower = more
  diverse) and the classifier-feature distance between them (:func:`antithetic.diversity.feature_distance`;
  higher = more diverse);
* faithfulness of the pair: mean over its two edits of the L2 distance to the source (root mean square
  pixel difference, data range [-1, 1]) and of the classifier-feature distance to the source (lower =
  more faithful).

*Win rate* of PN over RR for a measure: the fraction of source images where the PN pair is better
(more diverse, or more faithful) than the RR pair of the same source; exact ties are left out. Its CI
is the exact binomial (Clopper-Pearson) interval of :func:`scipy.stats.binomtest`. A win rate of 0.5
means no difference.

The edit is the DDIM sampler (:func:`antithetic.samplers.sample_ddim`, eta = 0) with a start point
(:class:`antithetic.samplers.Start`): on the sampler's timestep grid (``num_steps`` over the whole
schedule), entered at the largest grid timestep not above ``t0``, from the source noised with the
sampler's noise ``z``. :func:`editing_experiment` generates the edits with :func:`antithetic.generate.generate`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .diversity import feature_distance, ssim
from .generate import generate
from .models.base import DiffusionModel
from .samplers import Start, sample_ddim, start_timestep

if TYPE_CHECKING:
    from .noise import NoiseDesign

__all__ = ["EDIT_MEASURES", "edit_measures", "editing_experiment", "sdedit", "win_rates"]

#: measure -> (label, True if larger values are better for PN)
EDIT_MEASURES: dict[str, tuple[str, bool]] = {
    "diversity_ssim": ("diversity: SSIM between the edits (lower wins)", False),
    "diversity_feature": ("diversity: classifier-feature distance between the edits (higher wins)", True),
    "faithfulness_l2": ("faithfulness: L2 to the source (lower wins)", False),
    "faithfulness_feature": ("faithfulness: classifier-feature distance to the source (lower wins)", False),
}


def sdedit(model: DiffusionModel, source: torch.Tensor, noise: torch.Tensor, *, t0: int, num_steps: int) -> tuple[torch.Tensor, int]:
    """Edit ``source`` images ``(B, C, H, W)`` with initial noises ``noise`` (same shape) from level ``t0``.

    Returns:
        the edits and the timestep the DDIM loop starts at (the largest grid timestep ``<= t0``).
    """
    start = _start_timestep(model, num_steps, t0)
    return sample_ddim(model, noise, num_steps=num_steps, eta=0.0, start=Start(int(t0), source)), start


def _start_timestep(model: DiffusionModel, num_steps: int, t0: int) -> int:
    try:
        return start_timestep(model, num_steps, int(t0))
    except ValueError as err:
        raise ValueError(f"t0 = {t0}: {err}") from None


def edit_measures(
    source: torch.Tensor, edits: torch.Tensor, *, extractor: nn.Module, kernel_size: int = 3, sigma: float = 0.5
) -> pd.DataFrame:
    """Per-source measures of edit pairs ``edits (S, 2, C, H, W)`` of ``source (S, C, H, W)``."""
    a, b = edits[:, 0], edits[:, 1]

    def rms(x: torch.Tensor) -> np.ndarray:
        return (x - source).flatten(1).pow(2).mean(1).sqrt().double().numpy()

    return pd.DataFrame(
        {
            "source": np.arange(len(source)),
            "diversity_ssim": ssim(a, b, kernel_size=kernel_size, sigma=sigma),
            "diversity_feature": feature_distance(a, b, extractor),
            "faithfulness_l2": (rms(a) + rms(b)) / 2,
            "faithfulness_feature": (feature_distance(a, source, extractor) + feature_distance(b, source, extractor)) / 2,
        }
    )


def win_rates(pn: pd.DataFrame, rr: pd.DataFrame, *, level: float = 0.95) -> list[dict[str, Any]]:
    """Win rate of PN over RR pairs per measure, source by source, with exact binomial CIs."""
    from scipy.stats import binomtest

    if not np.array_equal(pn["source"].to_numpy(), rr["source"].to_numpy()):
        raise ValueError("PN and RR measures must list the same sources in the same order")
    rows = []
    for measure, (label, higher) in EDIT_MEASURES.items():
        p, r = pn[measure].to_numpy(), rr[measure].to_numpy()
        wins = int(np.sum(p > r) if higher else np.sum(p < r))
        ties = int(np.sum(p == r))
        n = len(p) - ties
        if n == 0:
            rate, low, high, pvalue = float("nan"), float("nan"), float("nan"), float("nan")
        else:
            test = binomtest(wins, n, 0.5)
            ci = test.proportion_ci(confidence_level=level, method="exact")
            rate, low, high, pvalue = wins / n, float(ci.low), float(ci.high), float(test.pvalue)
        rows.append({
            "measure": measure, "label": label, "wins": wins, "ties": ties, "n": n, "win_rate": rate,
            "ci_low": low, "ci_high": high, "p_value": pvalue, "pn_mean": float(np.mean(p)), "rr_mean": float(np.mean(r)),
            "level": level,
        })
    return rows


def editing_experiment(
    model: DiffusionModel,
    sources: torch.Tensor,
    *,
    extractor: nn.Module,
    t0_values: list[int],
    num_steps: int,
    pn_design: NoiseDesign,
    rr_design: NoiseDesign,
    level: float = 0.95,
    kernel_size: int = 3,
    sigma: float = 0.5,
    batch_size: int | None = None,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """PN and RR edit pairs of every source at every ``t0``: per-source measures and win rates.

    Source ``s`` gets PN pair ``s`` of ``pn_design`` (samples ``2s, 2s + 1``, e.g. the antithetic ``z_s, -z_s``)
    and RR pair ``s`` of ``rr_design`` (samples ``2s, 2s + 1`` of independent noise); the same noises at every
    ``t0``. Give the two designs independent streams (different seeds). The edits are generated in batches
    of ``batch_size`` (default: all at once); the noise is seed-addressed, so the batching changes no noise.
    """
    if pn_design.group_size != 2:
        raise ValueError(f"pn_design must couple samples in pairs (group size 2), got {pn_design.name!r} "
                         f"with group size {pn_design.group_size}")
    if rr_design.group_size != 1:
        raise ValueError(f"rr_design must draw independent samples (group size 1), got {rr_design.name!r} "
                         f"with group size {rr_design.group_size}")
    shape = tuple(model.sample_shape)
    count = len(sources)
    starts = [(int(t0), _start_timestep(model, num_steps, t0)) for t0 in t0_values]
    src = sources.to(device=model.device, dtype=torch.float32)
    doubled = src.repeat_interleave(2, dim=0)  # sample k edits source k // 2
    frames, rows = [], []
    for t0, start in starts:
        measures = {}
        for kind, design in (("PN", pn_design), ("RR", rr_design)):
            edits = generate(
                model, design=design, num_samples=2 * count, sampler="ddim",
                sampler_options={"num_steps": num_steps, "eta": 0.0}, batch_size=batch_size or 2 * count,
                batch_options=lambda batch, t0=t0: {"start": Start(t0, doubled[torch.as_tensor(batch, device=doubled.device)])},
                progress=False,
            ).samples
            edits = torch.from_numpy(edits).reshape(count, 2, *shape)
            m = edit_measures(src.cpu(), edits, extractor=extractor, kernel_size=kernel_size, sigma=sigma)
            measures[kind] = m
            frames.append(m.assign(kind=kind, t0=t0, start_t=start))
        rows += [{"t0": t0, "start_t": start, **row} for row in win_rates(measures["PN"], measures["RR"], level=level)]
    return pd.concat(frames, ignore_index=True), rows
