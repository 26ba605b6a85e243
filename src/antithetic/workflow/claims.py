"""The reviewer's ledger: every claim of the paper, measured by the workflow, with a verdict.

A claim (``config/claims.yaml``, schema ``workflow/schemas/claims.schema.yaml``) names a *measure*
(which workflow output, which quantity, with which uncertainty), a *test* (the decision rule, fixed
before looking at the results) and, where the paper reports one, the paper's value. :func:`claim_targets`
turns a claim and the experiment's :class:`~antithetic.workflow.plan.Plan` into *targets*: one per (model, sampler) it applies to,
with the output files it reads (the rule's inputs). :func:`evaluate` reads those files and returns
one :class:`Row` per target with the measured value, its CI and a verdict from :data:`VERDICTS`.

Decision rules (``test``) never compare bare point estimates where an uncertainty exists:

* ``{ci_below: x}``: the CI's upper end is below ``x``; ``{ci_above: x}``: its lower end is above ``x``.
* ``{ci_contains_target: true}``: the CI contains the row's theoretical target (e.g. 1/(1 + rho)).
* ``{ci_above_target: true}``: the CI's lower end is above the row's own threshold (a measure whose
  rows test different thresholds, e.g. Table 10's mean > 0.99 and 10% quantile > 0.97).
* ``{ci_not_above: x}``: for an inequality ``value <= x`` (a bound): it holds unless the CI's lower
  end lies above ``x`` (without a CI: unless the value does).
* ``{at_most: x}`` / ``{at_least: x}``: for measures that are themselves worst cases or proportions
  without a sampling CI (stated in the measure's docstring).

A claim applies to whatever runs of its measure the config planned (``models:`` narrows them, by name or
by what a model is: ``{pretrained: true}`` picks the checkpoints). Without a target under the config it
reads ``not run here (needs <needs>)`` and names ``command``, the run that has one; so the paper-scale
rows are measured by the run that computes them and listed as not run by every other.

Verdicts: ``reproduced``; ``reproduced, weaker than the paper`` (the test passes, but the measured
value lies on the weak side of the paper's value or range, ``stronger: lower|higher`` saying which
side is strong); ``not reproduced``; ``not run here (needs ...)``.

This module imports only the standard library at import time (the Snakefile calls :func:`plan`
while it builds the DAG); numpy, scipy and pandas are imported by the measures that use them.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import plan as paths
from .plan import TABLES, Plan

__all__ = ["MEASURES", "RULES", "VERDICTS", "Row", "claim_targets", "displayed", "evaluate", "input_files", "ledger_tables",
           "measured_text", "resolve_claim", "verdict"]

VERDICTS = ("reproduced", "reproduced, weaker than the paper", "not reproduced", "not run here")

#: decision rules and how the ledger states them
RULES = {
    "ci_below": "CI < {:g}",
    "ci_above": "CI > {:g}",
    "ci_not_above": "CI not above {:g}",
    "ci_contains_target": "CI contains target",
    "ci_above_target": "CI > target",
    "at_most": "value <= {:g}",
    "at_least": "value >= {:g}",
}


@dataclass
class Row:
    """One measured row of the ledger."""

    id: str
    claim: str
    source: str
    model: str
    sampler: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    paper: str
    test: str
    verdict: str
    file: str
    detail: dict[str, Any] = field(default_factory=dict)
    #: a timing: its value moves with the machine's load, so CI does not guard it and the README omits it
    volatile: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------ statistics helpers
@contextlib.contextmanager
def _quiet_on_constant_data():
    """scipy's t-tests warn of precision loss in the t statistic when the values are (nearly) identical, e.g.
    pair correlations that are all -1; the interval (mean and its standard error) is unaffected."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Precision loss occurred in moment calculation", category=RuntimeWarning)
        yield


