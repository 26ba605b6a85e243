"""Figures of the antithetic-FlowEdit stage: win rates against n_max, and sources with their edits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import PALETTE, plt, save_figure, to_display
from .editing import draw_win_rates

__all__ = ["plot_edit_grid", "plot_win_rates"]

_STYLE = {
    "target_probability": ("#c0392b", "-"),
    "faithfulness_feature": ("#2980b9", "--"),
}
#: sources shown in the grid (the first of the held-out digits)
GRID_SOURCES = 6


def plot_win_rates(frame: pd.DataFrame, *, path: str | Path) -> None:
    """Win rate (with exact binomial CI) of the antithetic over the independent edit per measure against n_max."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    draw_win_rates(ax, frame, x="n_max", styles=_STYLE)
    ax.set_xticks(sorted(frame["n_max"].unique()))
    ax.set_xlabel(f"n_max (edit steps of {int(frame['num_steps'].iloc[0])})")
    ax.set_ylabel("antithetic win rate over iid")
    ax.legend(frameon=False, fontsize=7, loc="lower left")
    save_figure(fig, path)


def plot_edit_grid(edits: dict[str, np.ndarray], *, path: str | Path, count: int = GRID_SOURCES) -> None:
    """Rows: the first ``count`` sources; columns: the source, then per n_max its independent and its antithetic edit.

    ``edits`` holds the stage's npz arrays: ``sources (N, C, H, W)``, ``source_labels``, ``target_labels``, ``n_max``,
    ``iid`` and ``antithetic`` ``(len(n_max), N, C, H, W)``.
    """
    n_max = [int(n) for n in edits["n_max"]]
    count = min(count, len(edits["sources"]))
    columns = [("source", None, None)] + [(f"{kind}\nn_max {n}", kind, i) for i, n in enumerate(n_max) for kind in ("iid", "antithetic")]
    fig, axes = plt.subplots(count, len(columns), figsize=(0.9 * len(columns), 0.95 * count), squeeze=False)
    for row in range(count):
        for col, (title, kind, i) in enumerate(columns):
            ax = axes[row, col]
            image = edits["sources"][row] if kind is None else edits[kind][i, row]
            ax.imshow(to_display(image), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if kind is not None:
                for spine in ax.spines.values():
                    spine.set_edgecolor(PALETTE["PN"] if kind == "antithetic" else PALETTE["RR"])
            if row == 0:
                ax.set_title(title, fontsize=7)
            if col == 0:
                ax.set_ylabel(f"{int(edits['source_labels'][row])} -> {int(edits['target_labels'][row])}", fontsize=7)
    save_figure(fig, path)
