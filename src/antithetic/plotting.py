"""Figures: one theme, the ``agg`` backend, atomic writes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .io import atomic_path  # noqa: E402

__all__ = ["save_figure", "plot_correlation_histogram", "plot_pair_grid", "to_display"]

sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)

PALETTE = {"PN": "#c0392b", "RR": "#2c3e50"}


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 150) -> None:
    """Save and close ``fig`` atomically (format from the suffix)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=Path(path).suffix.lstrip("."))
    plt.close(fig)


def to_display(x: np.ndarray) -> np.ndarray:
    """Data space [-1, 1] ``(C, H, W)`` -> displayable ``(H, W[, C])`` in [0, 1]."""
    img = np.clip((x + 1) / 2, 0, 1)
    return img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0))


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
