"""Jobs of the symmetry stage: AS scores and slices, trajectory correlations, Theorem 1, partial negation.

Config section ``symmetry:`` (documented in ``workflow/schemas/config.schema.yaml``); see
:mod:`antithetic.symmetry` and :mod:`antithetic.trajectories` for the definitions.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..config import ConfigError, require
from ..correlation import pn_pairs
from ..data import load_dataset
from ..io import atomic_path, environment_info, load_samples, write_json
from ..models.analytic import GaussianMixtureScore
from ..models.base import DiffusionModel
from ..noise import PartialAntitheticNoise, derive_seed
from ..plotting.symmetry import plot_as_vs_noise, plot_fisher, plot_partial, plot_slices, plot_trajectories
from ..symmetry import (
    antisymmetry_probe,
    as_distribution,
    break_level,
    gaussian_relative_fisher,
    mixture_fisher_upper_bound,
    mixture_score,
    model_score,
    relative_fisher_information,
    sample_mixture,
    summarize_as,
    symmetric_grid,
)
from ..trajectories import pixel_correlation_map, trajectory_correlations
from .sampling import model_from_config, sampler_from_config

__all__ = [
    "reference_data",
    "run_fisher",
    "run_partial_map",
    "run_symmetry_probe",
    "run_symmetry_table",
    "run_trajectories",
]

#: defaults of the ``symmetry:`` section (the schema fills the same ones in the workflow)
DEFAULTS: dict[str, Any] = {
    "models": [],
    "timesteps": [999, 900, 800, 700, 600, 500, 400, 300, 200, 150, 100, 70, 50, 30, 20, 10, 5, 1],
    "directions": 16,
    "grid_points": 101,
    "slice_examples": 6,
    "probe_samples": 256,
    "as_threshold": 0.9,
    "corr_threshold": -0.9,
    "trajectories": {"pairs": 64, "runs": {}},
    "fisher": {"models": [], "samples": 512, "points": 25},
    "partial": {"design": "partial-top", "pairs": 500, "runs": {}},
}
DATA_STREAM = 1004


def _section(config: dict[str, Any]) -> dict[str, Any]:
    sec = {**DEFAULTS, **(config.get("symmetry") or {})}
    for key in ("trajectories", "fisher", "partial"):
        sec[key] = {**DEFAULTS[key], **(sec.get(key) or {})}
    return sec


# ------------------------------------------------------------------------------------ data
def reference_data(
    config: dict[str, Any], name: str, model: DiffusionModel, *, num: int, seed: int
) -> tuple[torch.Tensor, GaussianMixtureScore | None, str]:
    """Data ``x_0`` to noise for the on-distribution probes, and the exact data law if known.

    * ``gaussian_mixture``: exact draws of the mixture (returned as the exact law);
    * ``affine_odd``: exact draws of ``N(mean, std^2 I)`` (a one-component mixture);
    * ``unet`` trained by the workflow: ``num`` real training images drawn without replacement;
    * other models: a :class:`~antithetic.config.ConfigError` (no offline data to noise).
    """
    spec = require(config, "models", name, used_at=f"symmetry.models.{name}")
    gen = torch.Generator().manual_seed(derive_seed(seed, DATA_STREAM))
    kind = spec.get("kind")
    if kind == "gaussian_mixture":
        exact = model.mixture
        return sample_mixture(exact, num, generator=gen).float(), exact, "exact mixture draws"
    if kind == "affine_odd":
        mean = torch.full((1, *model.sample_shape), float(spec["mean"]), dtype=torch.float64)
        exact = GaussianMixtureScore(mean, float(spec["std"]))
        return sample_mixture(exact, num, generator=gen).float(), exact, "exact Gaussian draws"
    if "train" in spec:
        dataset = spec["train"].get("dataset", "digits")
        images, _ = load_dataset(dataset)
        if num > len(images):
            raise ConfigError(f"symmetry.probe_samples={num} exceeds the {len(images)} images of {dataset!r}; lower it")
        pick = torch.randperm(len(images), generator=gen)[:num]
        return images[pick].float(), None, f"real {dataset} images"
    raise ConfigError(
        f"symmetry.models lists {name!r}, a model without packaged data to noise for the on-distribution "
        f"probe (only analytic models and models trained by the workflow have one); remove it from symmetry.models"
    )


# ------------------------------------------------------------------------------------ AS probe
def run_symmetry_probe(
    config: dict[str, Any],
    *,
    model: str,
    out_scores: str | Path,
    out_summary: str | Path,
    out_slices: str | Path,
    out_figure: str | Path,
    weights_dir: str | Path | None = None,
    device: str = "auto",
    batch_size: int = 1024,
    progress: bool = True,
) -> pd.DataFrame:
    """AS scores of ``eps_t`` slices (Table 10, Figure 4) and the on-distribution probe of one model."""
    sec = _section(config)
    seed = int(config.get("seed", 0))
    net = model_from_config(config, model, weights_dir=weights_dir, device=device)
    timesteps = [int(t) for t in sec["timesteps"]]
    train_steps = net.scheduler.config.num_train_timesteps
    bad = [t for t in timesteps if not 0 <= t < train_steps]
    if bad:
        raise ConfigError(f"symmetry.timesteps {bad} lie outside [0, {train_steps - 1}] of model {model!r}")
    # 1. AS scores over random directions and every coordinate
    scores, examples = as_distribution(
        net, timesteps=timesteps, num_directions=int(sec["directions"]), grid_points=int(sec["grid_points"]),
        seed=seed, batch_size=batch_size, examples=int(sec["slice_examples"]), progress=progress,
    )
    # 2. the on-distribution probe at noised data
    data, _, source = reference_data(config, model, net, num=int(sec["probe_samples"]), seed=seed)
    probe = antisymmetry_probe(net, data=data, timesteps=timesteps, seed=seed, batch_size=batch_size, progress=progress)
    summary = summarize_as(scores).merge(probe, on=["t", "abar", "sigma", "tau"])
    summary.insert(0, "model", model)
    summary["data"] = source
    with atomic_path(out_scores) as tmp:
        scores.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(out_summary) as tmp:
        summary.to_csv(tmp, index=False, float_format="%.6g")
    grid = symmetric_grid(int(sec["grid_points"]))
    with atomic_path(out_slices, suffix=".npz") as tmp:
        np.savez_compressed(tmp, grid=grid, timesteps=np.array(list(examples)), slices=np.stack(list(examples.values())))
    sigmas = {t: math.sqrt(1 - float(net.scheduler.alphas_cumprod[t])) for t in examples}
    plot_slices(grid, examples, sigmas, title=model, path=out_figure)
    return summary


def run_symmetry_table(
    config: dict[str, Any],
    *,
    summaries: list[str | Path],
    out_csv: str | Path,
    out_markdown: str | Path,
    out_latex: str | Path,
    out_breaks: str | Path,
    out_figure: str | Path,
) -> dict[str, Any]:
    """Table 10 (AS mean and 10% quantile per t, per model), the break levels, and the AS-vs-noise figure."""
    from ..tables import write_table

    sec = _section(config)
    frame = pd.concat([pd.read_csv(p) for p in summaries], ignore_index=True)
    formatted = pd.DataFrame(
        {
            "model": frame["model"],
            "t": frame["t"],
            "sigma_t": frame["sigma"].map(lambda v: f"{v:.3f}"),
            "AS mean": frame["as_mean"].map(lambda v: f"{v:.3f}"),
            "AS 10% q.": frame["as_q10"].map(lambda v: f"{v:.3f}"),
            "corr(eps(x), eps(-x))": frame["corr_mean"].map(lambda v: f"{v:.3f}"),
            "residual (median)": frame["residual_median"].map(lambda v: f"{v:.3f}"),
        }
    )
    write_table(
        frame, formatted, csv=out_csv, markdown=out_markdown, latex=out_latex,
        caption=(
            "Affine antisymmetry of eps_t per timestep t (sigma_t = sqrt(1 - abar_t)): AS score of 1-D slices "
            "(mean and 10% quantile over random directions x ~ N(0, I) and all output coordinates), and at noised "
            "data the per-coordinate correlation of eps_t(x) and eps_t(-x) and the residual "
            "||eps_t(x) + eps_t(-x) - 2 c_t|| / ||eps_t(x) - eps_t(-x)||."
        ),
        label="tab:symmetry",
    )
    breaks = {}
    for model, group in frame.groupby("model", sort=False):
        breaks[model] = {
            "as_q10": break_level(group, column="as_q10", threshold=float(sec["as_threshold"]), holds_above=True),
            "corr_mean": break_level(group, column="corr_mean", threshold=float(sec["corr_threshold"]), holds_above=False),
        }
    write_json(out_breaks, {"criteria": {"as_threshold": sec["as_threshold"], "corr_threshold": sec["corr_threshold"]}, "models": breaks})
    plot_as_vs_noise(frame, breaks, sec, path=out_figure)
    return breaks


# ------------------------------------------------------------------------------------ trajectories
def run_trajectories(
    config: dict[str, Any],
    *,
    model: str,
    sampler: str,
    out_csv: str | Path,
    out_figure: str | Path,
    weights_dir: str | Path | None = None,
    device: str = "auto",
    batch_size: int = 512,
    progress: bool = True,
) -> pd.DataFrame:
    """Per-step PN / RR correlation of ``x_t`` and ``eps_t`` along the sampler's trajectories (Figure 3)."""
    sec = _section(config)
    net = model_from_config(config, model, weights_dir=weights_dir, device=device)
    kind, options = sampler_from_config(config, sampler)
    frame = trajectory_correlations(
        net, sampler=kind, sampler_options=options, pairs=int(sec["trajectories"]["pairs"]),
        seed=int(config.get("seed", 0)), batch_size=batch_size, progress=progress,
    )
    frame.insert(0, "sampler", sampler)
    frame.insert(0, "model", model)
    with atomic_path(out_csv) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    plot_trajectories(frame, title=f"{model}, {sampler}", path=out_figure)
    return frame


