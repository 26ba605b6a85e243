"""Figure of the inverse-problem stage (paper, Table 3): efficiency of AMC over MC per task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import plt, save_figure

__all__ = ["plot_inverse"]

_COLORS = {"l1": "#c0392b", "psnr": "#2980b9"}
_LABELS = {"l1": "E[L1 error]", "psnr": "E[PSNR]"}


def plot_inverse(frame: pd.DataFrame, *, path: str | Path) -> None:
    """Pooled efficiency (MC variance / AMC variance at equal N) per task and statistic, with bootstrap CIs."""
    tasks = list(dict.fromkeys(frame["task"]))
    stats = list(dict.fromkeys(frame["statistic"]))
    fig, ax = plt.subplots(figsize=(2.4 + 1.4 * len(tasks), 3.4))
    width = 0.8 / len(stats)
    for j, stat in enumerate(stats):
        rows = [frame[(frame["task"] == t) & (frame["statistic"] == stat)].iloc[0] for t in tasks]
        x = np.arange(len(tasks)) + (j - (len(stats) - 1) / 2) * width
        y = np.array([r["efficiency"] for r in rows])
        err = np.array([[r["efficiency"] - r["efficiency_ci_low"] for r in rows], [r["efficiency_ci_high"] - r["efficiency"] for r in rows]])
        ax.bar(x, y, width=width, color=_COLORS.get(stat, "0.5"), alpha=0.8, label=_LABELS.get(stat, stat))
        ax.errorbar(x, y, yerr=np.clip(err, 0, None), fmt="none", ecolor="k", capsize=3)
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xticks(np.arange(len(tasks)), [t.replace("_", " ") for t in tasks])
    ax.set_ylabel("efficiency of AMC over MC\n(variance ratio, equal N)")
    ax.legend(frameon=False)
    ax.set_title(f"DPS on {frame['model'].iloc[0]}")
    save_figure(fig, path)
