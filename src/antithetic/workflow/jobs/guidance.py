"""Jobs for the paper's pretrained models and the classifier-free-guidance sweep.

* :func:`run_fetch_model`: download a hub checkpoint once into ``results/models/<name>``.
* :func:`run_guided_sampling`: the ``sample`` job of a conditional model with its guidance scale
  overridden (samples keyed by the scale).
* :func:`run_guidance_accuracy`: the digits classifier's class of every guided sample of a digits model,
  against the class it was asked for (a network job).
* :func:`run_guidance_sweep`: PN and RR correlations (paper, "Definitions") at every guidance scale,
  one CSV row per scale, with the classifier's accuracy where :func:`run_guidance_accuracy` scored the
  samples; :func:`run_guidance_sweep_figure` draws the paper's guidance ablation from it.

A sweep reads the first ``2 x pairs`` samples of each file: at the model's own guidance scale the file
may be a Table 1 row's larger one (:meth:`antithetic.workflow.plan.Plan.guided_samples`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ...artifacts import atomic_path, load_samples, write_json
from ...correlation import correlation_frame, summarize
from ...kinds import kinds_where, model_kind
from ..config import naming_key

__all__ = [
    "accuracy_by_scale",
    "format_scale",
    "run_fetch_model",
    "run_guidance_accuracy",
    "run_guidance_sweep",
    "run_guidance_sweep_figure",
    "run_guided_sampling",
]


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


def _sweep_samples(path: str | Path, pairs: int | None):
    """The samples of one scale and design: the file's first ``2 x pairs`` (all of them for ``pairs`` None)."""
    samples = load_samples(path)
    return samples if pairs is None else samples.first(2 * int(pairs))


def run_guidance_accuracy(
    *, samples: list[dict[str, Any]], classifier_dir: str | Path, labels: dict[str, Any], pairs: int, out_csv: str | Path,
    device: str = "cpu",
) -> pd.DataFrame:
    """The digits classifier's class of every sample of a guidance sweep, against the class each was asked for.

    The class asked for by sample ``k`` is the model's :class:`~antithetic.models.conditional.ClassLabels` of
    ``k``, rebuilt from its settings (the label of condition slot ``k // 2``; the PN and the RR samples of a
    slot share it). ``scored`` marks the samples the sweep table's accuracy counts: the RR (iid) sample
    ``2j`` of every slot ``j``, one per slot, so that they are independent draws (independent noise and
    independent uniform labels) and the exact binomial interval holds; the PN twins and the second RR member
    share their slot's label.

    Args:
        samples: one entry per scale: ``{"scale": w, "pn": path, "rr": path}``, as for :func:`run_guidance_sweep`.
        classifier_dir: the digits classifier (rule train_classifier).
        labels: the model's class settings: ``class_labels`` (default ``random``), ``label_seed`` (default 0)
            and, if known, ``num_classes`` (it must be the classifier's).
        pairs: pairs per design and scale (the first ``2 x pairs`` samples of each file).
        out_csv: one row per sample and scale: ``guidance_scale``, ``kind`` (PN/RR), ``sample``, ``slot``,
            ``label``, ``predicted``, ``correct``, ``scored``.
        device: where the classifier runs (``auto``: CUDA if available).
    """
    import torch

    from ...classifier import load_classifier, predict
    from ...device import resolve_device
    from ...models.conditional import ClassLabels, condition_slot

    classifier = load_classifier(classifier_dir).to(resolve_device(device))
    num_classes = int(classifier.config.num_classes)
    if labels.get("num_classes") not in (None, num_classes):
        raise ValueError(
            f"the model has {labels['num_classes']} classes but the digits classifier {num_classes}: the accuracy of "
            f"guided samples needs a model of the digit classes (train.num_classes: {num_classes})"
        )
    requested = ClassLabels(labels.get("class_labels", "random"), num_classes=num_classes, seed=int(labels.get("label_seed", 0)))
    frames = []
    for entry in sorted(samples, key=lambda e: float(e["scale"])):
        for kind in ("PN", "RR"):
            drawn = _sweep_samples(entry[kind.lower()], pairs)
            indices = [int(k) for k in drawn.indices]
            asked = requested(indices)
            predicted = predict(classifier, torch.from_numpy(drawn.samples))
            frames.append(pd.DataFrame({
                "guidance_scale": float(entry["scale"]), "kind": kind, "sample": indices,
                "slot": [condition_slot(k) for k in indices], "label": asked.numpy(), "predicted": predicted.numpy(),
                "correct": (predicted == asked).numpy(), "scored": [kind == "RR" and k % 2 == 0 for k in indices],
            }))
    table = pd.concat(frames, ignore_index=True)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    return table


