"""The ledger's forest plot: each claim's measured values with their CIs next to the paper's value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import plt, save_figure

__all__ = ["VERDICT_COLORS", "plot_forest"]

VERDICT_COLORS = {
    "reproduced": "#1e8449",
    "reproduced, weaker than the paper": "#d68910",
    "not reproduced": "#c0392b",
}


def _paper_bounds(text: str) -> list[float]:
    """The numbers at the start of the ledger's paper column ("26 to 131 (...)" or "0.99 (...)")."""
    head = text.split("(", 1)[0].replace(" to ", " ")
    out = []
    for token in head.split():
        try:
            out.append(float(token))
        except ValueError:
            pass
    return out


def plot_forest(rows: pd.DataFrame, *, path: str | Path) -> None:
    """One panel per measured claim (own x scale): value and CI per row, coloured by verdict;
    the decision threshold dashed, the paper's value or range shaded."""
    measured = rows[rows["value"].notna()]
    claims = list(dict.fromkeys(measured["id"]))
    heights = [max(1, int((measured["id"] == c).sum())) for c in claims]
    fig, axes = plt.subplots(len(claims), 1, figsize=(8.5, 0.32 * sum(heights) + 0.75 * len(claims)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, claim in zip(axes[:, 0], claims):
        sub = measured[measured["id"] == claim].reset_index(drop=True)
        y = np.arange(len(sub))[::-1]
        for yi, row in zip(y, sub.itertuples()):
            color = VERDICT_COLORS.get(row.verdict, "0.4")
            if np.isfinite(row.ci_low) and np.isfinite(row.ci_high):
                ax.hlines(yi, row.ci_low, row.ci_high, color=color, lw=2)
            ax.plot(row.value, yi, "o", color=color, ms=4)
        bounds = _paper_bounds(str(sub["paper"].iloc[0]))
        if len(bounds) >= 2:
            ax.axvspan(min(bounds[:2]), max(bounds[:2]), color="0.85", zorder=0, label="paper")
        elif len(bounds) == 1:
            ax.axvline(bounds[0], color="0.5", lw=3, alpha=0.5, zorder=0, label="paper")
        test = str(sub["test"].iloc[0])
        numbers = [float(t) for t in test.replace("<=", " ").replace(">=", " ").replace("<", " ").replace(">", " ").split() if _is_number(t)]
        if numbers:
            ax.axvline(numbers[-1], color="k", ls="--", lw=0.8)
        ax.set_yticks(y)
        ax.set_yticklabels([f"{m} {s}".strip() or "-" for m, s in zip(sub["model"], sub["sampler"])], fontsize=7)
        ax.set_title(f"{claim}: {sub['claim'].iloc[0]}  [{test}]", fontsize=8, loc="left")
        ax.tick_params(axis="x", labelsize=7)
        ax.set_ylim(-0.7, len(sub) - 0.3)
    handles = [plt.Line2D([], [], marker="o", color=c, lw=2, label=v) for v, c in VERDICT_COLORS.items()]
    fig.legend(handles=handles, loc="upper center", ncol=3, frameon=False, fontsize=8, bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    save_figure(fig, path)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True
