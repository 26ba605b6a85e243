"""Tables as CSV (numbers), Markdown and LaTeX (formatted), written atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .io import atomic_path

__all__ = ["mean_sd", "table1", "write_table"]

TABLE1_COLUMNS = [
    ("pn_standard", "PN standard"),
    ("rr_standard", "RR standard"),
    ("pn_centered", "PN centered"),
    ("rr_centered", "RR centered"),
]


def mean_sd(mean: float, sd: float, digits: int = 2) -> str:
    """Format ``mean (SD)`` as in the paper's tables; a true minus sign is left to LaTeX/Markdown."""
    return f"{mean:.{digits}f} ({sd:.{digits}f})"


def table1(rows: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 1 (correlations across models, data and samplers).

    Args:
        rows: one dict per (model, sampler) with ``model``, ``data``, ``sampler`` and the keys of
            :func:`antithetic.correlation.summarize`.

    Returns:
        the numeric frame (for CSV) and the formatted frame ``mean (SD)`` (for Markdown and LaTeX),
        with model, data and sampler in separate columns.
    """
    numeric = pd.DataFrame(rows)
    formatted = numeric[["model", "data", "sampler"]].copy()
    for key, label in TABLE1_COLUMNS:
        formatted[label] = [mean_sd(m, s) for m, s in zip(numeric[f"{key}_mean"], numeric[f"{key}_sd"])]
    formatted["pairs"] = numeric["pn_pairs"]
    return numeric, formatted


def write_table(
    numeric: pd.DataFrame,
    formatted: pd.DataFrame,
    *,
    csv: str | Path,
    markdown: str | Path,
    latex: str | Path,
    caption: str,
    label: str,
) -> None:
    """Write the numeric CSV and the formatted Markdown and LaTeX versions of a table."""
    with atomic_path(csv) as tmp:
        numeric.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(markdown) as tmp:
        tmp.write_text(f"{caption}\n\n{formatted.to_markdown(index=False)}\n")
    with atomic_path(latex) as tmp:
        tex = formatted.to_latex(index=False, caption=caption, label=label, escape=True)
        tmp.write_text(tex)
