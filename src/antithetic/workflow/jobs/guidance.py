"""Jobs for the paper's pretrained models and the classifier-free-guidance sweep.

* :func:`run_fetch_model`: download a hub checkpoint once into ``results/models/<name>``.
* :func:`run_guided_sampling`: the ``sample`` job of a conditional model with its guidance scale
  overridden (samples keyed by the scale).
* :func:`run_guidance_sweep`: PN and RR correlations (paper, "Definitions") at every guidance scale,
  one CSV row per scale; :func:`run_guidance_sweep_figure` draws the paper's guidance ablation from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ...artifacts import atomic_path, load_samples, write_json
from ...correlation import correlation_frame, summarize
from ...kinds import kinds_where, model_kind
from ..config import naming_key

__all__ = ["format_scale", "run_fetch_model", "run_guidance_sweep", "run_guidance_sweep_figure", "run_guided_sampling"]


def format_scale(scale: float) -> str:
    """Guidance scale as it appears in paths: ``7.5 -> "7.5"``, ``4.0 -> "4"``."""
    return f"{float(scale):g}"


def run_fetch_model(*, source: str, out_dir: str | Path, revision: str | None = None) -> dict[str, Any]:
    """Fetch ``source`` (hub id) into ``out_dir``; see :func:`antithetic.models.fetch.fetch_model`."""
    from ...models.fetch import fetch_model

    return fetch_model(source, out_dir, revision=revision)


def run_guided_sampling(*, model: str, model_spec: dict[str, Any], guidance_scale: float, **kwargs: Any):
    """:func:`~antithetic.workflow.jobs.sampling.run_sampling` with ``models.<model>.guidance_scale`` overridden.

    The provenance records the overridden spec, so every samples file names its scale.
    """
    from .sampling import run_sampling  # here: the sweep and its figure need no network (nor torch)

    spec = model_spec
    with naming_key(f"models.{model}.kind"):
        guided = model_kind(spec.get("kind")).guided
    if not guided:
        raise ValueError(
            f"config key 'guidance.runs.{model}': model kind {spec.get('kind')!r} has no classifier-free guidance; "
            f"use one of {kinds_where(guided=True)}"
        )
    return run_sampling(model=model, model_spec={**spec, "guidance_scale": float(guidance_scale)}, **kwargs)


def run_guidance_sweep(
    *, samples: list[dict[str, Any]], out_csv: str | Path, out_pairs: str | Path, out_summary: str | Path,
    labels: dict[str, Any],
) -> pd.DataFrame:
    """PN and RR correlation, mean (SD) over pairs, at every guidance scale.

    Args:
        samples: one entry per scale: ``{"scale": w, "pn": path, "rr": path}`` (antithetic and iid samples).
        out_csv: one row per scale (``labels``, ``guidance_scale``, ``pn_standard_mean``, ...).
        out_pairs: every pair's correlations with its scale (for re-plotting).
        out_summary: the rows as JSON.
    """
    rows, frames = [], []
    for entry in sorted(samples, key=lambda e: float(e["scale"])):
        frame = correlation_frame(load_samples(entry["pn"]), load_samples(entry["rr"]))
        frame.insert(0, "guidance_scale", float(entry["scale"]))
        frames.append(frame)
        rows.append({**labels, "guidance_scale": float(entry["scale"]), **summarize(frame)})
    table = pd.DataFrame(rows)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(out_pairs) as tmp:
        pd.concat(frames, ignore_index=True).to_csv(tmp, index=False, float_format="%.6g")
    write_json(out_summary, {"rows": rows})
    return table


def run_guidance_sweep_figure(*, csv: str | Path, title: str, out_figure: str | Path) -> None:
    """PN and RR correlation (mean +- SD) against the guidance scale, standard and centered, from
    :func:`run_guidance_sweep`'s CSV."""
    from ..plotting.sweeps import plot_guidance_sweep

    plot_guidance_sweep(pd.read_csv(csv), title=title, path=out_figure)
