"""Jobs of the antithetic-FlowEdit stage: held-out digits edited to another class with independent and with
antithetic noise draws, per n_max; win rates of the antithetic edit for target adherence and faithfulness."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...artifacts import atomic_path, environment_info, write_json
from ..config import ConfigError

__all__ = ["run_flowedit", "run_flowedit_figure", "run_flowedit_table"]


def run_flowedit(
    *,
    model: str,
    model_spec: dict[str, Any],
    classifier_dir: str | Path,
    settings: dict[str, Any],
    out_csv: str | Path,
    out_summary: str | Path,
    out_edits: str | Path,
    weights_dir: str | Path | None = None,
    device: str = "auto",
) -> list[dict[str, Any]]:
    """Edit the first ``settings["sources"]`` held-out digits into seeded other classes at every ``n_max``.

    Per-source measures (CSV), win rates with provenance (JSON) and the edits (npz: ``sources``, ``source_labels``,
    ``target_labels``, ``n_max``, ``antithetic`` and ``iid`` of shape ``(len(n_max), sources, 1, 8, 8)``). The
    antithetic draws come from seed ``flowedit.seed``, the independent ones from seed ``flowedit.seed + 1``, the
    target classes from ``flowedit.seed`` (a stream of their own).
    """
    import torch

    from ...classifier import FeatureExtractor, load_classifier
    from ...device import describe_device
    from ...flowedit import edit_targets, flowedit_experiment
    from ...noise import AntitheticNoise, IIDNoise
    from .quality import held_out_digits
    from .sampling import load_model

    num_steps, n_avg = int(settings["num_steps"]), int(settings["n_avg"])
    n_max_values = [int(n) for n in settings["n_max"]]
    too_many = [n for n in n_max_values if not 1 <= n <= num_steps]
    if too_many:
        raise ConfigError(f"config key 'flowedit.n_max' lists {too_many}, outside [1, flowedit.num_steps = {num_steps}]; FlowEdit "
                          "takes the n_max least noisy steps of its grid: lower them or raise flowedit.num_steps")
    net = load_model(model, model_spec, weights_dir=weights_dir, device=device)
    if not hasattr(net, "labels"):
        raise ConfigError(f"config key 'flowedit.model': {model!r} has no class labels; the stage edits a digit of one class into "
                          "another, so it needs a class-conditional model with guidance (e.g. kind class_gaussian_mixture)")
    classifier = load_classifier(classifier_dir)
    num_classes = int(net.labels.num_classes)
    if num_classes != int(classifier.config.num_classes):
        raise ConfigError(f"config key 'flowedit.model': {model!r} has {num_classes} classes, the digits classifier "
                          f"{classifier.config.num_classes}; the target adherence is the classifier's probability of the model's class: "
                          "choose a model of the classifier's classes (e.g. digits-gmm-cond)")
    split = held_out_digits(classifier_dir)
    count = int(settings["sources"])
    if count > len(split["test_images"]):
        raise ValueError(f"config key 'flowedit.sources' = {count} exceeds the {len(split['test_images'])} held-out digits; "
                         f"lower it to at most {len(split['test_images'])}")
    sources, labels = split["test_images"][:count], split["test_labels"][:count]
    if tuple(net.sample_shape) != tuple(sources.shape[1:]):
        raise ValueError(f"config key 'flowedit.model': {model!r} samples {net.sample_shape}, the digits are {tuple(sources.shape[1:])}; "
                         "choose a model of the digits' shape (1x8x8)")
    seed = int(settings["seed"])
    targets = edit_targets(labels, num_classes=num_classes, seed=seed)
    began = time.perf_counter()
    frame, rows, edits = flowedit_experiment(
        net, sources, source_labels=labels, target_labels=targets, classifier=classifier, extractor=FeatureExtractor(classifier),
        n_max_values=n_max_values, num_steps=num_steps, n_avg=n_avg, antithetic_design=AntitheticNoise(seed=seed),
        iid_design=IIDNoise(seed=seed + 1), source_guidance_scale=settings.get("source_guidance_scale"),
        target_guidance_scale=settings.get("target_guidance_scale"), level=float(settings["level"]),
    )
    seconds = time.perf_counter() - began
    frame.insert(0, "model", model)
    frame.insert(2, "source_label", labels.numpy()[frame["source"].to_numpy()])
    with atomic_path(out_csv) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(out_edits) as tmp:
        np.savez_compressed(
            tmp, sources=sources.numpy().astype(np.float32), source_labels=labels.numpy(), target_labels=targets.numpy(),
            n_max=np.asarray(n_max_values), antithetic=np.stack([edits[n]["antithetic"] for n in n_max_values]),
            iid=np.stack([edits[n]["iid"] for n in n_max_values]),
        )
    rows = [{"model": model, "num_steps": num_steps, "n_avg": n_avg, **row} for row in rows]
    write_json(out_summary, {
        "rows": rows, "settings": settings, "seconds": seconds, "weights_sha256": net.weights_sha256(),
        "classifier": str(classifier_dir), "device": describe_device(net.device), "threads": torch.get_num_threads(),
        **environment_info(),
    })
    return rows


def flowedit_caption(num_steps: int, n_avg: int) -> str:
    """The table's caption, from the settings of its rows."""
    return (f"Antithetic FlowEdit: win rate of the edit with {n_avg // 2} antithetic pairs (n, -n) of noise draws per step over "
            f"the edit with {n_avg} independent draws per step, per held-out digit edited to a seeded other class and per "
            f"n_max of {num_steps} steps, with exact binomial CIs. Target adherence: the digits classifier's probability of "
            "the target class (not CLIP); faithfulness: the distance of the digits classifier's features to the source "
            "(not LPIPS). Hit rate: share of edits the classifier assigns to the target class.")


def run_flowedit_table(*, summary: str | Path, out_csv, out_markdown, out_latex) -> pd.DataFrame:
    """The win-rate table over n_max (its CSV holds every column of the summary's rows: :func:`run_flowedit_figure`
    draws from it)."""
    from ..tables import flowedit_table, write_table

    frame = pd.DataFrame(json.loads(Path(summary).read_text())["rows"])
    numeric, formatted = flowedit_table(frame)
    write_table(numeric, formatted, csv=out_csv, markdown=out_markdown, latex=out_latex,
                caption=flowedit_caption(int(frame["num_steps"].iloc[0]), int(frame["n_avg"].iloc[0])), label="tab:flowedit")
    return frame


def run_flowedit_figure(*, csv: str | Path, edits: str | Path, out_figure: str | Path, out_grid: str | Path) -> None:
    """The win rates against n_max (from the table's CSV) and a grid of sources with their independent and antithetic edits."""
    from ..plotting.flowedit import plot_edit_grid, plot_win_rates

    plot_win_rates(pd.read_csv(csv), path=out_figure)
    with np.load(edits) as stored:
        plot_edit_grid({key: stored[key] for key in stored.files}, path=out_grid)