def _t_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and t-interval of iid values (NaN dropped; NaN bounds for fewer than 2 values)."""
    import numpy as np
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    mean = float(v.mean()) if len(v) else float("nan")
    if len(v) < 2:
        return mean, float("nan"), float("nan")
    with _quiet_on_constant_data():
        ci = stats.ttest_1samp(v, 0.0).confidence_interval(confidence_level=level)
    return mean, float(ci.low), float(ci.high)


def _t_ci_from_summary(mean, sd, n, level: float = 0.95):
    """The t-interval of :func:`_t_ci` from a mean, SD (ddof 1) and count already reduced (arrays broadcast):
    ``mean -+ t_{n-1} sd / sqrt(n)``. scipy has no one-sample t-test from summary statistics."""
    import numpy as np
    from scipy import stats

    half = stats.t.ppf(0.5 + level / 2, np.asarray(n) - 1) * np.asarray(sd) / np.sqrt(n)
    return mean - half, mean + half


def _welch_ci(a, b, level: float = 0.95) -> tuple[float, float, float]:
    """Difference of means ``mean(a) - mean(b)`` of two independent samples with Welch's interval (NaN dropped;
    NaN bounds when a sample has fewer than 2 values or both have zero variance, where Welch's degrees of
    freedom are 0 / 0)."""
    import numpy as np
    from scipy import stats

    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    diff = float(a.mean() - b.mean()) if len(a) and len(b) else float("nan")
    if min(len(a), len(b)) < 2 or a.var(ddof=1) + b.var(ddof=1) == 0:
        return diff, float("nan"), float("nan")
    with _quiet_on_constant_data():
        ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(confidence_level=level)
    return diff, float(ci.low), float(ci.high)


# ------------------------------------------------------------------------------------ measures
@dataclass(frozen=True)
class Measure:
    """How a measure finds its targets (``targets``, no heavy imports) and measures one (``measure``)."""

    targets: Callable[[dict[str, Any], Plan], list[dict[str, Any]]]
    measure: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


def _pair_targets(spec, plan: Plan):
    return [{"model": m, "sampler": s, "files": {"pairs": plan.pairs_csv(m, s, p)}} for m, s, p in plan.table1_runs]


def _pair_values(path: str, kind: str, variant: str):
    import pandas as pd

    frame = pd.read_csv(path)
    return frame.loc[frame["kind"] == kind, variant].to_numpy()


def _pair_mean(spec, target):
    """Mean over pairs of the per-pair correlation (``pair``: PN or RR; ``variant``), t-interval over pairs."""
    value, low, high = _t_ci(_pair_values(target["files"]["pairs"], spec.get("pair", "PN"), spec["variant"]))
    return {"value": value, "low": low, "high": high, "file": target["files"]["pairs"]}


def _pair_difference(spec, target):
    """PN minus RR mean pair correlation (``variant``); PN and RR pairs are independent: Welch interval."""
    path = target["files"]["pairs"]
    value, low, high = _welch_ci(_pair_values(path, "PN", spec["variant"]), _pair_values(path, "RR", spec["variant"]))
    return {"value": value, "low": low, "high": high, "file": path}


def _gap_targets(spec, plan: Plan):
    """Every (model, deterministic DDIM, noise-injecting sampler) of Table 1 (:attr:`Plan.sampler_gap_runs`)."""
    pairs = {(m, s): p for m, s, p in plan.table1_runs}
    return [
        {"model": m, "sampler": f"{other} vs {base}",
         "files": {"base": plan.pairs_csv(m, base, pairs[(m, base)]), "other": plan.pairs_csv(m, other, pairs[(m, other)])}}
        for m, base, other in plan.sampler_gap_runs
    ]


def _sampler_gap(spec, target):
    """PN mean correlation under the more stochastic sampler minus under the base sampler (Welch)."""
    files = target["files"]
    value, low, high = _welch_ci(_pair_values(files["other"], "PN", spec["variant"]), _pair_values(files["base"], "PN", spec["variant"]))
    return {"value": value, "low": low, "high": high, "file": files["other"]}


def _trajectory_targets(spec, plan: Plan):
    return [{"model": m, "sampler": s, "files": {"trajectory": plan.trajectory_csv(m, s)}} for m, s in plan.trajectory_runs]


def _trajectory_rows(spec, target):
    import pandas as pd

    frame = pd.read_csv(target["files"]["trajectory"])
    keep = (frame["quantity"] == spec.get("quantity", "x")) & (frame["kind"] == "PN") & (frame["variant"] == spec["variant"])
    return frame[keep].sort_values("step")


def _trajectory_start(spec, target):
    """PN correlation of the trajectories at the first step (``x_T``: the pair (z, -z))."""
    row = _trajectory_rows(spec, target).iloc[0]
    low, high = _t_ci_from_summary(row["mean"], row["sd"], row["pairs"])
    return {"value": float(row["mean"]), "low": float(low), "high": float(high), "file": target["files"]["trajectory"]}


def _trajectory_max(spec, target):
    """Largest PN correlation along the trajectory; CI: the largest per-step upper and lower t-bounds."""
    import numpy as np

    rows = _trajectory_rows(spec, target)
    low, high = _t_ci_from_summary(rows["mean"].to_numpy(), rows["sd"].to_numpy(), rows["pairs"].to_numpy())
    worst = int(np.argmax(rows["mean"].to_numpy()))
    return {
        "value": float(rows["mean"].max()),
        "low": float(low.max()),
        "high": float(high.max()),
        "file": target["files"]["trajectory"],
        "detail": {"worst_step": int(rows["step"].iloc[worst]), "steps": int(len(rows))},
    }


def _symmetry_targets(spec, plan: Plan):
    return [{"model": m, "sampler": "", "files": {"scores": paths.fill(paths.AS_SCORES, model=m)}} for m in plan.symmetry_models]


def _as_statistic(frame, statistic: str) -> float:
    return float(frame["as_score"].mean()) if statistic == "as_mean" else float(frame["as_score"].quantile(int(statistic[4:]) / 100))


def _as_level(spec, target, at: str) -> dict[str, Any]:
    """AS-score statistic (``column``: ``as_mean`` or ``as_qXX``) over the slices of the highest or lowest
    noise level probed, with a percentile bootstrap over whole directions (the slices of one direction
    are not independent; 1000 resamples, seed 0)."""
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(target["files"]["scores"])
    sigma = frame["sigma"].max() if at == "high" else frame["sigma"].min()
    level = frame[frame["sigma"] == sigma]
    by_direction = [g for _, g in level.groupby("direction")]
    rng = np.random.default_rng(0)
    boot = [_as_statistic(pd.concat([by_direction[k] for k in rng.integers(0, len(by_direction), len(by_direction))]), spec["column"])
            for _ in range(1000)]
    low, high = np.percentile(boot, [2.5, 97.5])
    return {"value": _as_statistic(level, spec["column"]), "low": float(low), "high": float(high), "boot": np.asarray(boot),
            "file": target["files"]["scores"], "detail": {"t": int(level["t"].iloc[0]), "sigma": float(sigma), "directions": len(by_direction)}}


def _as_at_noise(spec, target):
    """AS-score statistic at the highest (``at: high``) or lowest noise level probed, CI over directions.

    ``columns: {as_mean: 0.99, as_q10: 0.97}`` in place of ``column`` measures each statistic in a row of
    its own (labelled by the statistic) whose ``target`` is its threshold (the rule ``ci_above_target``).
    """
    if "columns" not in spec:
        out = _as_level(spec, target, spec.get("at", "high"))
        out.pop("boot")
        return out
    rows = []
    for column, threshold in spec["columns"].items():
        out = _as_level({**spec, "column": column}, target, spec.get("at", "high"))
        out.pop("boot")
        out["detail"] = {**out["detail"], "target": float(threshold)}
        rows.append({**out, "sampler": column})
    return rows


def _as_drop(spec, target):
    """AS-score statistic at the lowest noise minus at the highest (negative: symmetry weakens near the data);
    the two levels use independent directions' bootstraps, paired by resample index."""
    import numpy as np

    low_noise, high_noise = _as_level(spec, target, "low"), _as_level(spec, target, "high")
    diff = low_noise["boot"] - high_noise["boot"]
    lo, hi = np.percentile(diff, [2.5, 97.5])
    return {"value": low_noise["value"] - high_noise["value"], "low": float(lo), "high": float(hi), "file": target["files"]["scores"],
            "detail": {"sigma_low": low_noise["detail"]["sigma"], "sigma_high": high_noise["detail"]["sigma"]}}


