"""Jobs of the diversity stage (paper, Table 4): SSIM and perceptual distances (classifier features, LPIPS) of PN vs RR pairs."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...artifacts import atomic_path, environment_info, write_json
from ..config import ConfigError, naming_key

__all__ = ["measure_pairs", "pair_chunk", "run_diversity", "run_diversity_figure", "run_diversity_table"]


def pair_chunk(pair_values: int, *, pixels: int = 2**22) -> int:
    """Pairs scored at once: as many as hold about ``pixels`` values (at least one), for pairs of ``pair_values`` values."""
    return max(1, int(pixels) // max(1, int(pair_values)))


def measure_pairs(pairs: Any, *, extractor: Any, settings: dict[str, Any]) -> pd.DataFrame:
    """:func:`antithetic.diversity.pair_measures` of ``pairs`` with the resolved ``diversity`` section ``settings``.

    Raises:
        ConfigError: ``diversity.perceptual`` asks for lpips and its weights are not cached, or a value of
            the section does not fit (the message names the key).
    """
    from ...diversity import LPIPSWeightsMissingError, pair_measures
    from ..config import lpips_fix

    with naming_key("diversity"):
        try:
            return pair_measures(
                pairs, extractor=extractor, kernel_size=int(settings["ssim_kernel_size"]), sigma=float(settings["ssim_sigma"]),
                perceptual=tuple(settings["perceptual"]), lpips_size=int(settings["lpips_size"]),
            )
        except LPIPSWeightsMissingError as err:
            raise ConfigError(
                f"config key 'diversity.perceptual' asks for lpips: {err}; {lpips_fix(list(settings['perceptual']))}"
            ) from err


def run_diversity(
    *,
    pn_path: str | Path,
    rr_path: str | Path,
    classifier_dir: str | Path | None,
    settings: dict[str, Any],
    labels: dict[str, Any],
    out_pairs: str | Path,
    out_summary: str | Path,
    pixels_per_chunk: int = 2**22,
) -> list[dict[str, Any]]:
    """Per-pair measures of PN and RR pairs (CSV) and the improvement per measure (JSON rows of Table 4).

    Pairs are scored in chunks of about ``pixels_per_chunk`` pixel values (:func:`pair_chunk`): the whole
    default run in one chunk, two pairs of a 512^2 model at a time. A pair's measures do not depend on
    the other pairs of its chunk (up to float32 rounding of batched convolutions, about 1e-7).
    """
    import torch

    from ...artifacts import load_sample_addresses
    from ...classifier import FeatureExtractor, load_classifier
    from ...correlation import iter_pairs
    from ...diversity import diversity_summary

    perceptual = tuple(settings["perceptual"])
    if "classifier" in perceptual and classifier_dir is None:
        raise ValueError("diversity.perceptual lists 'classifier': the digits classifier's directory is required")
    extractor = FeatureExtractor(load_classifier(classifier_dir)) if "classifier" in perceptual else None
    frames = []
    for kind, path in (("PN", pn_path), ("RR", rr_path)):
        # pairs are read and scored a chunk at a time: the measures' intermediate maps (SSIM, LPIPS) take
        # many times an image's size each, so one call on every pair of a 512^2 model took about 18 GB
        pair_values = 2 * int(np.prod(load_sample_addresses(path).samples.shape[1:]))
        parts, lo = [], 0
        for pairs in iter_pairs(path, kind, pairs_per_chunk=pair_chunk(pair_values, pixels=pixels_per_chunk)):
            part = measure_pairs(torch.from_numpy(np.ascontiguousarray(pairs)), extractor=extractor, settings=settings)
            part["pair"] += lo
            lo += len(pairs)
            parts.append(part)
        frame = pd.concat(parts, ignore_index=True)
        frame.insert(1, "kind", kind)
        frames.append(frame)
    pairs_frame = pd.concat(frames, ignore_index=True)
    with atomic_path(out_pairs) as tmp:
        pairs_frame.to_csv(tmp, index=False, float_format="%.6g")
    rows = [
        {**labels, **row}
        for row in diversity_summary(pairs_frame, num_bootstrap=int(settings["bootstrap"]), level=float(settings["level"]), seed=int(settings["seed"]))
    ]
    write_json(out_summary, {
        "rows": rows, "settings": settings, "inputs": {"pn": str(pn_path), "rr": str(rr_path), "classifier": None if classifier_dir is None else str(classifier_dir)},
        "torchmetrics": metadata.version("torchmetrics"), **environment_info(),
    })
    return rows


def run_diversity_table(*, summaries: list[str | Path], out_csv, out_markdown, out_latex, labels: dict[str, str]) -> pd.DataFrame:
    """Table 4 from the per-(model, sampler) summaries; ``labels``: :func:`antithetic.workflow.captions.diversity_labels`.
    Its CSV holds every column of the summaries' rows (:func:`run_diversity_figure` draws from it)."""
    from ..captions import table4_caption
    from ..tables import diversity_table, write_table

    frame = pd.DataFrame([row for p in summaries for row in json.loads(Path(p).read_text())["rows"]])
    numeric, formatted = diversity_table(frame)
    write_table(
        numeric, formatted, csv=out_csv, markdown=out_markdown, latex=out_latex,
        caption=table4_caption(labels),
        label="tab:diversity",
    )
    return frame


def run_diversity_figure(*, csv: str | Path, out_figure: str | Path) -> None:
    """Table 4's figure (improvement of PN over RR pairs per measure) from its CSV."""
    from ..plotting.diversity import plot_diversity

    plot_diversity(pd.read_csv(csv), path=out_figure)
