"""Jobs of the sample-quality stage: Fréchet distance of z, -z and iid samples to held-out real digits."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...artifacts import atomic_path, environment_info, load_samples, write_json

__all__ = ["held_out_digits", "run_quality", "run_quality_figure", "run_quality_table"]


def held_out_digits(classifier_dir: str | Path) -> dict[str, Any]:
    """The classifier's training / held-out split, rebuilt from the settings in its ``training.json``."""
    from ...classifier import digits_split

    settings = json.loads((Path(classifier_dir) / "training.json").read_text())["settings"]
    return digits_split(dataset=settings["dataset"], test_fraction=settings["test_fraction"], split_seed=settings["split_seed"])


def run_quality(
    *,
    pn_path: str | Path,
    iid_path: str | Path,
    classifier_dir: str | Path,
    settings: dict[str, Any],
    labels: dict[str, Any],
    out_csv: str | Path,
    out_json: str | Path,
) -> dict[str, Any]:
    """Quality rows of one (model, sampler) (CSV) and the no-loss verdict with provenance (JSON)."""
    import torch

    from ...classifier import FeatureExtractor, load_classifier
    from ...correlation import pn_pairs
    from ...quality import evaluate_quality, no_loss_verdict, quality_sets

    iid = load_samples(iid_path)
    sets = quality_sets(pn_pairs(load_samples(pn_path)), iid.samples[np.argsort(iid.indices)])
    real = held_out_digits(classifier_dir)["test_images"]
    if sets["z"].shape[1:] != tuple(real.shape[1:]):
        raise ValueError(
            f"config key 'quality.runs.{labels.get('model')}': samples of shape {sets['z'].shape[1:]} cannot be compared "
            f"with the digits {tuple(real.shape[1:])}; list only models of the 8x8 digits there"
        )
    frame = evaluate_quality(
        real=real, sets={k: torch.from_numpy(v) for k, v in sets.items()},
        extractor=FeatureExtractor(load_classifier(classifier_dir)),
        num_bootstrap=int(settings["bootstrap"]), level=float(settings["level"]), seed=int(settings["seed"]),
        nearest_k=int(settings["nearest_k"]),
    )
    for key, value in reversed(list(labels.items())):
        frame.insert(0, key, value)
    with atomic_path(out_csv) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    verdict = no_loss_verdict(frame)
    write_json(out_json, {
        **labels, "settings": settings, "verdict": verdict, "real": {"split": "classifier held-out", "n": len(real)},
        "inputs": {"pn": str(pn_path), "iid": str(iid_path), "classifier": str(classifier_dir)},
        "feature_space": "penultimate layer of the digits classifier (not Inception)",
        "torchmetrics": metadata.version("torchmetrics"), **environment_info(),
    })
    return verdict


def run_quality_table(*, rows: list[str | Path], out_csv, out_markdown, out_latex) -> pd.DataFrame:
    """Collect the per-run rows into the quality table (its CSV holds every column of the rows:
    :func:`run_quality_figure` draws from it)."""
    from ..tables import quality_table, write_table

    frame = pd.concat([pd.read_csv(p) for p in rows], ignore_index=True)
    numeric, formatted = quality_table(frame)
    write_table(
        numeric, formatted, csv=out_csv, markdown=out_markdown, latex=out_latex,
        caption=("Sample quality: Fréchet distance in the digits classifier's feature space (not Inception) to held-out "
                 "real digits of the z and -z members of the PN pairs and of independent iid samples, with bootstrap CIs; "
                 "precision, recall, density and coverage with k nearest neighbours in the same space."),
        label="tab:quality",
    )
    return frame


def run_quality_figure(*, csv: str | Path, out_figure: str | Path) -> None:
    """The quality figure (Fréchet distance of z, -z and iid samples with CIs) from the quality table's CSV."""
    from ..plotting.quality import plot_quality

    plot_quality(pd.read_csv(csv), path=out_figure)
