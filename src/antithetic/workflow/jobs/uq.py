"""Jobs of the uncertainty-quantification stage: Table 2, CI length vs N, coverage, CI-width maps.

Each job loads its inputs, calls the tested library (:mod:`antithetic.estimators`,
:mod:`antithetic.coverage_study`) and writes its outputs; it receives the resolved ``uq`` section (and,
for coverage, the model, sampler and design specs it uses), never the whole config.

* :func:`run_uq_estimates`: one (model, sampler): every statistic of ``uq.statistics`` (and, for the
  models of ``uq.semantic.models``, the digits classifier's statistics of ``uq.semantic.statistics``) estimated by
  every method of ``uq.methods`` (MC, AMC, K-AMC, RQMC, picked by the design's kind) and by the
  control variates, from the sample files of the ``sample`` rule, with efficiency CIs; CI length vs N
  from nested subsets; per-pixel estimate and CI-length maps of vector statistics.
* :func:`run_uq_coverage`: one analytic (model, sampler): :func:`antithetic.coverage_study.coverage_study`
  against :func:`antithetic.coverage_study.truths_of`.
* :func:`run_table2`, :func:`run_uq_figures`: assemble the table and the figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...artifacts import atomic_path, write_json
from ..config import ConfigError, naming_key

__all__ = ["run_table2", "run_uq_coverage", "run_uq_estimates", "run_uq_figures", "semantic_statistics"]


def _statistics(uq: dict[str, Any]) -> dict[str, Any]:
    from ...image_statistics import load_statistic

    statistics = {}
    for name, path in uq["statistics"].items():
        with naming_key(f"uq.statistics.{name}"):
            statistics[name] = load_statistic(path)
    return statistics


def semantic_statistics(names: list[str], *, model: str, classifier: str | Path, class_labels: dict[str, Any] | None) -> dict[str, Any]:
    """The digits classifier's statistics ``names`` (:mod:`antithetic.semantic_statistics`) of one model.

    Args:
        names: the semantic statistics (``uq.semantic.statistics``); ``requested_class_probability`` is kept
            only for a class-conditional model, ``class_probabilities`` and ``predicted_class`` only for the others.
        classifier: the folder of the trained digits classifier.
        class_labels: ``{"class_labels", "label_seed"}`` of a class-conditional model (its requested
            classes, recomputed from the sample indices as the model draws them); ``None`` otherwise.
    """
    from ...classifier import load_classifier
    from ...models.conditional import ClassLabels
    from ...semantic_statistics import ClassifierStatistics

    net = load_classifier(classifier)
    labels = None
    classes = (class_labels or {}).get("num_classes")
    if classes is not None and int(classes) != int(net.config.num_classes):
        raise ConfigError(f"config key 'uq.semantic.models' names {model!r}, a model of {classes} classes, but the classifier "
                          f"reads {net.config.num_classes}; leave the model out of uq.semantic.models")
    if class_labels is not None:
        with naming_key(f"models.{model}.class_labels"):
            labels = ClassLabels(class_labels.get("class_labels", "random"), num_classes=int(net.config.num_classes),
                                 seed=int(class_labels.get("label_seed", 0)))
    # A class-conditional model's class law is the requested labels' (uniform here), not the model's, and consecutive
    # samples share their class (a PN or RR pair, antithetic.models.conditional): the class-law statistics would
    # measure the label draw, and their MC CI would treat dependent samples as independent. Such a model gets
    # the statistics of how it renders a class (confidence, the requested class's probability).
    class_law = ("class_probabilities", "predicted_class")
    kept = [n for n in names if (labels is None and n != "requested_class_probability") or (labels is not None and n not in class_law)]
    with naming_key("uq.semantic.statistics"):
        return ClassifierStatistics(net, labels=labels).statistics(kept)


def _size_grid(num_groups: int, points: int = 8) -> list[int]:
    low = min(4, num_groups)
    return sorted({int(round(g)) for g in np.geomspace(low, num_groups, points)})


# ------------------------------------------------------------------------------------ estimates
#: samples read at once from a samples file
CHUNK_SIZE = 64
#: memory (MB) for one block of a vector statistic's values, ``N x width`` float64: a statistic of more
#: components (a per-pixel map) is estimated block by block, reading its samples file once per block
BLOCK_MB = 64
#: fewest components in a block (numpy's reductions take another path on very narrow arrays)
MIN_BLOCK = 16


def _column_blocks(components: int, num_samples: int, block_mb: float) -> list[slice]:
    width = max(MIN_BLOCK, int(block_mb * 2**20 // (8 * max(num_samples, 1))))
    count = max(1, -(-components // width))
    edges = np.linspace(0, components, count + 1).astype(int)
    return [slice(int(lo), int(hi)) for lo, hi in zip(edges[:-1], edges[1:])]


def _estimates_of(kind: str, v: np.ndarray, features: dict[str, np.ndarray], *, baseline: bool, level: float, quantile: str) -> dict[str, Any]:
    """Every estimate of one method's grouped values ``v`` (all components, or one block of them); MC values in
    groups of more than one sample (condition slots, :func:`_condition_groups`) are estimated by their group means."""
    from ...estimators import cv_estimate, estimate_groups, group_estimate, jackknife_variances

    n = v.shape[0] * v.shape[1]
    if kind == "mc" and v.shape[1] > 1:
        estimate = group_estimate(v, level=level, quantile=quantile, method="mc")
    else:
        estimate = estimate_groups(kind, v, level=level, quantile=quantile)
    out: dict[str, Any] = {"estimate": estimate, "cv": {}, "jackknife": {}}
    if baseline:
        if kind == "mc" and v.shape[1] > 1:  # condition slots: sigma^2 of one sample of the slot design
            out["sigma2"] = v.shape[1] * v.mean(axis=1).var(axis=0, ddof=1)
        else:
            out["sigma2"] = v.reshape(n, *v.shape[2:]).var(axis=0, ddof=1)
    for feature, phi in features.items():
        cv = cv_estimate(v, phi, level=level, quantile=quantile, method=f"{kind}+cv")
        out["cv"][feature] = cv
        if baseline and not cv.extras["degenerate"]:
            out["jackknife"][feature] = jackknife_variances(v, phi, level=level, quantile=quantile)
    return out


def _condition_groups(kind: str, v: np.ndarray, samples_per_condition: int) -> np.ndarray:
    """MC values ``(N, 1, ...)`` of a conditional model as ``(N / s, s, ...)``, one group per condition slot.

    Consecutive samples ``s j .. s j + s - 1`` share their condition (a class label; ``s`` = 2, a PN or RR pair,
    :mod:`antithetic.models.conditional`), so they are dependent through it: the MC interval takes the slots,
    which are independent, as its groups. Other estimators' groups already hold whole slots."""
    if kind != "mc" or samples_per_condition <= 1:
        return v
    if len(v) % samples_per_condition:
        raise ValueError(f"{len(v)} MC samples do not fill whole condition slots of {samples_per_condition} samples; "
                         f"make the MC method's num_samples a multiple of {samples_per_condition}")
    return v.reshape(-1, samples_per_condition, *v.shape[2:])


