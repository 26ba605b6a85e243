"""Tables as CSV (numbers), Markdown and LaTeX (formatted), written atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..artifacts import atomic_path

__all__ = ["diversity_table", "editing_table", "flowedit_table", "inverse_table", "mean_sd", "quality_table", "table1", "write_table"]

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


def inverse_table(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 3: per task and statistic, mean estimates, CI lengths, efficiency [CI], rho, time per sample."""
    formatted = frame[["model", "task", "statistic", "measurements", "samples"]].copy()
    formatted["E (MC / AMC)"] = [f"{a:.3f} / {b:.3f}" for a, b in zip(frame["mc_mean_estimate"], frame["amc_mean_estimate"])]
    formatted["CI length MC"] = frame["mc_ci_length"].map(lambda v: f"{v:.3f}")
    formatted["CI length AMC"] = frame["amc_ci_length"].map(lambda v: f"{v:.3f}")
    formatted["efficiency [CI]"] = [
        f"{e:.2f} [{lo:.2f}, {hi:.2f}]" for e, lo, hi in zip(frame["efficiency"], frame["efficiency_ci_low"], frame["efficiency_ci_high"])
    ]
    formatted["rho"] = frame["rho_mean"].map(lambda v: f"{v:+.2f}")
    formatted["s / sample"] = frame["amc_seconds_per_sample"].map(lambda v: f"{v:.3g}")
    return frame, formatted


def editing_table(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Numeric and formatted win-rate table over the t0 sweep."""
    formatted = frame[["model", "t0", "start_t"]].copy()
    formatted["measure"] = frame["label"]
    formatted["PN mean"] = frame["pn_mean"].map(lambda v: f"{v:.3f}")
    formatted["RR mean"] = frame["rr_mean"].map(lambda v: f"{v:.3f}")
    formatted["PN win rate [CI]"] = [f"{w:.2f} [{lo:.2f}, {hi:.2f}]" for w, lo, hi in zip(frame["win_rate"], frame["ci_low"], frame["ci_high"])]
    formatted["sources"] = frame["n"]
    return frame, formatted


def flowedit_table(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Numeric and formatted win-rate table of antithetic over independent FlowEdit draws, per n_max and measure."""
    formatted = frame[["model"]].copy()
    formatted["n_max"] = [f"{n} of {t}" for n, t in zip(frame["n_max"], frame["num_steps"])]
    formatted["start s"] = frame["start_s"].map(lambda v: f"{v:.2f}")
    formatted["measure"] = frame["label"]
    formatted["antithetic mean"] = frame["antithetic_mean"].map(lambda v: f"{v:.3f}")
    formatted["iid mean"] = frame["iid_mean"].map(lambda v: f"{v:.3f}")
    formatted["antithetic win rate [CI]"] = [
        f"{w:.2f} [{lo:.2f}, {hi:.2f}]" for w, lo, hi in zip(frame["win_rate"], frame["ci_low"], frame["ci_high"])
    ]
    formatted["hit rate (antithetic / iid)"] = [f"{a:.2f} / {b:.2f}" for a, b in zip(frame["antithetic_hit_rate"], frame["iid_hit_rate"])]
    formatted["sources"] = frame["n"]
    return frame, formatted


def quality_table(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Numeric and formatted quality table from the rows of every (model, sampler)."""
    formatted = frame[["model", "sampler", "set", "n"]].copy()
    formatted["Fréchet distance (classifier features) [CI]"] = [
        f"{f:.3g} [{lo:.3g}, {hi:.3g}]" for f, lo, hi in zip(frame["frechet"], frame["ci_low"], frame["ci_high"])
    ]
    formatted["minus FD(z) [CI]"] = [
        f"{d:+.3g} [{lo:+.3g}, {hi:+.3g}]" for d, lo, hi in zip(frame["diff"], frame["diff_ci_low"], frame["diff_ci_high"])
    ]
    for key in ("precision", "recall", "density", "coverage"):
        formatted[key] = frame[key].map(lambda v: f"{v:.3f}")
    return frame, formatted


def diversity_table(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 4: per (model, sampler) and measure, PN and RR means (SD) and the improvement with its CI."""
    formatted = frame[["model", "sampler"]].copy()
    formatted["measure"] = frame["label"]
    formatted["PN"] = [f"{m:.3f} ({s:.3f})" for m, s in zip(frame["pn_mean"], frame["pn_sd"])]
    formatted["RR"] = [f"{m:.3f} ({s:.3f})" for m, s in zip(frame["rr_mean"], frame["rr_sd"])]
    formatted["improvement % [CI]"] = [
        f"{v:+.1f} [{lo:+.1f}, {hi:+.1f}]" for v, lo, hi in zip(frame["improvement_pct"], frame["ci_low"], frame["ci_high"])
    ]
    formatted["PN - RR [CI]"] = [
        f"{v:+.3f} [{lo:+.3f}, {hi:+.3f}]" for v, lo, hi in zip(frame["difference"], frame["difference_ci_low"], frame["difference_ci_high"])
    ]
    formatted["pairs"] = frame["pn_pairs"]
    return frame, formatted
