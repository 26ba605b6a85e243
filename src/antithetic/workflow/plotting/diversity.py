"""Figure of the diversity stage (paper, Table 4): improvement of PN over RR pairs per measure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import plt, save_figure

__all__ = ["plot_diversity"]

_COLORS = ["#c0392b", "#2980b9", "#27ae60"]


def plot_diversity(frame: pd.DataFrame, *, path: str | Path) -> None:
    """Average percentage improvement (PN over RR; > 0 = PN pairs more diverse) with bootstrap CIs."""
    runs = list(dict.fromkeys(zip(frame["model"], frame["sampler"])))
    measures = list(dict.fromkeys(frame["label"]))
    fig, ax = plt.subplots(figsize=(2.4 + 1.5 * len(runs), 3.4))
    width = 0.8 / len(measures)
    for j, label in enumerate(measures):
        sub = [frame[(frame["model"] == m) & (frame["sampler"] == s) & (frame["label"] == label)] for m, s in runs]
        keep = [i for i, rows in enumerate(sub) if len(rows)]
        rows = [sub[i].iloc[0] for i in keep]
        x = np.array(keep) + (j - (len(measures) - 1) / 2) * width
        y = np.array([r["improvement_pct"] for r in rows])
        err = np.array([[r["improvement_pct"] - r["ci_low"] for r in rows], [r["ci_high"] - r["improvement_pct"] for r in rows]])
        ax.bar(x, y, width=width, color=_COLORS[j % len(_COLORS)], alpha=0.8, label=label)
        ax.errorbar(x, y, yerr=np.clip(err, 0, None), fmt="none", ecolor="k", capsize=3)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(runs)), [f"{m}\n{s}" for m, s in runs])
    ax.set_ylabel("diversity improvement of\nPN over RR pairs (%)")
    ax.legend(frameon=False, fontsize=8)
    save_figure(fig, path)
