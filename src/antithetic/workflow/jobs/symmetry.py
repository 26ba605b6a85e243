"""Jobs of the symmetry stage: AS scores and slices, trajectory correlations, Theorem 1, partial negation.

Each job loads its inputs, calls :mod:`antithetic.symmetry` / :mod:`antithetic.trajectories` and
writes tables and JSON; the ``run_*_figure`` jobs draw the figures from those files (rules of their own:
a plotting edit reruns no table or network job). Jobs receive the resolved config values they read (the rules'
``params:``), never the whole config.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...artifacts import atomic_path, environment_info, load_samples, write_json

__all__ = [
    "run_as_vs_noise_figure", "run_fisher", "run_fisher_figure", "run_partial_map", "run_partial_map_figure", "run_slices_figure",
    "run_symmetry_probe", "run_symmetry_table", "run_trajectories", "run_trajectory_figure",
]

#: the quantile of the AS scores that the table and the break criterion use
AS_QUANTILE = 0.1


def _data(net, spec: dict[str, Any], *, num: int, seed: int, data_sampler: dict[str, Any] | None, batch_size: int, progress: bool):
    from ...symmetry import reference_data
    from .sampling import sampler_from_spec

    kind, options = sampler_from_spec(data_sampler) if data_sampler else (None, None)
    return reference_data(net, spec, num=num, seed=seed, sampler=kind, sampler_options=options, batch_size=batch_size, progress=progress)


# ------------------------------------------------------------------------------------ AS probe
def run_symmetry_probe(
    *,
    model: str,
    spec: dict[str, Any],
    probe: dict[str, Any],
    seed: int,
    data_sampler: dict[str, Any] | None,
    out_scores: str | Path,
    out_summary: str | Path,
    out_slices: str | Path,
    weights_dir: str | Path | None = None,
    device: str = "auto",
    batch_size: int = 1024,
    progress: bool = True,
) -> pd.DataFrame:
    """AS scores of ``eps_t`` slices (Table 10, Figure 4), the on-distribution probe and, for a model with a
    known data law, Corollary 1 of one model. The slices' figure is drawn by :func:`run_slices_figure` (its
    own rule: a plotting edit reruns no network job).

    Args:
        spec: the resolved ``models.<model>`` entry.
        probe: the resolved ``symmetry`` keys ``timesteps, directions, coordinates, grid_points,
            slice_examples, probe_samples, bootstrap, ci_level``.
        data_sampler: the resolved ``samplers.<symmetry.data_sampler>`` entry, used to draw the model's own
            samples as ``x_0`` when it has no data (pretrained models); None otherwise.
    """
    from ...symmetry import (
        antisymmetry_probe,
        as_distribution,
        corollary1_check,
        mixture_score,
        relative_fisher_information,
        summarize_as,
        symmetric_grid,
    )
    from .sampling import load_model

    net = load_model(model, spec, weights_dir=weights_dir, device=device)
    timesteps = [int(t) for t in probe["timesteps"]]
    train_steps = net.scheduler.config.num_train_timesteps
    bad = [t for t in timesteps if not 0 <= t < train_steps]
    if bad:
        raise ValueError(f"symmetry.timesteps {bad} lie outside [0, {train_steps - 1}] of model {model!r}")
    # 1. AS scores over random directions and output coordinates, with a bootstrap CI over directions
    scores, examples = as_distribution(
        net, timesteps=timesteps, num_directions=int(probe["directions"]), grid_points=int(probe["grid_points"]),
        coordinates=int(probe["coordinates"]), seed=seed, batch_size=batch_size, examples=int(probe["slice_examples"]),
        progress=progress,
    )
    summary = summarize_as(scores, quantile=AS_QUANTILE, bootstrap=int(probe["bootstrap"]), level=float(probe["ci_level"]), seed=seed)
    # 2. the on-distribution probe at noised data (or noised model samples)
    data, exact, source = _data(net, spec, num=int(probe["probe_samples"]), seed=seed, data_sampler=data_sampler,
                                batch_size=batch_size, progress=progress)
    found = antisymmetry_probe(net, data=data, timesteps=timesteps, seed=seed, batch_size=batch_size, progress=progress)
    summary = summary.merge(found, on=["t", "abar", "sigma", "tau"])
    # 3. Corollary 1 where the score is exact (network error eta_t = 0) and I(mu_0 | gamma) is known
    if exact is not None:
        i0 = float(relative_fisher_information(score=mixture_score(exact), x0=data, abars=[1.0], seed=seed)["fisher"].iloc[0])
        cor = corollary1_check(net, data=data, timesteps=timesteps, i0=i0, seed=seed, batch_size=batch_size)
        cor = cor[["t", "t_next", "gap_max", "rhs_min", "holds_fraction", "informative_fraction"]].add_prefix("cor1_")
        summary = summary.merge(cor.rename(columns={"cor1_t": "t"}), on="t", how="left")
        summary["cor1_I0"] = i0
    summary.insert(0, "model", model)
    summary["data"] = source
    with atomic_path(out_scores) as tmp:
        scores.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(out_summary) as tmp:
        summary.to_csv(tmp, index=False, float_format="%.6g")
    grid = symmetric_grid(int(probe["grid_points"]))
    sigmas = [math.sqrt(1 - float(net.scheduler.alphas_cumprod[t])) for t in examples]
    with atomic_path(out_slices, suffix=".npz") as tmp:
        np.savez_compressed(tmp, grid=grid, timesteps=np.array(list(examples)), slices=np.stack(list(examples.values())),
                            sigmas=np.array(sigmas))
    return summary


def run_slices_figure(*, slices: str | Path, title: str, out_figure: str | Path) -> None:
    """Figure 4: example slices ``f(c) = [eps_t(c x)]_j`` of the probe's ``slices.npz`` at up to four t."""
    from ..plotting.symmetry import plot_slices

    with np.load(slices) as data:
        timesteps = [int(t) for t in data["timesteps"]]
        examples = dict(zip(timesteps, data["slices"]))
        sigmas = dict(zip(timesteps, (float(s) for s in data["sigmas"])))
        grid = data["grid"]
    plot_slices(grid, examples, sigmas, title=title, path=out_figure)


