"""Jobs of the antithetic-editing stage (SDEdit-style): PN against RR edit pairs over a sweep of t0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ...artifacts import atomic_path, environment_info, write_json
from ..config import ConfigError

__all__ = ["run_editing", "run_editing_figure", "run_editing_table"]


def run_editing(
    *,
    model: str,
    model_spec: dict[str, Any],
    classifier_dir: str | Path,
    settings: dict[str, Any],
    out_csv: str | Path,
    out_summary: str | Path,
    weights_dir: str | Path | None = None,
    device: str = "auto",
) -> list[dict[str, Any]]:
    """Edit the first ``settings["sources"]`` held-out digits; per-source measures (CSV) and win rates (JSON).

    PN pairs are antithetic pairs of seed ``editing.seed``, RR pairs iid noise of seed ``editing.seed + 1``.
    """
    import torch

    from ...classifier import FeatureExtractor, load_classifier
    from ...device import describe_device
    from ...editing import editing_experiment
    from ...noise import AntitheticNoise, IIDNoise
    from ...samplers import start_timestep
    from .quality import held_out_digits
    from .sampling import load_model

    net = load_model(model, model_spec, weights_dir=weights_dir, device=device)
    t0_values, num_steps = [int(t) for t in settings["t0"]], int(settings["num_steps"])
    for t0 in t0_values:  # each t0 must reach the model's DDIM grid
        try:
            start_timestep(net, num_steps, t0)
        except ValueError as err:
            raise ConfigError(f"config key 'editing.t0': t0 = {t0} does not reach the {num_steps}-step DDIM grid of "
                              f"model {model!r} ({err}); raise t0 or editing.num_steps") from None
    sources = held_out_digits(classifier_dir)["test_images"]
    count = int(settings["sources"])
    if count > len(sources):
        raise ValueError(f"config key 'editing.sources' = {count} exceeds the {len(sources)} held-out digits")
    if tuple(net.sample_shape) != tuple(sources.shape[1:]):
        raise ValueError(f"config key 'editing.model': {model!r} samples {net.sample_shape}, the digits are {tuple(sources.shape[1:])}")
    seed = int(settings["seed"])
    frame, rows = editing_experiment(
        net, sources[:count], extractor=FeatureExtractor(load_classifier(classifier_dir)), t0_values=t0_values,
        num_steps=num_steps, pn_design=AntitheticNoise(seed=seed), rr_design=IIDNoise(seed=seed + 1),
        level=float(settings["level"]), kernel_size=int(settings["ssim_kernel_size"]), sigma=float(settings["ssim_sigma"]),
    )
    frame.insert(0, "model", model)
    with atomic_path(out_csv) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    rows = [{"model": model, **row} for row in rows]
    write_json(out_summary, {
        "rows": rows, "settings": settings, "weights_sha256": net.weights_sha256(), "classifier": str(classifier_dir),
        "device": describe_device(net.device), "threads": torch.get_num_threads(), **environment_info(),
    })
    return rows


def run_editing_table(*, summary: str | Path, out_csv, out_markdown, out_latex) -> pd.DataFrame:
    """The win-rate table of the t0 sweep (its CSV holds every column of the summary's rows:
    :func:`run_editing_figure` draws from it)."""
    from ..tables import editing_table, write_table

    frame = pd.DataFrame(json.loads(Path(summary).read_text())["rows"])
    numeric, formatted = editing_table(frame)
    write_table(
        numeric, formatted, csv=out_csv, markdown=out_markdown, latex=out_latex,
        caption=("Antithetic SDEdit: win rate of PN edit pairs (z, -z) over RR edit pairs (independent noises) per source "
                 "digit and noise level t0, with exact binomial CIs; diversity between the two edits and faithfulness "
                 "to the source (classifier features: the digits classifier's, not LPIPS)."),
        label="tab:editing",
    )
    return frame


def run_editing_figure(*, csv: str | Path, out_figure: str | Path) -> None:
    """The win rates of PN over RR edit pairs against t0, from the editing table's CSV."""
    from ..plotting.editing import plot_win_rates

    plot_win_rates(pd.read_csv(csv), path=out_figure)