def _fisher_targets(spec, plan: Plan):
    from ..kinds import MODEL_KINDS

    # exact scores: the analytic kinds of the registry
    analytic = {name for name, m in (plan.config.get("models") or {}).items() if MODEL_KINDS[m["kind"]].analytic}
    chosen = [m for m in plan.fisher_models if (m in analytic) == (spec.get("scores", "exact") == "exact")]
    return [{"model": m, "sampler": "", "files": {"fisher": paths.FISHER}} for m in chosen]


def _fisher_ratio(spec, target):
    """Largest ratio of the measured relative Fisher information to Theorem 1's bound over the noise levels.

    The CI at the worst level is the delta-method interval of the ratio from the Monte Carlo standard
    errors of the measured information and of the bound (``fisher_se``, ``bound_se``).
    """
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(target["files"]["fisher"])
    frame = frame[(frame["model"] == target["model"]) & (frame["bound"] > 0)]
    ratio = (frame["fisher"] / frame["bound"]).to_numpy()
    worst = int(np.argmax(ratio))
    row = frame.iloc[worst]
    rel = math.hypot(row["fisher_se"] / row["fisher"] if row["fisher"] > 0 else 0.0, row["bound_se"] / row["bound"])
    low, high = ratio[worst] * (1 - 1.96 * rel), ratio[worst] * (1 + 1.96 * rel)
    return {"value": float(ratio.max()), "low": float(low), "high": float(high), "file": target["files"]["fisher"],
            "detail": {"worst_tau": float(row["tau"]), "levels": int(len(frame))}}


def _partial_targets(spec, plan: Plan):
    design = plan.partial_design
    return [
        {"model": m, "sampler": s, "files": {"samples": plan.samples(m, s, design, 2 * plan.partial_pairs)},
         "region": plan.config["designs"][design]["region"]}
        for m, s in plan.partial_runs
    ]


def _partial_region(spec, target):
    """Mean per-pixel PN correlation over the negated (``part: negated``) or kept region of a partial design.

    The per-pixel correlation is taken across pairs; the CI is a percentile bootstrap over pairs
    (1000 resamples, seed 0). Pixels that are constant across pairs are left out.
    """
    import numpy as np

    from ..artifacts import load_samples
    from ..correlation import pn_pairs
    from ..pearson import pearson
    from ..regions import region_mask

    pairs = pn_pairs(load_samples(target["files"]["samples"])).astype(np.float64)
    mask = region_mask(target["region"], pairs.shape[2:])
    region = mask if spec["part"] == "negated" else ~mask

    def region_mean(p):
        with np.errstate(invalid="ignore"):
            r = pearson(p[:, 0], p[:, 1], axis=0)
        return float(np.nanmean(r[region]))

    rng = np.random.default_rng(0)
    boot = [region_mean(pairs[rng.integers(0, len(pairs), len(pairs))]) for _ in range(1000)]
    low, high = np.nanpercentile(boot, [2.5, 97.5])
    return {"value": region_mean(pairs), "low": float(low), "high": float(high), "file": target["files"]["samples"]}