# ------------------------------------------------------------------------------------ Theorem 1
def run_fisher(
    config: dict[str, Any],
    *,
    weights: dict[str, str | Path | None],
    out_csv: str | Path,
    out_json: str | Path,
    out_figure: str | Path,
    device: str = "auto",
    batch_size: int = 1024,
) -> dict[str, Any]:
    """Relative Fisher information ``I(mu_tau | gamma)`` vs OU time against Theorem 1's bound.

    For models with a known data law (analytic models) the bound ``e^{-2 tau} I(mu_0 | gamma)`` uses a
    Monte Carlo estimate of ``I(mu_0 | gamma)`` from the exact score at ``abar = 1`` (the data law
    itself; finite for a Gaussian mixture with ``s > 0``, see :func:`mixture_fisher_upper_bound`); the
    affine model also gets its closed form. A learned model has no known ``I(mu_0 | gamma)`` (the data
    are quantised, the empirical law has infinite Fisher information); its curve is shown with the
    semigroup form of the bound anchored at the smallest probed level, ``e^{-2 (tau - tau_0)} I(mu_tau_0 | gamma)``,
    which any true score satisfies.
    """
    sec = _section(config)["fisher"]
    seed = int(config.get("seed", 0))
    frames, record = [], {"models": {}, "env": environment_info()}
    for name, weights_dir in weights.items():
        net = model_from_config(config, name, weights_dir=weights_dir, device=device)
        train_steps = net.scheduler.config.num_train_timesteps
        ts = np.unique(np.round(np.linspace(0, train_steps - 1, int(sec["points"]))).astype(int))
        abars = net.scheduler.alphas_cumprod.double().numpy()[ts]
        x0, exact, source = reference_data(config, name, net, num=int(sec["samples"]), seed=seed)
        # 1. the curve along the model's own score at its training levels
        curve = relative_fisher_information(score=model_score(net, batch_size=batch_size), x0=x0, abars=abars, seed=seed)
        curve.insert(0, "t", ts)
        curve.insert(0, "score", "learned" if exact is None else "exact")
        entry: dict[str, Any] = {"data": source, "samples": int(sec["samples"])}
        if exact is not None:
            # 2. I(mu_0 | gamma) from the exact score at abar = 1 (tau = 0) and the bound of Theorem 1
            zero = relative_fisher_information(score=mixture_score(exact), x0=x0, abars=[1.0], seed=seed).iloc[0]
            i0, i0_se = float(zero["fisher"]), float(zero["fisher_se"])
            curve["bound"] = np.exp(-2 * curve["tau"]) * i0
            entry.update(I0=i0, I0_se=i0_se, I0_convexity_upper_bound=mixture_fisher_upper_bound(exact), bound="e^{-2 tau} I(mu_0|gamma)")
            if len(exact.means) == 1:
                d = int(np.prod(net.sample_shape))
                curve["closed_form"] = gaussian_relative_fisher(mean=exact.means[0].numpy().reshape(-1), std=exact.std, dim=d, tau=curve["tau"])
                entry["I0_closed_form"] = float(gaussian_relative_fisher(mean=exact.means[0].numpy().reshape(-1), std=exact.std, dim=d, tau=0.0))
        else:
            tau0, i_tau0 = float(curve["tau"].iloc[0]), float(curve["fisher"].iloc[0])
            curve["bound"] = np.exp(-2 * (curve["tau"] - tau0)) * i_tau0
            entry.update(anchor_tau=tau0, anchor_fisher=i_tau0, bound="e^{-2 (tau - tau_0)} I(mu_tau_0|gamma)")
        slack = curve["bound"] + 3 * curve["fisher_se"] - curve["fisher"]
        entry["bound_holds"] = bool((slack >= 0).all())
        entry["max_ratio_to_bound"] = float((curve["fisher"] / curve["bound"]).max())
        record["models"][name] = entry
        curve.insert(0, "model", name)
        frames.append(curve)
    frame = pd.concat(frames, ignore_index=True)
    with atomic_path(out_csv) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    record["time_map"] = "abar_t = exp(-2 tau): tau = -log(abar_t) / 2"
    write_json(out_json, record)
    plot_fisher(frame, path=out_figure)
    return record


