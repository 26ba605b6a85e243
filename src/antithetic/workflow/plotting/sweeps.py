"""Figures of the sweeps: PN and RR correlation against DDIM eta and against the guidance scale."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import PALETTE, plt, save_figure

__all__ = ["plot_eta_sweep", "plot_guidance_sweep"]


def plot_eta_sweep(frame: pd.DataFrame, *, path: str | Path) -> None:
    """Grid: one column per model, rows standard / centered; PN and RR mean with SD error bars vs eta."""
    models = list(dict.fromkeys(frame["model"]))
    fig, axes = plt.subplots(2, len(models), figsize=(3.2 * len(models), 5.4), sharex=True, sharey=True, squeeze=False)
    for col, model in enumerate(models):
        sub = frame[frame["model"] == model]
        for row, variant in enumerate(("standard", "centered")):
            ax = axes[row, col]
            for kind, offset in (("RR", 0.01), ("PN", -0.01)):
                key = f"{kind.lower()}_{variant}"
                ax.errorbar(sub["eta"] + offset, sub[f"{key}_mean"], yerr=sub[f"{key}_sd"], color=PALETTE[kind],
                            marker="o", capsize=3, label=kind)
            ax.axhline(0, color="0.6", lw=0.8)
            ax.set_ylim(-1.05, 1.05)
            if row == 0:
                ax.set_title(model)
            if row == 1:
                ax.set_xlabel("DDIM eta")
            if col == 0:
                ax.set_ylabel(f"pair correlation ({variant})")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, frameon=False, loc="upper right", ncol=2, bbox_to_anchor=(1.0, 1.04))
    fig.suptitle("PN and RR pair correlation vs DDIM eta, mean (SD error bars) over pairs", x=0.45, y=1.02)
    save_figure(fig, path)


def plot_guidance_sweep(table: pd.DataFrame, *, title: str, path: str | Path) -> None:
    """PN and RR correlation (mean +- SD over pairs) against the guidance scale, standard and centered; where the
    table has the digits classifier's accuracy on the guided samples, a third panel with it (exact binomial CI)."""
    with_accuracy = "accuracy" in table
    fig, axes = plt.subplots(1, 3 if with_accuracy else 2, figsize=(12 if with_accuracy else 8, 3.2))
    axes[1].sharey(axes[0])
    if with_accuracy:
        ax = axes[2]
        error = [table["accuracy"] - table["accuracy_low"], table["accuracy_high"] - table["accuracy"]]
        ax.errorbar(table["guidance_scale"], table["accuracy"], yerr=error, marker="o", capsize=3, color="0.2")
        ax.set(xlabel="guidance scale w", ylabel="share of the requested class", ylim=(0, 1.02),
               title=f"digits classifier, n = {int(table['accuracy_samples'].iloc[0])} (95% CI)")
    for ax, variant in zip(axes, ("standard", "centered")):
        for kind, color in (("pn", "C3"), ("rr", "C0")):
            ax.errorbar(
                table["guidance_scale"], table[f"{kind}_{variant}_mean"], yerr=table[f"{kind}_{variant}_sd"],
                marker="o", capsize=3, color=color, label=kind.upper(),
            )
        ax.axhline(0.0, color="0.5", lw=0.8)
        ax.set(xlabel="guidance scale w", title=variant)
    axes[0].set_ylabel("pixel-wise correlation")
    axes[0].legend()
    fig.suptitle(title, y=1.04)
    save_figure(fig, path)
