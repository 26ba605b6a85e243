"""Figures of every stage: one theme, the ``agg`` backend, atomic writes.

One module per stage: :mod:`.correlation` (Table 1 histograms, Figure 1 grids), :mod:`.uq` (Table 2),
:mod:`.symmetry` (Figures 3 and 4, Table 10, Theorem 1, partial negation), :mod:`.sweeps` (DDIM eta
and guidance scale). Plot functions take tables or arrays and a path; they never compute a statistic.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ...artifacts import atomic_path  # noqa: E402

__all__ = ["PALETTE", "plt", "save_figure", "to_display"]

# seaborn's "whitegrid" theme in its "paper" context, from the style sheets matplotlib ships: importing
# seaborn itself costs a plot job seconds of start-up for nothing else
plt.style.use(["seaborn-v0_8-whitegrid", "seaborn-v0_8-paper"])
plt.rcParams.update({"font.size": 10.5, "axes.titlesize": 11, "axes.labelsize": 10.5, "legend.fontsize": 9.5})

PALETTE = {"PN": "#c0392b", "RR": "#2c3e50"}


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 150) -> None:
    """Save and close ``fig`` atomically (format from the suffix)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=Path(path).suffix.lstrip("."))
    plt.close(fig)


def to_display(x: np.ndarray) -> np.ndarray:
    """Data space [-1, 1] ``(C, H, W)`` -> displayable ``(H, W[, C])`` in [0, 1]."""
    img = np.clip((x + 1) / 2, 0, 1)
    return img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0))
