"""Jobs of the inverse-problem stage (paper, Table 3): DPS reconstructions, MC against AMC."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ...artifacts import atomic_path, environment_info, write_json
from ..config import ConfigError, naming_key

__all__ = ["run_inverse", "run_table3", "run_table3_figure", "task_operator"]


def run_inverse(
    *,
    model: str,
    model_spec: dict[str, Any],
    task: str,
    task_params: dict[str, Any],
    settings: dict[str, Any],
    split: dict[str, Any],
    out_csv: str | Path,
    out_summary: str | Path,
    weights_dir: str | Path | None = None,
    images: str | Path | None = None,
    device: str = "auto",
    batch_size: int | None = None,
) -> list[dict[str, Any]]:
    """DPS on ``settings["measurements"]`` ground-truth images for one task; per-measurement CSV and summary JSON.

    The images are the first held-out digits of the classifier split, or, with ``images`` (config key
    ``inverse.images``), the first images of that folder resized to the model's samples. The noise designs
    come from ``inverse.seed``: MC iid noise of seed ``seed``, AMC antithetic pairs of seed ``seed + 1``,
    measurement noise iid of seed ``seed + 2``.
    """
    import torch

    from ...device import describe_device
    from ...inverse import inverse_experiment
    from ...noise import AntitheticNoise, IIDNoise
    from .sampling import load_model

    operator = task_operator(task, task_params)
    net = load_model(model, model_spec, weights_dir=weights_dir, device=device)
    count = int(settings["measurements"])
    if images is not None:
        from ...data import load_image_folder

        with naming_key("inverse.images", fix="or remove the key to use the held-out digits (inverse.measurements is the count)"):
            truths = load_image_folder(images, net.sample_shape, count)
    else:
        from ...classifier import digits_split

        truths = digits_split(**split)["test_images"]
        if count > len(truths):
            raise ValueError(f"config key 'inverse.measurements' = {count} exceeds the {len(truths)} held-out digits")
        if tuple(net.sample_shape) != tuple(truths.shape[1:]):
            raise ValueError(f"config key 'inverse.model': {model!r} samples {net.sample_shape}, the digits are "
                             f"{tuple(truths.shape[1:])}; set inverse.images to a folder of images for this model")
        truths = truths[:count]
    seed = int(settings["seed"])
    frame, summary = inverse_experiment(
        net, operator, truths, mc_design=IIDNoise(seed=seed), amc_design=AntitheticNoise(seed=seed + 1),
        measurement_design=IIDNoise(seed=seed + 2), sigma_y=float(settings["sigma_y"]), samples=int(settings["samples"]),
        num_steps=int(settings["num_steps"]), eta=float(settings["eta"]), step_size=float(settings["step_size"]),
        seed=seed, level=float(settings["level"]), num_bootstrap=int(settings["bootstrap"]), batch_size=batch_size,
    )
    frame.insert(0, "task", task)
    frame.insert(0, "model", model)
    with atomic_path(out_csv) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    rows = [{"model": model, "task": task, **row} for row in summary]
    write_json(out_summary, {
        "rows": rows, "task_params": task_params, "settings": settings,
        "truths": str(images) if images is not None else {"held-out digits": split},
        "weights_sha256": net.weights_sha256(), "device": describe_device(net.device),
        "threads": torch.get_num_threads(), **environment_info(),
    })
    return rows


def task_operator(task: str, task_params: dict[str, Any]):
    """The operator of config key ``inverse.tasks.<task>``; a bad task or parameter raises :class:`ConfigError`."""
    from ...inverse import OPERATORS, make_operator

    if task not in OPERATORS:
        raise ConfigError(f"config key 'inverse.tasks' names {task!r}; known tasks: {sorted(OPERATORS)}. "
                          "Remove it or fix the name.")
    try:
        return make_operator(task, **task_params)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"config key 'inverse.tasks.{task}': {err}; fix the task's parameters "
                          "(see workflow/schemas/config.schema.yaml)") from None


def run_table3(*, summaries: list[str | Path], out_csv, out_markdown, out_latex, labels: dict[str, str]) -> pd.DataFrame:
    """Table 3 from the per-task summaries; ``labels``: :func:`antithetic.workflow.captions.inverse_labels`.
    Its CSV holds every column of the summaries' rows (:func:`run_table3_figure` draws from it)."""
    from ..captions import table3_caption
    from ..tables import inverse_table, write_table

    frame = pd.DataFrame([row for p in summaries for row in json.loads(Path(p).read_text())["rows"]])
    numeric, formatted = inverse_table(frame)
    write_table(
        numeric, formatted, csv=out_csv, markdown=out_markdown, latex=out_latex,
        caption=table3_caption(labels),
        label="tab:inverse",
    )
    return frame


def run_table3_figure(*, csv: str | Path, out_figure: str | Path) -> None:
    """Table 3's figure (efficiency of AMC over MC per task) from its CSV."""
    from ..plotting.inverse import plot_inverse

    plot_inverse(pd.read_csv(csv), path=out_figure)