def _guidance_targets(spec, plan: Plan):
    return [{"model": m, "sampler": s, "files": {"pairs": plan.guidance_sweep_pairs(m, s)}} for m, s in plan.guidance_runs]


def _guidance_sweep(spec, target):
    """The guidance ablation (``variant``: standard or centered), three rows per sweep, each a quantity whose
    claim is that it is positive:

    * ``RR - PN (every scale)``: the smallest over the scales of the RR minus PN mean pair correlation. Its
      CI runs from the smallest per-scale lower Welch bound to the smallest upper one, so "CI > 0" is the
      intersection-union test of "PN below RR at every scale" (each scale at level 95%, no correction needed).
    * ``PN rise`` and ``RR rise`` (``w a to b``): the mean pair correlation at the largest scale minus at the
      smallest. Pair ``j`` has the same noise and the same prompt or class at every scale, so the interval is
      the t-interval of the per-pair differences.
    """
    import numpy as np
    import pandas as pd

    path = target["files"]["pairs"]
    frame = pd.read_csv(path)
    variant = spec["variant"]
    scales = sorted(frame["guidance_scale"].unique())

    def values(kind, scale):
        rows = frame[(frame["kind"] == kind) & (frame["guidance_scale"] == scale)].sort_values("pair")
        return rows.set_index("pair")[variant]

    gaps = [_welch_ci(values("RR", w), values("PN", w)) for w in scales]
    worst = int(np.argmin([g[0] for g in gaps]))
    out = [{
        "sampler": f"{target['sampler']} RR - PN (every scale)", "value": gaps[worst][0],
        "low": min(g[1] for g in gaps), "high": min(g[2] for g in gaps), "file": path,
        "detail": {"worst_scale": float(scales[worst]), "scales": [float(w) for w in scales],
                   "gaps": [round(g[0], 6) for g in gaps]},
    }]
    if len(scales) >= 2:
        lo, hi = scales[0], scales[-1]
        for kind in ("PN", "RR"):
            diff = (values(kind, hi) - values(kind, lo)).dropna()  # aligned by pair
            value, low, high = _t_ci(diff.to_numpy())
            means = [float(values(kind, w).mean()) for w in scales]
            out.append({"sampler": f"{target['sampler']} {kind} rise (w {lo:g} to {hi:g})", "value": value, "low": low,
                        "high": high, "file": path, "detail": {"means": [round(m, 6) for m in means], "pairs": int(len(diff))}})
    return out


def _guidance_accuracy_targets(spec, plan: Plan):
    """Every guidance sweep whose samples the digits classifier scores (:attr:`Plan.guidance_accuracy_runs`)."""
    return [{"model": m, "sampler": s, "files": {"accuracy": plan.guidance_accuracy(m, s)}} for m, s in plan.guidance_accuracy_runs]


def _guidance_accuracy(spec, target):
    """The digits classifier's accuracy on the guided samples at the largest scale minus at the smallest.

    The samples are the sweep table's (``scored``: the RR sample ``2j`` of each class-label slot ``j``). Slot
    ``j`` has the same noise and the same requested class at every scale, so the interval is the t-interval of
    the per-slot differences of the correct-class indicators (values -1, 0, 1).
    """
    import pandas as pd

    path = target["files"]["accuracy"]
    frame = pd.read_csv(path)
    frame = frame[frame["scored"].astype(bool)]
    correct = frame.pivot(index="slot", columns="guidance_scale", values="correct").astype(float)
    scales = sorted(correct.columns)
    lo, hi = scales[0], scales[-1]
    value, low, high = _t_ci((correct[hi] - correct[lo]).dropna().to_numpy())
    return {"sampler": f"{target['sampler']} accuracy rise (w {lo:g} to {hi:g})", "value": value, "low": low, "high": high,
            "file": path, "detail": {"scales": [float(w) for w in scales],
                                     "accuracy": [round(float(correct[w].mean()), 6) for w in scales], "slots": int(len(correct))}}


def _uq_targets(spec, plan: Plan):
    return [{"model": m, "sampler": s, "files": {"table": paths.table("table2")}} for m, s in plan.uq_runs_with(spec.get("statistic"))]


def _table2_row(target, statistic: str, method: str):
    import pandas as pd

    frame = pd.read_csv(target["files"]["table"])
    keep = (frame["model"] == target["model"]) & (frame["sampler"] == target["sampler"]) & (frame["statistic"] == statistic) & (frame["method"] == method)
    if not keep.any():
        raise KeyError(f"Table 2 has no row model={target['model']} sampler={target['sampler']} statistic={statistic} method={method}")
    return frame[keep].iloc[0]


def _efficiency(spec, target):
    """A method's efficiency for a statistic with its CI (Table 2 columns ``efficiency_low``/``_high``)."""
    row = _table2_row(target, spec["statistic"], spec["method"])
    return {"value": float(row["efficiency"]), "low": float(row.get("efficiency_low", float("nan"))),
            "high": float(row.get("efficiency_high", float("nan"))), "file": target["files"]["table"],
            "detail": {"rho": float(row.get("rho", float("nan")))}}