def _merged(blocks: list[dict[str, Any]], shape: tuple[int, ...]) -> dict[str, Any]:
    """The estimates of a vector statistic of ``shape`` from those of consecutive blocks of its components."""
    from ...estimators import merge_component_blocks

    if len(blocks) == 1 and shape == blocks[0]["estimate"].estimate.shape:
        return blocks[0]
    out: dict[str, Any] = {
        "estimate": merge_component_blocks([b["estimate"] for b in blocks], shape),
        "cv": {f: merge_component_blocks([b["cv"][f] for b in blocks], shape) for f in blocks[0]["cv"]},
        "jackknife": {},
    }
    if "sigma2" in blocks[0]:
        out["sigma2"] = np.concatenate([b["sigma2"].reshape(-1) for b in blocks]).reshape(shape)
    for f, first in blocks[0]["jackknife"].items():
        out["jackknife"][f] = {**first, **{k: np.concatenate([b["jackknife"][f][k] for b in blocks], axis=1) for k in ("mc", "cv")}}
    return out


def run_uq_estimates(
    uq: dict[str, Any],
    *,
    model: str,
    sampler: str,
    inputs: dict[str, str | Path],
    out_estimates: str | Path,
    out_ci_vs_n: str | Path,
    out_pixels: str | Path,
    chunk_size: int = CHUNK_SIZE,
    block_mb: float = BLOCK_MB,
    extra_statistics: dict[str, Any] | None = None,
    samples_per_condition: int = 1,
) -> pd.DataFrame:
    """Table-2 rows, CI length vs N and per-pixel maps for one (model, sampler).

    The samples files are read ``chunk_size`` samples at a time; a scalar statistic keeps its ``N``
    values, a vector statistic (a per-pixel map) is estimated in blocks of its components of about
    ``block_mb`` MB of values each, so memory does not grow with ``N`` beyond the statistic's own size.
    Every estimator is component-wise apart from sums over components, which are taken over the joined
    blocks: the numbers are those of the estimators on all values at once.

    Args:
        uq: the resolved ``uq`` config section (``level``, ``quantile``, ``statistics``, ``control_variates``).
        inputs: method name (a key of ``uq.methods``) -> samples file of its design.
        extra_statistics: further statistics by name, after those of ``uq.statistics`` (the semantic ones,
            :func:`semantic_statistics`).
        samples_per_condition: consecutive samples that share a condition (2 for a class-conditional model, 1
            otherwise): the MC estimates group them (:func:`_condition_groups`).
    """
    from ...artifacts import iter_samples, load_sample_addresses
    from ...coverage_study import estimator_of, group_noise_features, grouped_file_values
    from ...estimators import (
        efficiency_interval_bootstrap,
        efficiency_interval_of_jackknife,
        estimate_summary,
        group_estimate,
    )
    from ...image_statistics import evaluate_statistic

    level, quantile = float(uq["level"]), uq["quantile"]
    statistics = {**_statistics(uq), **(extra_statistics or {})}
    loaded = {method: load_sample_addresses(path) for method, path in inputs.items()}
    kinds = {}
    for method, ss in loaded.items():
        with naming_key(f"uq.methods.{method}.design"):
            kinds[method] = estimator_of(ss.design)
    for method, ss in loaded.items():  # a group that splits a condition slot would depend on its neighbour
        if kinds[method] != "mc" and int(ss.design["group_size"]) % samples_per_condition:
            raise ConfigError(f"config key 'uq.methods.{method}.design': groups of {ss.design['group_size']} samples split the "
                              f"condition slots ({samples_per_condition} samples share a class) of a class-conditional model; "
                              f"use a group size that is a multiple of {samples_per_condition}")
    mc_methods = [m for m, k in kinds.items() if k == "mc"]
    if not mc_methods:
        raise ValueError("uq.methods needs one method with an iid design: it is the MC baseline of the efficiencies")
    baseline = mc_methods[0]
    mc = loaded[baseline]
    n_mc = len(mc.indices)
    mc_sps = mc.seconds / n_mc
    control_variates = list(uq.get("control_variates", []))
    features = {
        m: {f: _condition_groups(kinds[m], phi, samples_per_condition) for f, phi in group_noise_features(ss, control_variates).items()}
        if kinds[m] in ("mc", "amc") else {}
        for m, ss in loaded.items()
    }

    # every estimate of every (method, statistic); the baseline first (its sigma^2 enters every row)
    results: dict[tuple[str, str], dict[str, Any]] = {}
    scalars: dict[tuple[str, str], np.ndarray] = {}
    vectors: dict[tuple[str, str], np.ndarray] = {}  # the extra statistics' vector values, (G, g, components)
    extra = set(extra_statistics or {})
    for name, fn in statistics.items():
        for method in [baseline] + [m for m in loaded if m != baseline]:
            ss, path = loaded[method], inputs[method]
            same = method == baseline
            opts = dict(baseline=same, level=level, quantile=quantile)
            shape = evaluate_statistic(fn, next(iter_samples(path, 1)), name=name, indices=ss.indices[:1]).shape[1:]
            if not shape:  # a scalar statistic: its N values, all at once
                v = _condition_groups(kinds[method], grouped_file_values(path, ss, fn, name=name, chunk_size=chunk_size), samples_per_condition)
                scalars[(method, name)] = v
                results[(method, name)] = _estimates_of(kinds[method], v, features[method], **opts)
                continue
            blocks, kept = [], []
            for cols in _column_blocks(int(np.prod(shape)), len(ss.indices), block_mb):
                v = _condition_groups(kinds[method], grouped_file_values(path, ss, fn, name=name, columns=cols, chunk_size=chunk_size),
                                      samples_per_condition)
                blocks.append(_estimates_of(kinds[method], v, features[method], **opts))
                if name in extra:  # a few components (the classifier's): kept whole for the bootstrap interval
                    kept.append(v)
            results[(method, name)] = _merged(blocks, shape)
            if kept:
                vectors[(method, name)] = np.concatenate(kept, axis=-1)
    sigma2 = {name: results[(baseline, name)]["sigma2"] for name in statistics}
    # the MC run's independent units (samples, or condition slots): the degrees of freedom of sigma^2
    mc_units = n_mc // samples_per_condition
    # bounded statistics with rare outliers (the classifier's, scalar or vector): a bootstrap efficiency interval, not the F one
    kept_values = {**scalars, **vectors}
    robust = {name for name in extra if (baseline, name) in kept_values}

    rows, curves, pixels = [], [], {}
    labels = {"model": model, "sampler": sampler}
    for method, ss in loaded.items():
        kind = kinds[method]
        sps = ss.seconds / len(ss.indices)
        timing = {"seconds_per_sample": sps}
        for name in statistics:
            res = results[(method, name)]
            common = dict(sample_variance=sigma2[name], mc_num_samples=mc_units, level=level, quantile=quantile)
            same = method == baseline
            # 1. the design's own estimator
            est = res["estimate"]
            ci, ci_method = None, "F"
            if name in robust and not same:
                mc_values, values = kept_values[(baseline, name)], kept_values[(method, name)]
                ci = efficiency_interval_bootstrap(mc_values.mean(axis=1), values.mean(axis=1), samples_per_unit=mc_values.shape[1],
                                                   samples_per_group=values.shape[1], level=level)
                ci_method = "bootstrap"
            row = estimate_summary(est, same_samples=same, efficiency_ci=ci, **common)
            if ci is not None:  # the bootstrap gives no CI-ratio; keep the one of the F computation
                row["ci_ratio_squared"] = estimate_summary(est, same_samples=same, **common)["ci_ratio_squared"]
            rows.append({**labels, "statistic": name, "method": method, "estimator": kind, "design": ss.design["name"], **row,
                         "efficiency_ci_method": ci_method, **timing})
            if np.ndim(est.estimate) > 0:
                pixels[f"{name}__{method}__estimate"] = np.asarray(est.estimate)
                pixels[f"{name}__{method}__ci_length"] = np.asarray(est.ci_length)
            # 2. control variates on the iid and antithetic designs
            for feature, cv in res["cv"].items():
                jk = res["jackknife"].get(feature)
                ci = efficiency_interval_of_jackknife(jk, level=level, quantile=quantile) if jk is not None else None
                row = estimate_summary(cv, same_samples=same, efficiency_ci=ci, **common)
                rows.append({**labels, "statistic": name, "method": f"{method}+cv:{feature}", "estimator": f"{kind}+cv", "design": ss.design["name"], **row,
                             "efficiency_ci_method": "jackknife" if jk is not None else "F", **timing})
            # 3. CI length vs N on nested subsets (scalar statistics)
            if (method, name) in scalars:
                v = scalars[(method, name)]
                if kind == "rqmc":
                    subsets = [v[:, : 2**j] for j in range(int(np.log2(v.shape[1])) + 1)]
                else:
                    subsets = [v[:g] for g in _size_grid(len(v)) if g >= 2]
                for sub in subsets:
                    e = group_estimate(sub, level=level, quantile=quantile, method=kind)
                    curves.append({**labels, "statistic": name, "method": method, "estimator": kind, "num_samples": e.num_samples, "ci_length": float(e.ci_length), "estimate": float(e.estimate)})
    frame = pd.DataFrame(rows)
    frame["efficiency_per_time"] = frame["efficiency"] * mc_sps / frame["seconds_per_sample"].where(frame["seconds_per_sample"] > 0)
    with atomic_path(out_estimates) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(out_ci_vs_n) as tmp:
        pd.DataFrame(curves).to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(out_pixels, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **pixels)
    return frame