def _fmt(v: float, digits: int = 3) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def run_symmetry_table(
    *,
    summaries: list[str | Path],
    as_threshold: float,
    corr_threshold: float,
    out_csv: str | Path,
    out_markdown: str | Path,
    out_latex: str | Path,
    out_breaks: str | Path,
) -> dict[str, Any]:
    """Table 10 (AS mean and 10% quantile with its CI per t, per model) and the break levels with their
    criteria; :func:`run_as_vs_noise_figure` draws them."""
    from ...symmetry.scores import break_level
    from ..tables import write_table

    frame = pd.concat([pd.read_csv(p) for p in summaries], ignore_index=True)
    for column in ("cor1_holds_fraction", "cor1_informative_fraction"):
        if column not in frame:
            frame[column] = np.nan
    formatted = pd.DataFrame(
        {
            "model": frame["model"],
            "t": frame["t"],
            "sigma_t": frame["sigma"].map(_fmt),
            "AS mean": frame["as_mean"].map(_fmt),
            "AS 10% q. [CI]": [f"{_fmt(q)} [{_fmt(lo)}, {_fmt(hi)}]" for q, lo, hi in zip(frame["as_q10"], frame["as_q10_lo"], frame["as_q10_hi"])],
            "corr on {x_t, -x_t}": frame["corr_mean"].map(_fmt),
            "residual (median)": frame["residual_median"].map(_fmt),
            "Cor. 1 holds (informative)": [
                "-" if not np.isfinite(h) else f"{h:.2f} ({i:.2f})"
                for h, i in zip(frame["cor1_holds_fraction"], frame["cor1_informative_fraction"])
            ],
        }
    )
    level = frame["as_q10_hi"].notna().any()
    write_table(
        frame, formatted, csv=out_csv, markdown=out_markdown, latex=out_latex,
        caption=(
            "Affine antisymmetry of eps_t per timestep t (sigma_t = sqrt(1 - abar_t)): AS score of 1-D slices "
            "(mean and 10% quantile over random directions x ~ N(0, I) and output coordinates"
            + (", with a percentile-bootstrap CI resampling directions" if level else "")
            + "); at noised data the per-coordinate correlation of eps_t(X) and eps_t(-X) over the symmetrised "
            "sample {x_t, -x_t} (Lemma 1) and the residual ||eps_t(x) + eps_t(-x) - 2 c_t|| / ||eps_t(x) - eps_t(-x)||; "
            "for exact scores, the share of coordinates where Corollary 1 holds for the DDIM step to the next probed t "
            "(in brackets: the share where its bound is below 2, i.e. says something)."
        ),
        label="tab:symmetry",
    )
    breaks = {}
    for model, group in frame.groupby("model", sort=False):
        breaks[model] = {
            "as_q10": break_level(group, column="as_q10", threshold=as_threshold, holds_above=True),
            "corr_mean": break_level(group, column="corr_mean", threshold=corr_threshold, holds_above=False),
        }
    write_json(out_breaks, {"criteria": {"as_threshold": as_threshold, "corr_threshold": corr_threshold}, "models": breaks})
    return breaks


def run_as_vs_noise_figure(*, csv: str | Path, breaks: str | Path, out_figure: str | Path) -> None:
    """The AS-vs-noise figure from Table 10's CSV (:func:`run_symmetry_table`) and its ``breaks.json``
    (the break levels and the criteria's thresholds)."""
    from ..plotting.symmetry import plot_as_vs_noise

    record = json.loads(Path(breaks).read_text())
    criteria = record["criteria"]
    plot_as_vs_noise(pd.read_csv(csv), record["models"], as_threshold=criteria["as_threshold"],
                     corr_threshold=criteria["corr_threshold"], path=out_figure)