def _efficiency_vs_rho(spec, target):
    """AMC efficiency and its CI against the prediction 1/(1 + rho) (rho: Table 2's variance-weighted ``rho_w`` if present)."""
    out = _efficiency(spec, target)
    row = _table2_row(target, spec["statistic"], spec["method"])
    rho = float(row["rho_w"]) if "rho_w" in row.index else float(row["rho"])
    out["detail"] = {"rho": rho, "target": 1.0 / (1.0 + rho)}
    return out


def _efficiency_ratio(spec, target):
    """Efficiency of ``method`` over that of ``baseline``; CI from the two CIs on the log scale (independent runs)."""
    from scipy import stats

    a = _efficiency({**spec, "method": spec["method"]}, target)
    b = _efficiency({**spec, "method": spec["baseline"]}, target)
    z = stats.norm.ppf(0.975)
    value = a["value"] / b["value"]
    se = [(math.log(x["high"]) - math.log(x["low"])) / (2 * z) if x["low"] > 0 else float("nan") for x in (a, b)]
    half = z * math.hypot(*se)
    return {"value": value, "low": value * math.exp(-half), "high": value * math.exp(half), "file": target["files"]["table"]}


def _overhead(spec, target):
    """Largest sampling time per sample of the antithetic designs relative to MC (one timing each; no CI)."""
    mc = _table2_row(target, spec["statistic"], "mc")["seconds_per_sample"]
    ratios = {m: float(_table2_row(target, spec["statistic"], m)["seconds_per_sample"] / mc) for m in spec["methods"]}
    worst = max(ratios, key=ratios.get)
    return {"value": ratios[worst], "low": float("nan"), "high": float("nan"), "file": target["files"]["table"], "detail": ratios}


def _cv_subsumed(spec, target):
    """1 if the linear control variate on AMC is degenerate (its feature cancels in every pair), else 0."""
    row = _table2_row(target, spec["statistic"], "amc+cv:linear")
    return {"value": float(bool(row["degenerate"])), "low": float("nan"), "high": float("nan"), "file": target["files"]["table"]}


def _coverage_targets(spec, plan: Plan):
    return [{"model": m, "sampler": s, "files": {"table": paths.table("coverage")}} for m, s in plan.uq_coverage_runs]


def _coverage(spec, target):
    """Share of (statistic, method) cells whose exact binomial 99% interval of the coverage excludes the nominal target.

    A proportion of cells, no sampling CI. Under correct CIs about 1% of cells miss by chance.
    """
    import pandas as pd
    from scipy import stats

    frame = pd.read_csv(target["files"]["table"])
    frame = frame[(frame["model"] == target["model"]) & (frame["sampler"] == target["sampler"])]
    if "components" in frame:  # scalar statistics: a vector's pixel-averaged coverage is no binomial count
        frame = frame[frame["components"] == 1]
    misses = []
    for row in frame.itertuples():
        hits = round(row.coverage * row.repetitions)
        ci = stats.binomtest(int(hits), int(row.repetitions)).proportion_ci(0.99, method="exact")
        if not ci.low <= row.target <= ci.high:
            misses.append(f"{row.statistic}/{row.method}: {row.coverage:.3f}")
    return {"value": len(misses) / max(len(frame), 1), "low": float("nan"), "high": float("nan"), "file": target["files"]["table"],
            "detail": {"cells": int(len(frame)), "outside": misses}}


def _table_targets(spec, plan: Plan):
    """One target, the stage table ``table`` (a name of :data:`~antithetic.workflow.plan.TABLES`), when its stage runs."""
    stage = TABLES[spec["table"]]
    if not plan.runs_stage(stage.requires):
        return []
    return [{"model": "", "sampler": "", "files": {"table": paths.table(stage.name)}}]


def _table_rows(spec, target):
    """One measured row per table row matching ``where``: ``value`` with its CI columns ``low``/``high``
    (the stage's own interval), labelled by the ``label`` columns; ``target`` (a number) for
    ``ci_contains_target``."""
    import pandas as pd

    frame = pd.read_csv(target["files"]["table"])
    for column, wanted in (spec.get("where") or {}).items():
        frame = frame[frame[column].astype(str) == str(wanted)]
    if frame.empty:
        raise KeyError(f"{target['files']['table']} has no row where {spec.get('where')}")
    out = []
    for row in frame.to_dict("records"):
        labels = [str(row[c]) for c in spec.get("label", [])]
        out.append({
            "model": str(row.get("model", "")), "sampler": " ".join(labels),
            "value": float(row[spec["value"]]), "low": float(row[spec["low"]]), "high": float(row[spec["high"]]),
            "file": target["files"]["table"], "detail": {"target": spec["target"]} if "target" in spec else {},
        })
    return out


