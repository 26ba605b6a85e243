"""Figure of the antithetic-editing stage: win rates of PN over RR edit pairs against t0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import plt, save_figure

__all__ = ["draw_win_rates", "plot_win_rates"]

_STYLE = {
    "diversity_ssim": ("#c0392b", "-"),
    "diversity_feature": ("#e67e22", "-"),
    "faithfulness_l2": ("#2c3e50", "--"),
    "faithfulness_feature": ("#2980b9", "--"),
}


def draw_win_rates(ax, frame: pd.DataFrame, *, x: str, styles: dict[str, tuple[str, str]]) -> None:
    """One line per measure of an editing table: its win rates with their exact binomial CIs against column ``x``
    (the SDEdit stage's t0, the FlowEdit stage's n_max), the no-difference level 0.5 marked."""
    for measure, rows in frame.groupby("measure", sort=False):
        color, ls = styles.get(measure, ("0.5", "-"))
        y = rows["win_rate"].to_numpy()
        err = np.array([y - rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy() - y])
        ax.errorbar(rows[x].to_numpy(), y, yerr=np.clip(err, 0, None), color=color, ls=ls, marker="o", capsize=3,
                    label=rows["label"].iloc[0])
    ax.axhline(0.5, color="k", lw=0.8)
    ax.set_ylim(0, 1)


def plot_win_rates(frame: pd.DataFrame, *, path: str | Path) -> None:
    """Win rate (with exact binomial CI) of PN over RR edit pairs per measure against the noise level t0."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    draw_win_rates(ax, frame, x="t0", styles=_STYLE)
    ax.set_xlabel("edit noise level t0")
    ax.set_ylabel("PN win rate over RR")
    ax.legend(frameon=False, fontsize=7, loc="lower left")
    save_figure(fig, path)