def accuracy_by_scale(frame: pd.DataFrame, *, level: float = 0.95) -> pd.DataFrame:
    """Per guidance scale, the share of the ``scored`` samples of :func:`run_guidance_accuracy`'s table classified as
    their requested class, with the exact (Clopper-Pearson) binomial interval at ``level``: columns
    ``guidance_scale``, ``accuracy``, ``accuracy_low``, ``accuracy_high``, ``accuracy_samples``."""
    from scipy import stats

    rows = []
    for scale, group in frame[frame["scored"].astype(bool)].groupby("guidance_scale", sort=True):
        hits, n = int(group["correct"].astype(bool).sum()), int(len(group))
        ci = stats.binomtest(hits, n).proportion_ci(confidence_level=level, method="exact")
        rows.append({"guidance_scale": float(scale), "accuracy": hits / n, "accuracy_low": float(ci.low),
                     "accuracy_high": float(ci.high), "accuracy_samples": n})
    return pd.DataFrame(rows)


def run_guidance_sweep(
    *, samples: list[dict[str, Any]], out_csv: str | Path, out_pairs: str | Path, out_summary: str | Path,
    labels: dict[str, Any], pairs: int | None = None, accuracy: str | Path | None = None, level: float = 0.95,
) -> pd.DataFrame:
    """PN and RR correlation, mean (SD) over pairs, at every guidance scale; with ``accuracy``, the digits
    classifier's accuracy on the guided samples too.

    Args:
        samples: one entry per scale: ``{"scale": w, "pn": path, "rr": path}`` (antithetic and iid samples).
        out_csv: one row per scale (``labels``, ``guidance_scale``, ``pn_standard_mean``, ...; with ``accuracy``
            also ``accuracy``, ``accuracy_low``, ``accuracy_high``, ``accuracy_samples``: :func:`accuracy_by_scale`).
        out_pairs: every pair's correlations with its scale (for re-plotting).
        out_summary: the rows as JSON.
        pairs: pairs per design and scale: the first ``2 x pairs`` samples of each file (default: all of them).
        accuracy: :func:`run_guidance_accuracy`'s table of the same samples, or ``None``.
        level: confidence level of the accuracy's interval.
    """
    rows, frames = [], []
    for entry in sorted(samples, key=lambda e: float(e["scale"])):
        frame = correlation_frame(_sweep_samples(entry["pn"], pairs), _sweep_samples(entry["rr"], pairs))
        frame.insert(0, "guidance_scale", float(entry["scale"]))
        frames.append(frame)
        rows.append({**labels, "guidance_scale": float(entry["scale"]), **summarize(frame)})
    table = pd.DataFrame(rows)
    if accuracy is not None:
        scored = accuracy_by_scale(pd.read_csv(accuracy), level=level)
        missing = sorted(set(table["guidance_scale"]) - set(scored["guidance_scale"]))
        if missing:
            raise ValueError(f"the accuracy table {str(accuracy)!r} has no samples at guidance scales {missing}; rerun its job")
        table = table.merge(scored, on="guidance_scale", how="left")
        rows = table.to_dict("records")
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(out_pairs) as tmp:
        pd.concat(frames, ignore_index=True).to_csv(tmp, index=False, float_format="%.6g")
    write_json(out_summary, {"rows": rows})
    return table


def run_guidance_sweep_figure(*, csv: str | Path, title: str, out_figure: str | Path) -> None:
    """PN and RR correlation (mean +- SD) against the guidance scale, standard and centered, from
    :func:`run_guidance_sweep`'s CSV; a third panel with the classifier's accuracy where the CSV has it."""
    from ..plotting.sweeps import plot_guidance_sweep

    plot_guidance_sweep(pd.read_csv(csv), title=title, path=out_figure)
