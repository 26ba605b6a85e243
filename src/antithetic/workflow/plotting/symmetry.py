"""Figures of the score-symmetry stage (paper, Figures 3 and 4, Table 10, Theorem 1, partial negation)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...symmetry.scores import as_score
from . import PALETTE, plt, save_figure

__all__ = ["plot_as_vs_noise", "plot_fisher", "plot_partial", "plot_slices", "plot_trajectories"]


def plot_slices(grid: np.ndarray, examples: dict[int, np.ndarray], sigmas: dict[int, float], *, title: str, path) -> None:
    ts = list(examples)
    shown = [ts[i] for i in np.unique(np.round(np.linspace(0, len(ts) - 1, min(4, len(ts)))).astype(int))]
    fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 3.0))
    axes = np.atleast_1d(axes)
    for ax, t in zip(axes, shown):
        sigma = sigmas[t]
        for f in examples[t]:
            ax.plot(grid, f, lw=1.2, label=f"AS {float(as_score(f, grid)):.3f}")
        ax.set_title(f"t = {t}, sigma_t = {sigma:.3f}")
        ax.set_xlabel("c")
        ax.legend(frameon=False, fontsize=7)
    axes[0].set_ylabel("[eps_t(c x)]_j")
    fig.suptitle(f"{title}: 1-D slices of the noise predictor", y=1.03)
    save_figure(fig, path)


def plot_as_vs_noise(frame: pd.DataFrame, breaks: dict, *, as_threshold: float, corr_threshold: float, path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for i, (model, group) in enumerate(frame.groupby("model", sort=False)):
        g = group.sort_values("sigma")
        color = f"C{i}"
        axes[0].plot(g["sigma"], g["as_mean"], "-o", ms=3, color=color, label=f"{model} mean")
        axes[0].plot(g["sigma"], g["as_q10"], "--", color=color, label=f"{model} 10% q.")
        if "as_q10_lo" in g and g["as_q10_lo"].notna().any():
            axes[0].fill_between(g["sigma"], g["as_q10_lo"], g["as_q10_hi"], color=color, alpha=0.15, lw=0)
        axes[1].plot(g["sigma"], g["corr_mean"], "-o", ms=3, color=color, label=model)
        axes[2].plot(g["sigma"], g["residual_median"], "-o", ms=3, color=color, label=model)
        b = breaks[model]["as_q10"]["break_sigma"]
        if b is not None:
            axes[0].axvline(b, color=color, lw=0.8, ls=":")
    axes[0].axhline(float(as_threshold), color="grey", lw=0.8)
    axes[1].axhline(float(corr_threshold), color="grey", lw=0.8)
    axes[0].set_ylabel("AS score of slices")
    axes[1].set_ylabel("corr(eps_t(X), eps_t(-X)), X in {x_t, -x_t}")
    axes[2].set_ylabel("||eps(x)+eps(-x)-2c|| / ||eps(x)-eps(-x)||")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("noise level sigma_t = sqrt(1 - abar_t)")
    axes[0].legend(frameon=False, fontsize=7)
    axes[1].legend(frameon=False, fontsize=7)
    fig.suptitle("Affine antisymmetry of eps_t vs noise level (band: CI of the 10% quantile; dotted: AS break level)", y=1.02)
    save_figure(fig, path)


def plot_trajectories(frame: pd.DataFrame, *, title: str, path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
    for ax, (quantity, label) in zip(axes, (("x", "x_t"), ("eps", "eps_t(x_t)"))):
        for kind in ("PN", "RR"):
            for variant, ls in (("standard", "-"), ("centered", "--")):
                g = frame[(frame["quantity"] == quantity) & (frame["kind"] == kind) & (frame["variant"] == variant)]
                ax.plot(g["step"], g["mean"], ls, color=PALETTE[kind], label=f"{kind} {variant}")
                if variant == "standard":
                    ax.fill_between(g["step"], g["mean"] - g["sd"], g["mean"] + g["sd"], color=PALETTE[kind], alpha=0.15, lw=0)
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_title(f"correlation of {label} between the two trajectories")
        ax.set_xlabel("sampler step (0 = x_T; last x-point = output x_0)")
    axes[0].set_ylabel("pixel-wise Pearson correlation")
    axes[0].set_ylim(-1.05, 1.05)
    axes[0].legend(frameon=False, fontsize=8)
    fig.suptitle(title)
    save_figure(fig, path)


def plot_fisher(frame: pd.DataFrame, *, path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for i, (model, g) in enumerate(frame.groupby("model", sort=False)):
        g = g[g["fisher"] > 0]
        color = f"C{i}"
        ax.plot(g["tau"], g["fisher"], "-o", ms=3, color=color, label=f"{model} ({g['score'].iloc[0]} score)")
        which = "Theorem 1 bound" if g["score"].iloc[0] == "exact" else "bound anchored at smallest tau"
        ax.plot(g["tau"], g["bound"], ":", color=color, lw=1.5, label=f"{model}: {which}")
        if "closed_form" in g and g["closed_form"].notna().any():
            ax.plot(g["tau"], g["closed_form"], "x", color=color, ms=5, label=f"{model}: closed form")
    ax.set_yscale("log")
    ax.set_xlabel("OU time tau = -log(abar_t) / 2")
    ax.set_ylabel("I(mu_tau | gamma) = E||s(X) + X||^2")
    ax.set_ylim(bottom=max(1e-6, float(frame.loc[frame["fisher"] > 0, "fisher"].min()) / 3))
    ax.legend(frameon=False, fontsize=7)
    ax.set_title("Theorem 1: relative Fisher information vs e^{-2 tau} bound")
    save_figure(fig, path)


def plot_partial(maps: dict, mask: np.ndarray, summary: dict, *, title: str, path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.6))
    cmap = plt.get_cmap("RdBu_r").copy()
    cmap.set_bad("lightgrey")
    labels = {
        "full": f"(z, -z): mean {summary['full_mean']:.2f}",
        "partial": f"{summary['region']} negated: {summary['partial_negated_mean']:.2f} / kept {summary['partial_kept_mean']:.2f}",
    }
    for ax, key in zip(axes, ("full", "partial")):
        img = ax.imshow(np.ma.masked_invalid(maps[key][0]), cmap=cmap, vmin=-1, vmax=1)
        if key == "partial":
            ax.contour(mask[0].astype(float), levels=[0.5], colors="k", linewidths=1.0)
        ax.set_title(labels[key], fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(img, ax=axes, shrink=0.8, label="per-pixel correlation across pairs")
    fig.suptitle(f"{title}: per-pixel PN correlation (grey: constant pixel)")
    save_figure(fig, path)