# ------------------------------------------------------------------------------------ trajectories
def run_trajectories(
    *,
    model: str,
    spec: dict[str, Any],
    sampler: str,
    sampler_spec: dict[str, Any],
    designs: dict[str, dict[str, Any]],
    pairs: int,
    seed: int,
    out_csv: str | Path,
    weights_dir: str | Path | None = None,
    device: str = "auto",
    batch_size: int = 512,
    progress: bool = True,
) -> pd.DataFrame:
    """Per-step PN / RR correlation of ``x_t`` and ``eps_t`` along the sampler's trajectories (Figure 3).

    Args:
        designs: ``{"PN": designs.antithetic, "RR": designs.iid}`` (resolved entries).
    """
    from ...trajectories import trajectory_correlations
    from .sampling import design_from_spec, load_model, sampler_from_spec

    net = load_model(model, spec, weights_dir=weights_dir, device=device)
    kind, options = sampler_from_spec(sampler_spec)
    frame = trajectory_correlations(
        net, pn_design=design_from_spec(designs["PN"], seed=seed), rr_design=design_from_spec(designs["RR"], seed=seed),
        sampler=kind, sampler_options=options, pairs=int(pairs), batch_size=batch_size, progress=progress,
    )
    frame.insert(0, "sampler", sampler)
    frame.insert(0, "model", model)
    with atomic_path(out_csv) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    return frame


def run_trajectory_figure(*, csv: str | Path, title: str, out_figure: str | Path) -> None:
    """Figure 3: the per-step correlations of :func:`run_trajectories`' table."""
    from ..plotting.symmetry import plot_trajectories

    plot_trajectories(pd.read_csv(csv), title=title, path=out_figure)


# ------------------------------------------------------------------------------------ Theorem 1
def run_fisher(
    *,
    models: dict[str, dict[str, Any]],
    fisher: dict[str, Any],
    seed: int,
    data_sampler: dict[str, Any] | None,
    weights: dict[str, str | Path | None],
    out_csv: str | Path,
    out_json: str | Path,
    device: str = "auto",
    batch_size: int = 1024,
    progress: bool = True,
) -> dict[str, Any]:
    """Relative Fisher information ``I(mu_tau | gamma)`` vs OU time against Theorem 1's bound
    (:func:`antithetic.symmetry.theorem1_curve`), for each of ``models`` (name -> resolved spec).

    Args:
        fisher: the resolved ``symmetry.fisher`` keys ``samples, points``.
        weights: model name -> weights folder (None for analytic models).
    """
    from ...symmetry import theorem1_curve
    from .sampling import load_model

    frames, record = [], {"models": {}, "env": environment_info()}
    for name, spec in models.items():
        net = load_model(name, spec, weights_dir=weights.get(name), device=device)
        x0, exact, source = _data(net, spec, num=int(fisher["samples"]), seed=seed, data_sampler=data_sampler,
                                  batch_size=batch_size, progress=progress)
        curve, entry = theorem1_curve(net, x0=x0, exact=exact, points=int(fisher["points"]), seed=seed, batch_size=batch_size)
        record["models"][name] = {"data": source, **entry}
        curve.insert(0, "model", name)
        frames.append(curve)
    frame = pd.concat(frames, ignore_index=True)
    with atomic_path(out_csv) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    record["time_map"] = "abar_t = exp(-2 tau): tau = -log(abar_t) / 2"
    write_json(out_json, record)
    return record


def run_fisher_figure(*, csv: str | Path, out_figure: str | Path) -> None:
    """Theorem 1's figure from :func:`run_fisher`'s table."""
    from ..plotting.symmetry import plot_fisher

    plot_fisher(pd.read_csv(csv), path=out_figure)


# ------------------------------------------------------------------------------------ partial negation
def run_partial_map(
    *,
    partial_path: str | Path,
    antithetic_path: str | Path,
    out_npz: str | Path,
    out_summary: str | Path,
) -> dict[str, Any]:
    """Per-pixel PN correlation across pairs: full negation vs negating only a region of ``z`` (the maps and
    the region's mask in ``out_npz``, the summary in ``out_summary``; :func:`run_partial_map_figure` draws them)."""
    from ...correlation import pn_pairs
    from ...regions import region_mask
    from ...trajectories import pixel_correlation_map

    partial = load_samples(partial_path)
    full = load_samples(antithetic_path)
    if partial.design.get("name") != "partial":
        raise ValueError(f"symmetry.partial.design must name a design of kind 'partial', got {partial.design}")
    maps = {"full": pixel_correlation_map(pn_pairs(full)), "partial": pixel_correlation_map(pn_pairs(partial))}
    mask = region_mask(partial.design["region"], maps["partial"].shape)
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
    return summary


def run_partial_map_figure(*, npz: str | Path, summary: str | Path, title: str, out_figure: str | Path) -> None:
    """The partial-negation figure from :func:`run_partial_map`'s maps and summary."""
    from ..plotting.symmetry import plot_partial

    with np.load(npz) as data:
        maps = {"full": data["full"], "partial": data["partial"]}
        mask = data["mask"]
    plot_partial(maps, mask, json.loads(Path(summary).read_text()), title=title, path=out_figure)
