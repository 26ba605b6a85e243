"""Figures of the uncertainty-quantification stage: CI length vs N, coverage, CI-width maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import plt, save_figure

__all__ = ["plot_ci_vs_n", "plot_ci_width_maps", "plot_coverage"]


def plot_ci_vs_n(curves: pd.DataFrame, *, path: str | Path) -> None:
    """Log-log CI length vs number of samples, one panel per (model, statistic), one line per method.

    A dotted N^(-1/2) guide through the last MC point (the largest N, whose standard deviation is the best
    estimated; a few samples of a bounded statistic can all agree) shows the Monte Carlo rate.
    """
    panels = list(curves.groupby(["model", "statistic"], sort=False))
    cols = min(3, len(panels))
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, ((model, stat), frame) in zip(axes.flat, panels):
        for method, sub in frame.groupby("method", sort=False):
            sub = sub.sort_values("num_samples")
            ax.plot(sub["num_samples"], sub["ci_length"], marker="o", ms=3, label=method)
        mc = frame[frame["estimator"] == "mc"].sort_values("num_samples")
        if len(mc):
            n0, c0 = mc["num_samples"].iloc[-1], mc["ci_length"].iloc[-1]
            n = np.array([frame["num_samples"].min(), frame["num_samples"].max()], dtype=float)
            ax.plot(n, c0 * np.sqrt(n0 / n), ls=":", color="grey", label="N^(-1/2)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{model}: {stat}")
        ax.set_xlabel("samples N")
        ax.set_ylabel("CI length")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    axes.flat[0].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def plot_coverage(cov: pd.DataFrame, *, path: str | Path) -> None:
    """Empirical coverage per method with its exact binomial 95% interval, against the target level."""
    if cov.empty:
        fig, ax = plt.subplots(figsize=(4, 2))
        ax.text(0.5, 0.5, "no coverage runs configured", ha="center", va="center")
        ax.set_axis_off()
        save_figure(fig, path)
        return
    scalar = cov[cov["components"] == 1]
    panels = list(scalar.groupby(["model", "statistic"], sort=False))
    cols = min(3, len(panels))
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.4 * rows), squeeze=False)
    for ax, ((model, stat), frame) in zip(axes.flat, panels):
        x = np.arange(len(frame))
        err = np.vstack([frame["coverage"] - frame["coverage_low"], frame["coverage_high"] - frame["coverage"]])
        ax.errorbar(x, frame["coverage"], yerr=err, fmt="o", color="#2c3e50", capsize=3)
        ax.scatter(x, frame["target"], marker="_", s=300, color="#c0392b", label="target", zorder=3)
        ax.set_xticks(x)
        ax.set_xticklabels(frame["method"], rotation=45, ha="right", fontsize=8)
        ax.set_ylim(min(0.8, float(frame["coverage_low"].min()) - 0.02), 1.0)
        reps = int(frame["repetitions"].iloc[0])
        ax.set_title(f"{model}: {stat} ({reps} reps, N={int(frame['num_samples'].iloc[0])})", fontsize=9)
        ax.set_ylabel("coverage")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    axes.flat[0].legend(frameon=False, fontsize=8, loc="lower left")
    fig.tight_layout()
    save_figure(fig, path)


def plot_ci_width_maps(maps: dict[str, dict[str, np.ndarray]], *, statistic: str, methods: tuple[str, str], path: str | Path) -> None:
    """Per model: mean image, CI-length maps of two methods (shared colour scale) and their efficiency map."""
    first, second = methods
    rows = len(maps)
    fig, axes = plt.subplots(rows, 4, figsize=(11, 2.6 * rows), squeeze=False)
    for row, (model, data) in enumerate(maps.items()):
        key = f"{statistic}__{{}}__{{}}"
        needed = [key.format(first, "estimate"), key.format(first, "ci_length"), key.format(second, "ci_length")]
        if any(k not in data for k in needed):
            raise ValueError(f"per-pixel maps of {model!r} lack {needed}; check uq.maps (statistic and methods)")
        mean = data[needed[0]]
        ci_a, ci_b = data[needed[1]], data[needed[2]]
        img = lambda a: a[0] if a.shape[0] == 1 else np.transpose(a, (1, 2, 0)).mean(-1)  # noqa: E731
        vmax = float(max(ci_a.max(), ci_b.max()))
        panels = [
            (img(mean), f"{model}: mean image", "gray", 0, 255),
            (img(ci_a), f"CI length, {first} (mean {ci_a.mean():.2f})", "magma", 0, vmax),
            (img(ci_b), f"CI length, {second} (mean {ci_b.mean():.2f})", "magma", 0, vmax),
        ]
        with np.errstate(divide="ignore", invalid="ignore"):
            eff = np.where(ci_b > 0, (ci_a / ci_b) ** 2, np.nan)
        for ax, (a, title, cmap, lo, hi) in zip(axes[row], panels):
            im = ax.imshow(a, cmap=cmap, vmin=lo, vmax=hi)
            ax.set_title(title, fontsize=8)
            fig.colorbar(im, ax=ax, fraction=0.046)
        im = axes[row, 3].imshow(np.log10(img(eff)), cmap="viridis")
        axes[row, 3].set_title(f"log10 (CI_{first}/CI_{second})^2", fontsize=8)
        fig.colorbar(im, ax=axes[row, 3], fraction=0.046)
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    save_figure(fig, path)