# ------------------------------------------------------------------------------------ coverage
def run_uq_coverage(
    uq: dict[str, Any],
    *,
    model: str,
    model_spec: dict[str, Any],
    sampler: str,
    sampler_spec: dict[str, Any],
    designs: dict[str, dict[str, Any]],
    seed: int,
    out_coverage: str | Path,
    out_provenance: str | Path,
    device: str = "auto",
    batch_size: int = 4096,
    progress: bool = True,
) -> pd.DataFrame:
    """Bias, coverage and calibration of every method's CI on an analytic model.

    Args:
        uq: the resolved ``uq`` section (``level``, ``quantile``, ``statistics``, ``control_variates``,
            ``coverage``).
        model_spec, sampler_spec: the resolved ``models.<model>`` and ``samplers.<sampler>`` entries.
        designs: design name -> resolved ``designs.<name>`` entry, for every design of ``uq.coverage.methods``.
        seed: the config's base seed (the methods' noise); the reference uses ``uq.coverage.reference_seed``.
    """
    from ...coverage_study import check_coverage_designs, coverage_study, truths_of
    from .sampling import design_from_spec, load_model, sampler_from_spec

    cov = uq["coverage"]
    level, quantile = float(uq["level"]), uq["quantile"]
    if int(cov["reference_seed"]) == int(seed):
        raise ValueError("uq.coverage.reference_seed must differ from the config's seed (the reference must be independent)")
    net = load_model(model, model_spec, device=device)
    if net.info.get("kind") not in ("affine_odd", "gaussian_mixture"):
        raise ValueError(f"uq.coverage.runs.{model}: coverage needs an analytic model (affine_odd, gaussian_mixture)")
    kind, options = sampler_from_spec(sampler_spec)
    statistics = _statistics(uq)
    truths, reference_seconds = truths_of(
        net, kind, options, statistics,
        reference_design=design_from_spec({"kind": "antithetic"}, seed=int(cov["reference_seed"])),
        reference_samples=int(cov["reference_samples"]), level=level, quantile=quantile, batch_size=batch_size, progress=progress,
    )
    methods = {method: design_from_spec(designs[name], seed=int(seed)) for method, name in cov["methods"].items()}
    with naming_key("uq.coverage", fix="designs[m] is the design of uq.coverage.methods.m; change num_samples or that design"):
        check_coverage_designs(methods, num_samples=int(cov["num_samples"]), control_variates=list(uq.get("control_variates", [])))
    rows, seconds = coverage_study(
        net, kind, options,
        designs=methods,
        statistics=statistics, truths=truths, repetitions=int(cov["repetitions"]), num_samples=int(cov["num_samples"]),
        control_variates=list(uq.get("control_variates", [])), level=level, quantile=quantile, batch_size=batch_size, progress=progress,
    )
    frame = pd.DataFrame([{"model": model, "sampler": sampler, **row} for row in rows])
    with atomic_path(out_coverage) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    write_json(out_provenance, {"model": model, "sampler": {"name": sampler, "kind": kind, **options}, "coverage": cov, "level": level, "quantile": quantile, "sampling_seconds": seconds, "reference_seconds": reference_seconds, "seed": seed})
    return frame
