"""Jobs of the correlation stage: pair correlations (Table 1) and the pair figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...artifacts import atomic_path, load_samples, write_json
from ...correlation import correlation_frame, pn_pairs, rr_pairs, summarize

__all__ = ["run_correlation", "run_pair_figures", "run_table1"]


def run_correlation(
    *, pn_path: str | Path, rr_path: str | Path, out_pairs: str | Path, out_summary: str | Path, labels: dict[str, Any]
) -> dict[str, Any]:
    """Per-pair PN and RR correlations (CSV) and their mean (SD) summary (JSON, one Table 1 row)."""
    frame = correlation_frame(load_samples(pn_path), load_samples(rr_path))
    with atomic_path(out_pairs) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    row = {**labels, **summarize(frame)}
    write_json(out_summary, row)
    return row


def run_table1(*, summaries: list[str | Path], out_csv, out_markdown, out_latex) -> None:
    """Assemble Table 1 from the per-(model, sampler) summaries."""
    from ..tables import table1, write_table

    rows = [json.loads(Path(p).read_text()) for p in summaries]
    numeric, formatted = table1(rows)
    write_table(
        numeric, formatted, csv=out_csv, markdown=out_markdown, latex=out_latex,
        caption="Table 1: pixel-wise Pearson correlation of PN and RR pairs, mean (SD) over pairs.",
        label="tab:correlation",
    )


def run_pair_figures(
    *, pn_path, rr_path, pairs_csv, out_histogram, out_grid, title: str, grid_pairs: int = 8
) -> None:
    """Histogram of per-pair correlations and the Figure-1-style grid of PN vs RR pairs."""
    import pandas as pd

    from ..plotting.correlation import plot_correlation_histogram, plot_pair_grid

    frame = pd.read_csv(pairs_csv)
    plot_correlation_histogram(frame, title=title, path=out_histogram)
    plot_pair_grid(pn_pairs(load_samples(pn_path)), rr_pairs(load_samples(rr_path)), title=title, path=out_grid, num_pairs=grid_pairs)
