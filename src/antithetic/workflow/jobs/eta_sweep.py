"""Job of the DDIM eta sweep: PN and RR correlation against the sampler's stochasticity eta.

DDIM (Song et al. 2021, Eq. 12) with ``eta > 0`` injects fresh noise at every step; the antithetic
twin negates its initial noise *and* every injected noise (paper, "Definitions"), so the PN pair is
``(DM(z, w_1, ..., w_T), DM(-z, -w_1, ..., -w_T))``. ``eta = 0`` is the deterministic DDIM map and
``eta = 1`` has the DDPM posterior variance. The sweep reads the per-(model, sampler) correlation
summaries of the correlation stage (the same files Table 1 is built from) into one CSV; the figure job
plots mean (SD) over pairs against eta, per model, from that CSV.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ...artifacts import atomic_path

__all__ = ["eta_sweep_frame", "run_eta_sweep", "run_eta_sweep_figure"]

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


def run_eta_sweep(*, summaries: list[str | Path], out_csv: str | Path) -> pd.DataFrame:
    """Collect the sweep's correlation summaries into a CSV."""
    frame = eta_sweep_frame([json.loads(Path(p).read_text()) for p in summaries])
    with atomic_path(out_csv) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    return frame


def run_eta_sweep_figure(*, csv: str | Path, out_figure: str | Path) -> None:
    """The eta-sweep figure from :func:`run_eta_sweep`'s CSV."""
    from ..plotting.sweeps import plot_eta_sweep

    plot_eta_sweep(pd.read_csv(csv), path=out_figure)