# ------------------------------------------------------------------------------------ table and figures
def run_table2(*, estimates: list[str | Path], coverage: list[str | Path], out_csv, out_markdown, out_latex, cov_csv, cov_markdown, cov_latex) -> None:
    """Table 2 (model x statistic x method) and the coverage table."""
    from ..tables import write_table

    frame = pd.concat([pd.read_csv(p) for p in estimates], ignore_index=True)
    fmt = frame[["model", "sampler", "statistic", "method"]].copy()
    fmt["N"] = frame["num_samples"]
    fmt["estimate"] = [f"{e:.3f} ± {h:.3f}" for e, h in zip(frame["estimate"], frame["ci_length"] / 2)]
    fmt["CI length"] = frame["ci_length"].map(lambda x: f"{x:.4f}")
    fmt["efficiency [95% CI]"] = [
        f"{e:.2f}" if pd.isna(lo) or lo == hi else f"{e:.2f} [{lo:.2f}, {hi:.2f}]"
        for e, lo, hi in zip(frame["efficiency"], frame["efficiency_low"], frame["efficiency_high"])
    ]
    fmt["(CI_MC/CI)^2"] = frame["ci_ratio_squared"].map(lambda x: f"{x:.2f}")
    fmt["rho_w"] = frame["rho_w"].map(lambda x: "" if pd.isna(x) else f"{x:.3f}")
    fmt["ms/sample"] = (1000 * frame["seconds_per_sample"]).map(lambda x: f"{x:.3f}")
    fmt["efficiency/time"] = frame["efficiency_per_time"].map(lambda x: f"{x:.2f}")
    write_table(
        frame, fmt, csv=out_csv, markdown=out_markdown, latex=out_latex,
        caption="Table 2: estimates with their CI half-length and CI length; efficiency = variance ratio "
        "(sigma^2/N)/Var(estimator) at equal N (sigma^2 from the MC run; vector statistics: total-variance "
        "ratio, pixel-averaged CI length) with its 95% CI (column efficiency_ci_method: F interval with N_MC - 1 "
        "and G - 1 degrees of freedom; a BCa bootstrap over the MC units and the groups for the classifier's "
        "statistics, whose rare outliers the F interval ignores; a block jackknife for control variates on the MC "
        "samples themselves; a class-conditional model's MC units are its condition slots); (CI_MC/CI)^2 = the "
        "squared ratio of CI lengths, i.e. the efficiency times the squared ratio of the two t quantiles; "
        "rho_w = variance-weighted within-group correlation (AMC: efficiency 1/(1+rho_w) with the pairs' own "
        "variance); sampling time per sample and efficiency per unit of sampling time.",
        label="tab:uq",
    )
    cov = pd.concat([pd.read_csv(p) for p in coverage], ignore_index=True) if coverage else pd.DataFrame()
    if cov.empty:
        cfmt = cov
    else:
        cfmt = cov[["model", "sampler", "statistic", "method", "num_samples", "repetitions"]].copy()
        cfmt["coverage [95% CI]"] = [
            f"{c:.3f}" if pd.isna(lo) else f"{c:.3f} [{lo:.3f}, {hi:.3f}]"
            for c, lo, hi in zip(cov["coverage"], cov["coverage_low"], cov["coverage_high"])
        ]
        cfmt["target"] = cov["target"].map(lambda x: "" if pd.isna(x) else f"{x:.3f}")
        cfmt["SE^2/Var"] = cov["se_calibration"].map(lambda x: "" if pd.isna(x) else f"{x:.2f}")
        cfmt["bias (SE)"] = [f"{b:.4f}" if pd.isna(s) else f"{b:.4f} ({s:.4f})" for b, s in zip(cov["bias"], cov["bias_se"])]
        cfmt["truth"] = cov["truth_kind"]
    write_table(
        cov, cfmt, csv=cov_csv, markdown=cov_markdown, latex=cov_latex,
        caption="Coverage of the CIs over repeated estimates on the analytic models: empirical coverage with its exact "
        "binomial 95% interval, the target (nominal level, lowered slightly when the truth is a reference estimate), "
        "the calibration mean SE^2 / Var(estimates) (1 for a calibrated CI; coverage alone misses CIs that are too long), "
        "and the bias with its standard error (vector statistics: pixel-averaged coverage, mean |bias|).",
        label="tab:coverage",
    )


def run_uq_figures(
    *, ci_vs_n: list[str | Path], coverage: list[str | Path], pixels: dict[str, str | Path], out_ci_vs_n, out_coverage, out_maps, maps_statistic: str, maps_methods: tuple[str, str]
) -> None:
    """Log-log CI length vs N, coverage figure and the per-pixel CI-width maps."""
    from ..plotting.uq import plot_ci_vs_n, plot_ci_width_maps, plot_coverage

    curves = pd.concat([pd.read_csv(p) for p in ci_vs_n], ignore_index=True)
    plot_ci_vs_n(curves, path=out_ci_vs_n)
    cov = pd.concat([pd.read_csv(p) for p in coverage], ignore_index=True) if coverage else pd.DataFrame()
    plot_coverage(cov, path=out_coverage)
    maps = {}
    for model, path in pixels.items():
        with np.load(path) as data:
            maps[model] = {k: data[k] for k in data.files}
    plot_ci_width_maps(maps, statistic=maps_statistic, methods=maps_methods, path=out_maps)
