"""Jobs of the claims ledger: one claim's verdicts, the ledger's tables, and the forest plot drawn from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..claims import Row, evaluate, read_rows, write_rows

__all__ = ["run_claim", "run_forest_figure", "run_ledger"]


def run_claim(*, claim: dict[str, Any], targets: list[dict[str, Any]], out_json: str | Path) -> list[Row]:
    """Measure one claim on its targets and write its rows (value, CI, verdict, source file) as JSON."""
    rows = evaluate(claim, targets)
    write_rows(rows, out_json)
    return rows


def run_ledger(*, rows: list[str | Path], out_csv, out_markdown, out_latex, out_json) -> list[dict[str, Any]]:
    """Assemble the per-claim rows into ``claims.{csv,md,tex,json}`` (the JSON holds every row as it was
    measured: :func:`run_forest_figure` draws from it)."""
    from ...artifacts import write_json
    from ..claims import ledger_tables
    from ..tables import write_table

    records = read_rows(rows)
    numeric, formatted = ledger_tables(records)
    write_table(
        numeric, formatted, csv=out_csv, markdown=out_markdown, latex=out_latex,
        caption="Claims of the paper with the measured value, its 95% CI, the decision rule and the verdict.",
        label="tab:claims",
    )
    write_json(out_json, {"rows": records})
    return records


def run_forest_figure(*, ledger: str | Path, out_figure: str | Path) -> None:
    """The forest plot (measured vs paper per claim) from the ledger's JSON (:func:`run_ledger`), drawn at the
    precision the ledger shows (:func:`~antithetic.workflow.claims.displayed`). Volatile claims (timings, which
    move with the machine's load) stay in the ledger's tables only, as in the README: the figure is then the same
    wherever the ledger's reproducible rows are."""
    import pandas as pd

    from ..claims import displayed
    from ..plotting.claims import plot_forest

    rows = pd.DataFrame([row for row in read_rows([ledger]) if not row.get("volatile")])
    for column in ("value", "ci_low", "ci_high"):
        rows[column] = [displayed(None if pd.isna(x) else float(x)) for x in rows[column]]
    plot_forest(rows, path=out_figure)
