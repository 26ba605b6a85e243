"""Jobs of the claims ledger: one claim's verdicts, then the ledger (tables and the forest plot)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..claims import Row, evaluate, read_rows, write_rows

__all__ = ["run_claim", "run_ledger"]


def run_claim(*, claim: dict[str, Any], targets: list[dict[str, Any]], out_json: str | Path) -> list[Row]:
    """Measure one claim on its targets and write its rows (value, CI, verdict, source file) as JSON."""
    rows = evaluate(claim, targets)
    write_rows(rows, out_json)
    return rows


def run_ledger(*, rows: list[str | Path], out_csv, out_markdown, out_latex, out_json, out_figure) -> list[dict[str, Any]]:
    """Assemble the per-claim rows into ``claims.{csv,md,json}`` and draw measured vs paper per claim."""
    import pandas as pd

    from ...artifacts import write_json
    from ..claims import ledger_tables
    from ..plotting.claims import plot_forest
    from ..tables import write_table

    records = read_rows(rows)
    numeric, formatted = ledger_tables(records)
    write_table(
        numeric, formatted, csv=out_csv, markdown=out_markdown, latex=out_latex,
        caption="Claims of the paper with the measured value, its 95% CI, the decision rule and the verdict.",
        label="tab:claims",
    )
    write_json(out_json, {"rows": records})
    plot_forest(pd.DataFrame(records), path=out_figure)
    return records