MEASURES: dict[str, Measure] = {
    "pair_mean": Measure(_pair_targets, _pair_mean),
    "pair_difference": Measure(_pair_targets, _pair_difference),
    "sampler_gap": Measure(_gap_targets, _sampler_gap),
    "guidance_sweep": Measure(_guidance_targets, _guidance_sweep),
    "guidance_accuracy": Measure(_guidance_accuracy_targets, _guidance_accuracy),
    "trajectory_start": Measure(_trajectory_targets, _trajectory_start),
    "trajectory_max": Measure(_trajectory_targets, _trajectory_max),
    "as_at_noise": Measure(_symmetry_targets, _as_at_noise),
    "as_drop": Measure(_symmetry_targets, _as_drop),
    "fisher_ratio": Measure(_fisher_targets, _fisher_ratio),
    "partial_region": Measure(_partial_targets, _partial_region),
    "efficiency": Measure(_uq_targets, _efficiency),
    "efficiency_vs_rho": Measure(_uq_targets, _efficiency_vs_rho),
    "efficiency_ratio": Measure(_uq_targets, _efficiency_ratio),
    "overhead": Measure(_uq_targets, _overhead),
    "cv_subsumed": Measure(_uq_targets, _cv_subsumed),
    "coverage": Measure(_coverage_targets, _coverage),
    "table_rows": Measure(_table_targets, _table_rows),
}


# ------------------------------------------------------------------------------------ plan and verdicts
def claim_targets(claim: dict[str, Any], plan: Plan) -> list[dict[str, Any]]:
    """The targets of ``claim`` under ``plan``: ``{model, sampler, files, ...}`` each (empty if not run here).

    A claim applies to every run of its measure that the plan holds; ``claim["models"]``, if given, keeps
    the targets of the models it selects (:meth:`Plan.models_where`: names, or what a model is, e.g.
    ``{pretrained: true}`` for the checkpoints). A claim without a measure has no target.
    """
    measure = claim.get("measure")
    if measure is None:
        return []
    if measure["kind"] not in MEASURES:
        raise ValueError(f"claim {claim['id']}: measure kind {measure['kind']!r} unknown; known: {sorted(MEASURES)}")
    targets = MEASURES[measure["kind"]].targets(measure, plan)
    if claim.get("models") is not None:
        chosen = plan.models_where(claim["models"])
        targets = [t for t in targets if t["model"] in chosen]
    return targets


