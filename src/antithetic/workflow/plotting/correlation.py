"""Figures of the correlation stage (paper, Table 1 and Figure 1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import PALETTE, plt, save_figure, to_display

__all__ = ["plot_correlation_histogram", "plot_pair_grid"]


def plot_correlation_histogram(frame: pd.DataFrame, *, title: str, path: str | Path) -> None:
    """Histograms of per-pair correlations, PN vs RR, standard and centered."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    bins = np.linspace(-1, 1, 41)
    for ax, variant in zip(axes, ("standard", "centered")):
        for kind in ("RR", "PN"):
            values = frame.loc[frame["kind"] == kind, variant].dropna()
            ax.hist(values, bins=bins, alpha=0.6, color=PALETTE[kind], label=f"{kind} (mean {values.mean():.2f})")
        ax.set_xlabel(f"pixel-wise Pearson correlation ({variant})")
        ax.legend(frameon=False, loc="upper left")
    axes[0].set_ylabel("pairs")
    fig.suptitle(title)
    save_figure(fig, path)


def plot_pair_grid(pn: np.ndarray, rr: np.ndarray, *, title: str, path: str | Path, num_pairs: int = 8) -> None:
    """Figure 1 style: PN pairs (top: z, below: -z) next to RR pairs (two independent noises).

    Args:
        pn, rr: pairs of shape ``(P, 2, C, H, W)``.
    """
    n = min(num_pairs, len(pn), len(rr))
    fig, axes = plt.subplots(2, 2 * n + 1, figsize=(1.1 * (2 * n + 1), 2.6))
    for row in range(2):
        for i in range(n):
            axes[row, i].imshow(to_display(pn[i, row]), cmap="gray", vmin=0, vmax=1)
            axes[row, n + 1 + i].imshow(to_display(rr[i, row]), cmap="gray", vmin=0, vmax=1)
        axes[row, n].set_visible(False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("z")
    axes[1, 0].set_ylabel("-z")
    axes[0, n + 1].set_ylabel("z1")
    axes[1, n + 1].set_ylabel("z2")
    axes[0, n // 2].set_title("PN pairs (z, -z)")
    axes[0, n + 1 + n // 2].set_title("RR pairs (independent)")
    fig.suptitle(title, y=1.04)
    save_figure(fig, path)
