"""Job of the DDIM eta sweep: PN and RR correlation against the sampler's stochasticity eta.

DDIM (Song et al. 2021, Eq. 12) with ``eta > 0`` injects fresh noise at every step; the antithetic
twin negates its initial noise *and* every injected noise (paper, "Definitions"), so the PN pair is
``(DM(z, w_1, ..., w_T), DM(-z, -w_1, ..., -w_T))``. ``eta = 0`` is the deterministic DDIM map and
``eta = 1`` has the DDPM posterior variance. The sweep reads the per-(model, sampler) correlation
summaries of the correlation stage (the same files Table 1 is built from) and plots mean (SD) over
pairs against eta, per model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..io import atomic_path

__all__ = ["eta_sweep_frame", "plot_eta_sweep", "run_eta_sweep"]

_COLUMNS = [f"{kind}_{variant}_{stat}" for kind in ("pn", "rr") for variant in ("standard", "centered") for stat in ("mean", "sd")]


def eta_sweep_frame(rows: list[dict]) -> pd.DataFrame:
    """One row per (model, eta) from correlation summaries of ddim samplers, sorted by model and eta."""
    records = []
    for row in rows:
        if row.get("kind") != "ddim":
            raise ValueError(f"the eta sweep takes ddim samplers only; summary of {row.get('sampler')!r} has kind {row.get('kind')!r}")
        records.append({"model": row["model"], "sampler": row["sampler"], "eta": float(row.get("eta", 0.0)),
                        "num_steps": row.get("num_steps"), "pairs": row.get("pn_pairs"), **{c: row[c] for c in _COLUMNS}})
    frame = pd.DataFrame.from_records(records)
    duplicated = frame.duplicated(["model", "eta"])
    if duplicated.any():
        raise ValueError(f"two samplers with the same eta for one model: {frame.loc[duplicated, ['model', 'sampler', 'eta']].to_dict('records')}")
    order = {m: i for i, m in enumerate(dict.fromkeys(frame["model"]))}
    return frame.sort_values(["model", "eta"], key=lambda s: s.map(order) if s.name == "model" else s).reset_index(drop=True)


def plot_eta_sweep(frame: pd.DataFrame, *, path: str | Path) -> None:
    """Grid: one column per model, rows standard / centered; PN and RR mean with SD error bars vs eta."""
    from ..plotting import PALETTE, plt, save_figure

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


def run_eta_sweep(*, summaries: list[str | Path], out_csv: str | Path, out_figure: str | Path) -> pd.DataFrame:
    """Collect the sweep's correlation summaries into a CSV and the eta-sweep figure."""
    frame = eta_sweep_frame([json.loads(Path(p).read_text()) for p in summaries])
    with atomic_path(out_csv) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    plot_eta_sweep(frame, path=out_figure)
    return frame