def resolve_claim(claim: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """``claim`` with the ``${name}`` placeholders of its text and of its paper note filled from the config
    (:func:`antithetic.workflow.captions.claim_context`); a copy, the claim itself is left as it is."""
    from string import Template

    from .captions import claim_context

    context = claim_context(plan.config)

    def fill_text(text: str, key: str) -> str:
        try:
            return Template(text).substitute(context)
        except (KeyError, ValueError) as err:
            raise ValueError(f"claim {claim['id']}: {key} has a placeholder {err} that is not one of "
                             f"{sorted('${' + k + '}' for k in context)} (a literal $ is written $$)") from None

    out = {**claim, "claim": fill_text(claim["claim"], "claim")}
    if (claim.get("paper") or {}).get("note"):
        out["paper"] = {**claim["paper"], "note": fill_text(claim["paper"]["note"], "paper.note")}
    return out


def _passes(test: dict[str, Any], value: float, low: float, high: float, detail: dict[str, Any]) -> bool:
    (rule, threshold), = test.items()
    if rule == "ci_below":
        return math.isfinite(high) and high < threshold
    if rule == "ci_above":
        return math.isfinite(low) and low > threshold
    if rule == "ci_contains_target":
        return math.isfinite(low) and low <= detail["target"] <= high
    if rule == "ci_above_target":
        return math.isfinite(low) and low > detail["target"]
    if rule == "ci_not_above":  # an inequality that holds unless the data show it violated
        return not (math.isfinite(low) and low > threshold) and (math.isfinite(low) or value <= threshold)
    if rule == "at_most":
        return value <= threshold
    if rule == "at_least":
        return value >= threshold
    raise ValueError(f"unknown decision rule {rule!r}; known: {sorted(RULES)}")


def _paper_text(paper: dict[str, Any] | None) -> str:
    if not paper:
        return ""
    if "range" in paper:
        return f"{paper['range'][0]:g} to {paper['range'][1]:g}" + (f" ({paper['note']})" if paper.get("note") else "")
    if "value" in paper:
        return f"{paper['value']:g}" + (f" ({paper['note']})" if paper.get("note") else "")
    return paper.get("note", "")


def verdict(claim: dict[str, Any], value: float, low: float, high: float, detail: dict[str, Any]) -> str:
    """The verdict of one measured row (see the module docstring)."""
    if not _passes(claim["test"], value, low, high, detail):
        return "not reproduced"
    paper, stronger = claim.get("paper") or {}, claim.get("stronger")
    bounds = paper.get("range") or ([paper["value"]] if "value" in paper else [])
    if bounds and stronger:
        weak_end = max(bounds) if stronger == "lower" else min(bounds)
        if (value > weak_end) if stronger == "lower" else (value < weak_end):
            return "reproduced, weaker than the paper"
    return "reproduced"


def _test_text(test: dict[str, Any]) -> str:
    (rule, threshold), = test.items()
    return RULES[rule].format(threshold)


def evaluate(claim: dict[str, Any], targets: list[dict[str, Any]]) -> list[Row]:
    """Measure every target of ``claim`` and decide its verdict; a claim without a target under this config
    gives one 'not run here' row that names what it needs (``needs``, else a config that runs it) and ``command``."""
    common = {"id": claim["id"], "claim": claim["claim"], "source": claim["source"], "paper": _paper_text(claim.get("paper")),
              "volatile": bool(claim.get("volatile", False))}
    if not targets:
        needs = claim.get("needs") or "a config that runs it (no target in this config; the default config.yaml does)"
        # a claim without its own command is one the default config plans: `make claim` runs it there
        command = claim.get("command") or f"make claim ID={claim['id']}"
        return [Row(**common, model=claim.get("model", ""), sampler="", value=None, ci_low=None, ci_high=None,
                    test=_test_text(claim["test"]) if "test" in claim else "", verdict=f"not run here (needs {needs})",
                    file="", detail={"command": command})]
    rows = []
    for target in targets:
        measured = MEASURES[claim["measure"]["kind"]].measure(claim["measure"], target)
        # a measure gives one measurement per target, or (table_rows) one per matching table row
        for m in measured if isinstance(measured, list) else [measured]:
            detail = m.get("detail", {})
            rows.append(Row(**common, model=m.get("model", target["model"]), sampler=m.get("sampler", target["sampler"]),
                            value=m["value"], ci_low=m["low"], ci_high=m["high"], test=_test_text(claim["test"]),
                            file=m["file"], detail=detail, verdict=verdict(claim, m["value"], m["low"], m["high"], detail)))
    return rows


def input_files(targets: list[dict[str, Any]]) -> list[str]:
    """The distinct files the targets read, in order (a rule's inputs)."""
    return list(dict.fromkeys(path for t in targets for path in t["files"].values()))


def _fmt(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return ""
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"


def displayed(x: float | None) -> float:
    """``x`` as the ledger shows it (3 significant digits; NaN where it shows nothing). The forest plot draws
    these, so it is a function of the ledger's text: two runs whose networks differ in the last bits of their
    weights (other CPU kernels) give the same ledger and the same figure, byte for byte."""
    text = _fmt(x)
    return float(text) if text else math.nan


def measured_text(row: dict[str, Any]) -> str:
    """``value [low, high]`` (or the value alone where the measure has no CI)."""
    if row["value"] is None:
        return ""
    if row["ci_low"] is None or not math.isfinite(row["ci_low"]):
        return _fmt(row["value"])
    return f"{_fmt(row['value'])} [{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]"


def ledger_tables(records: list[dict[str, Any]]):
    """The ledger as a numeric frame (CSV) and a formatted one (Markdown, LaTeX), one row per measured row."""
    import pandas as pd

    numeric = pd.DataFrame(records)
    numeric["detail"] = [json.dumps(d, sort_keys=True) for d in numeric["detail"]]
    formatted = pd.DataFrame(
        {
            "id": numeric["id"],
            "claim": numeric["claim"],
            "source": numeric["source"],
            "model": numeric["model"],
            "sampler": numeric["sampler"],
            "measured [95% CI]": [measured_text(r) for r in records],
            "paper": numeric["paper"],
            "test": numeric["test"],
            "verdict": numeric["verdict"],
        }
    )
    return numeric, formatted


def write_rows(rows: list[Row], path: str | Path) -> None:
    from ..artifacts import write_json

    write_json(path, {"rows": [r.to_dict() for r in rows]})


def read_rows(paths: list[str | Path]) -> list[dict[str, Any]]:
    return [row for p in paths for row in json.loads(Path(p).read_text())["rows"]]


# ------------------------------------------------------------------------------------ the guard in CI
EXPECTED_COLUMNS = ["id", "model", "sampler", "verdict", "measured"]


def expected_rows(records: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The committed expectation of a ledger: each row's key, verdict and measured text."""
    return [{"id": r["id"], "model": r["model"], "sampler": r["sampler"], "verdict": r["verdict"], "measured": measured_text(r)} for r in records]


def compare_verdicts(records: list[dict[str, Any]], expected: list[dict[str, str]]) -> list[str]:
    """One message per row whose verdict differs from the expectation, or that is new or gone (timings excluded)."""
    def key(r):
        return (r["id"], r["model"] or "", r["sampler"] or "")

    now = {key(r): r for r in expected_rows([r for r in records if not r.get("volatile")])}
    before = {key(r): r for r in expected}
    messages = []
    for k in sorted(set(now) | set(before)):
        where = f"{k[0]} ({' '.join(filter(None, k[1:])) or '-'})"
        if k not in before:
            messages.append(f"{where}: new row, verdict {now[k]['verdict']!r} at {now[k]['measured'] or '-'}")
        elif k not in now:
            messages.append(f"{where}: row gone (was {before[k]['verdict']!r} at {before[k]['measured'] or '-'})")
        elif now[k]["verdict"] != before[k]["verdict"]:
            messages.append(
                f"{where}: verdict changed from {before[k]['verdict']!r} at {before[k]['measured'] or '-'} "
                f"to {now[k]['verdict']!r} at {now[k]['measured'] or '-'}"
            )
    return messages


# ------------------------------------------------------------------------------------ one claim's rows
def claim_ids(claims_file: str | Path) -> list[str]:
    """The claim ids of a claims file, in its order."""
    import yaml

    return [c["id"] for c in yaml.safe_load(Path(claims_file).read_text())["claims"]]


def default_claims_file(config: str | Path = "config.yaml") -> Path:
    """The claims file a run of ``config`` evaluates: its ``claims`` key, else ``config/claims.yaml`` beside it."""
    import yaml

    config = Path(config)
    named = (yaml.safe_load(config.read_text()) or {}).get("claims") if config.is_file() else None
    return Path(named) if named else config.parent / "config" / "claims.yaml"


def show_rows(claim_id: str, *, claims_file: str | Path, results: str | Path = ".") -> str:
    """One claim's rows from ``results/claims/<id>.json`` as text: value, CI, decision rule, verdict, source file.

    Raises:
        KeyError: ``claim_id`` is not a claim of ``claims_file`` (the message lists the known ids).
        FileNotFoundError: the claim's rows are not written yet (the message names the command that writes them).
    """
    known = claim_ids(claims_file)
    if claim_id not in known:
        raise KeyError(f"claim {claim_id!r} is not in {str(claims_file)!r}; known ids: {', '.join(known)}")
    path = Path(results) / paths.fill(paths.CLAIM, id=claim_id)
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist; run `snakemake claim_{claim_id}` (make claim ID={claim_id}) first")
    rows = json.loads(path.read_text())["rows"]
    if not rows:
        return f"{claim_id}: no rows; this config runs nothing the claim measures ({path})"
    lines = [f"{claim_id}: {rows[0]['claim']}"]
    for row in rows:
        where = " ".join(filter(None, (row["model"], row["sampler"]))) or "-"
        value = _fmt(row["value"]) or "-"
        ci = f"[{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]" if _fmt(row["ci_low"]) else "-"
        lines += [
            f"  {where}: {row['verdict']}",
            f"    value {value}, CI {ci}; paper {row['paper'] or '-'}",
            f"    rule: {row['test'] or '-'}",
            f"    source: {row['file'] or (row.get('detail') or {}).get('command', '-')}",
        ]
    return "\n".join(lines)


def _show_main(argv: list[str]) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m antithetic.workflow.claims show",
                                     description="Print one claim's rows (value, CI, decision rule, verdict, source file).")
    parser.add_argument("id", help="the claim's id, e.g. C13")
    parser.add_argument("--claims", help="the claims file (default: the `claims` key of config.yaml, else config/claims.yaml)")
    parser.add_argument("--results", default=".", help="the run's directory, holding results/claims/ (default: .)")
    parser.add_argument("--known", action="store_true", help="only check that the id is known (exit 2 if not)")
    args = parser.parse_args(argv)
    claims_file = Path(args.claims) if args.claims else default_claims_file(Path(args.results) / "config.yaml")
    try:
        if args.known:
            if args.id not in claim_ids(claims_file):
                raise KeyError(f"claim {args.id!r} is not in {str(claims_file)!r}; known ids: {', '.join(claim_ids(claims_file))}")
            return 0
        print(show_rows(args.id, claims_file=claims_file, results=args.results))
    except KeyError as err:
        print(f"claims: {err.args[0]}", file=sys.stderr)
        return 2
    except FileNotFoundError as err:
        print(f"claims: {err}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m antithetic.workflow.claims check|expect LEDGER.json EXPECTED.csv`` or ``... show ID``.

    ``check`` exits 1 and names every row whose verdict changed; ``expect`` rewrites the expectation
    from the ledger (commit it with the change that moved the verdict); ``show`` prints one claim's rows.
    """
    import argparse
    import csv
    import sys

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["show"]:
        return _show_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m antithetic.workflow.claims", description=main.__doc__)
    parser.add_argument("action", choices=["check", "expect"])
    parser.add_argument("ledger", help="results/claims.json")
    parser.add_argument("expected", help="the committed expected verdicts (CSV)")
    args = parser.parse_args(argv)
    records = json.loads(Path(args.ledger).read_text())["rows"]
    if args.action == "expect":
        with open(args.expected, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=EXPECTED_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(expected_rows([r for r in records if not r.get("volatile")]))
        print(f"wrote {len(records)} expected verdicts to {args.expected}")
        return 0
    with open(args.expected, newline="") as f:
        expected = list(csv.DictReader(f))
    messages = compare_verdicts(records, expected)
    for m in messages:
        print(f"claims: {m}", file=sys.stderr)
    if messages:
        print(f"claims: {len(messages)} verdict(s) differ from {args.expected}; if the change is intended, run "
              f"`make expected-verdicts` and commit the file with the change", file=sys.stderr)
        return 1
    print(f"claims: all {len(records)} verdicts as expected")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
