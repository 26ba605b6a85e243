"""Figure of the sample-quality stage: Fréchet distance of z, -z and iid samples with their CIs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import PALETTE, plt, save_figure

__all__ = ["plot_quality"]

_COLORS = {"z": PALETTE["PN"], "-z": "#e67e22", "iid": PALETTE["RR"]}


def plot_quality(frame: pd.DataFrame, *, path: str | Path) -> None:
    """Fréchet distance in classifier-feature space per (model, sampler) and set, with bootstrap CIs."""
    runs = list(dict.fromkeys(zip(frame["model"], frame["sampler"])))
    sets = list(dict.fromkeys(frame["set"]))
    fig, ax = plt.subplots(figsize=(2.2 + 1.6 * len(runs), 3.4))
    width = 0.8 / len(sets)
    for j, name in enumerate(sets):
        rows = [frame[(frame["model"] == m) & (frame["sampler"] == s) & (frame["set"] == name)].iloc[0] for m, s in runs]
        x = np.arange(len(runs)) + (j - (len(sets) - 1) / 2) * width
        y = np.array([r["frechet"] for r in rows])
        err = np.array([[r["frechet"] - r["ci_low"] for r in rows], [r["ci_high"] - r["frechet"] for r in rows]])
        ax.errorbar(x, y, yerr=np.clip(err, 0, None), fmt="o", capsize=3, color=_COLORS.get(name, "0.5"), label=name)
    ax.set_xticks(np.arange(len(runs)), [f"{m}\n{s}" for m, s in runs])
    ax.set_ylabel("Fréchet distance\n(classifier features)")
    ax.legend(frameon=False, title="samples")
    ax.set_title("Sample quality against held-out real digits")
    save_figure(fig, path)