# ------------------------------------------------------------------------------------ partial negation
def run_partial_map(
    config: dict[str, Any],
    *,
    partial_path: str | Path,
    antithetic_path: str | Path,
    out_npz: str | Path,
    out_summary: str | Path,
    out_figure: str | Path,
    title: str,
) -> dict[str, Any]:
    """Per-pixel PN correlation across pairs: full negation vs negating only a region of ``z``."""
    partial = load_samples(partial_path)
    full = load_samples(antithetic_path)
    if partial.design.get("name") != "partial":
        raise ConfigError(f"symmetry.partial.design must name a design of kind 'partial', got {partial.design}")
    maps = {"full": pixel_correlation_map(pn_pairs(full)), "partial": pixel_correlation_map(pn_pairs(partial))}
    design = PartialAntitheticNoise(region=partial.design["region"])
    mask = design.mask(maps["partial"].shape).numpy()
    summary = {
        "region": partial.design["region"],
        "pairs_partial": int(len(pn_pairs(partial))),
        "pairs_full": int(len(pn_pairs(full))),
        "partial_negated_mean": float(np.nanmean(maps["partial"][mask])),
        "partial_kept_mean": float(np.nanmean(maps["partial"][~mask])),
        "full_mean": float(np.nanmean(maps["full"])),
        "partial_negated_frac_negative": float(np.nanmean(maps["partial"][mask] < 0)),
        "partial_kept_frac_positive": float(np.nanmean(maps["partial"][~mask] > 0)),
        "undefined_pixels": int(np.isnan(maps["partial"]).sum()),
    }
    with atomic_path(out_npz, suffix=".npz") as tmp:
        np.savez_compressed(tmp, full=maps["full"], partial=maps["partial"], mask=mask)
    write_json(out_summary, summary)
    plot_partial(maps, mask, summary, title=title, path=out_figure)
    return summary
