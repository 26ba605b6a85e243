"""Jobs of the uncertainty-quantification stage: Table 2, CI length vs N, coverage, CI-width maps.

* :func:`run_uq_estimates`: one (model, sampler): every statistic of ``uq.statistics`` estimated by
  every method of ``uq.methods`` (MC, AMC, K-AMC, RQMC, picked by the design's kind) and by the
  control variates, from the sample files of the ``sample`` rule; CI length vs N from nested subsets;
  per-pixel estimate and CI-length maps of vector statistics.
* :func:`run_uq_coverage`: one analytic (model, sampler): ``repetitions`` independent estimates of
  ``num_samples`` samples per method, all drawn at once, against the true value (closed form for the
  affine model, else a large reference sample whose error is carried into the coverage target).
* :func:`run_table2`, :func:`run_uq_figures`: assemble the table and the figures.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..estimators import Estimate, ci_quantile, cv_estimate, group_estimate, noise_feature, pair_correlation
from ..io import atomic_path, load_samples, write_json
from ..noise import make_design
from ..sampling import SampleSet, generate
from ..statistics import evaluate_statistic, load_statistic
from ..validation import affine_output_law, affine_truth, coverage_summary
from .sampling import design_from_config, model_from_config, sampler_from_config

__all__ = ["ESTIMATOR_OF_DESIGN", "run_table2", "run_uq_coverage", "run_uq_estimates", "run_uq_figures"]

#: which estimator a design's samples feed
ESTIMATOR_OF_DESIGN = {"iid": "mc", "antithetic": "amc", "k_antithetic": "k_amc", "rqmc": "rqmc"}


# ------------------------------------------------------------------------------------ helpers
def _estimator_kind(samples: SampleSet, where: str) -> str:
    name = samples.design["name"]
    if name not in ESTIMATOR_OF_DESIGN:
        raise ValueError(f"{where}: design kind {name!r} has no estimator; use one of {sorted(ESTIMATOR_OF_DESIGN)}")
    return ESTIMATOR_OF_DESIGN[name]


def _order(samples: SampleSet) -> np.ndarray:
    return np.lexsort((samples.members, samples.groups))


def _grouped_values(samples: SampleSet, values: np.ndarray) -> np.ndarray:
    """Per-sample values ``(N, ...)`` -> ``(G, g, ...)`` in group and member order."""
    size = int(samples.design["group_size"])
    return values[_order(samples)].reshape(-1, size, *values.shape[1:])


def _initial_noise(samples: SampleSet, shape) -> np.ndarray:
    """Regenerate the initial noise of ``samples`` from its design's seed, ``(G, g, *shape)``."""
    params = {k: v for k, v in samples.design.items() if k not in ("name", "seed", "group_size")}
    design = make_design(samples.design["name"], seed=int(samples.design["seed"]), **params)
    indices = samples.indices[_order(samples)]
    z = np.concatenate([design.initial_noise(indices[i : i + 4096], shape).numpy() for i in range(0, len(indices), 4096)])
    return z.reshape(-1, int(samples.design["group_size"]), *shape)


def _statistics(config: dict[str, Any]) -> dict[str, Any]:
    return {name: load_statistic(path, config_key=f"uq.statistics.{name}") for name, path in config["uq"]["statistics"].items()}


def _mean(x: Any) -> float:
    return float(np.mean(x))


def _row(est: Estimate, *, sigma2: np.ndarray, level: float, quantile: str, seconds_per_sample: float, mc_seconds_per_sample: float) -> dict[str, Any]:
    scalar = np.ndim(est.estimate) == 0
    n = est.num_samples
    eff = float(np.sum(sigma2) / n / np.sum(est.variance)) if np.sum(est.variance) > 0 else float("inf")
    q_mc = ci_quantile(level, n - 1, quantile)
    return {
        "num_samples": n,
        "num_groups": est.num_groups,
        "group_size": est.group_size,
        "components": int(np.size(est.estimate)),
        "estimate": _mean(est.estimate),
        "ci_low": float(est.ci_low) if scalar else float("nan"),
        "ci_high": float(est.ci_high) if scalar else float("nan"),
        "ci_length": _mean(est.ci_length),
        "std_error": float(np.sqrt(np.mean(est.variance))),
        "mc_ci_length_equal_n": _mean(2 * q_mc * np.sqrt(sigma2 / n)),
        "efficiency": eff,
        "rho": _mean(est.extras["rho"]) if "rho" in est.extras else float("nan"),
        "seconds_per_sample": seconds_per_sample,
        "efficiency_per_time": eff * mc_seconds_per_sample / seconds_per_sample if seconds_per_sample > 0 else float("nan"),
        "degenerate": bool(est.extras.get("degenerate", False)),
    }


def _estimate(kind: str, values: np.ndarray, level: float, quantile: str) -> Estimate:
    est = group_estimate(values, level=level, quantile=quantile, method=kind)
    if kind == "amc":
        est.extras["rho"] = pair_correlation(values)
    return est


def _size_grid(num_groups: int, points: int = 8) -> list[int]:
    low = min(4, num_groups)
    return sorted({int(round(g)) for g in np.geomspace(low, num_groups, points)})


# ------------------------------------------------------------------------------------ estimates
def run_uq_estimates(
    config: dict[str, Any],
    *,
    model: str,
    sampler: str,
    inputs: dict[str, str | Path],
    out_estimates: str | Path,
    out_ci_vs_n: str | Path,
    out_pixels: str | Path,
) -> pd.DataFrame:
    """Table-2 rows, CI length vs N and per-pixel maps for one (model, sampler).

    Args:
        inputs: method name (a key of ``uq.methods``) -> samples file of its design.
    """
    uq = config["uq"]
    level, quantile = float(uq["level"]), uq["quantile"]
    statistics = _statistics(config)
    loaded = {method: load_samples(path) for method, path in inputs.items()}
    kinds = {method: _estimator_kind(ss, f"uq.methods.{method}") for method, ss in loaded.items()}
    mc_methods = [m for m, k in kinds.items() if k == "mc"]
    if not mc_methods:
        raise ValueError("uq.methods needs one method with an iid design: it is the MC baseline of the efficiencies")
    mc = loaded[mc_methods[0]]
    values = {
        (method, name): _grouped_values(ss, evaluate_statistic(fn, ss.samples, name=name))
        for method, ss in loaded.items()
        for name, fn in statistics.items()
    }
    sigma2 = {name: values[(mc_methods[0], name)].reshape(len(mc.samples), -1).var(axis=0, ddof=1).reshape(values[(mc_methods[0], name)].shape[2:]) for name in statistics}
    mc_sps = mc.seconds / len(mc.samples)

    rows, curves, pixels = [], [], {}
    labels = {"model": model, "sampler": sampler}
    for method, ss in loaded.items():
        kind = kinds[method]
        sps = ss.seconds / len(ss.samples)
        noise = None
        for name in statistics:
            v = values[(method, name)]
            common = dict(sigma2=sigma2[name], level=level, quantile=quantile, seconds_per_sample=sps, mc_seconds_per_sample=mc_sps)
            # 1. the design's own estimator
            est = _estimate(kind, v, level, quantile)
            rows.append({**labels, "statistic": name, "method": method, "estimator": kind, "design": ss.design["name"], **_row(est, **common)})
            if v.ndim > 2:
                pixels[f"{name}__{method}__estimate"] = np.asarray(est.estimate)
                pixels[f"{name}__{method}__ci_length"] = np.asarray(est.ci_length)
            # 2. control variates on the iid and antithetic designs
            if kind in ("mc", "amc"):
                for feature in uq.get("control_variates", []):
                    if noise is None:
                        noise = _initial_noise(ss, ss.samples.shape[1:])
                    phi = noise_feature(noise.reshape(-1, *noise.shape[2:]), feature).reshape(noise.shape[:2])
                    cv = cv_estimate(v, phi, level=level, quantile=quantile, method=f"{kind}+cv")
                    rows.append({**labels, "statistic": name, "method": f"{method}+cv:{feature}", "estimator": f"{kind}+cv", "design": ss.design["name"], **_row(cv, **common)})
            # 3. CI length vs N on nested subsets (scalar statistics)
            if v.ndim == 2:
                if kind == "rqmc":
                    subsets = [v[:, : 2**j] for j in range(int(np.log2(v.shape[1])) + 1)]
                else:
                    subsets = [v[:g] for g in _size_grid(len(v)) if g >= 2]
                for sub in subsets:
                    e = group_estimate(sub, level=level, quantile=quantile, method=kind)
                    curves.append({**labels, "statistic": name, "method": method, "estimator": kind, "num_samples": e.num_samples, "ci_length": float(e.ci_length), "estimate": float(e.estimate)})
    frame = pd.DataFrame(rows)
    with atomic_path(out_estimates) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(out_ci_vs_n) as tmp:
        pd.DataFrame(curves).to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(out_pixels, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **pixels)
    return frame


# ------------------------------------------------------------------------------------ coverage
def run_uq_coverage(
    config: dict[str, Any],
    *,
    model: str,
    sampler: str,
    out_coverage: str | Path,
    out_provenance: str | Path,
    device: str = "auto",
    batch_size: int = 4096,
    progress: bool = True,
) -> pd.DataFrame:
    """Bias and coverage of every method's CI on an analytic model (see module docs)."""
    uq = config["uq"]
    cov = uq["coverage"]
    level, quantile = float(uq["level"]), uq["quantile"]
    reps, n = int(cov["repetitions"]), int(cov["num_samples"])
    net = model_from_config(config, model, device=device)
    if net.info.get("kind") not in ("affine_odd", "gaussian_mixture"):
        raise ValueError(f"uq.coverage.runs.{model}: coverage needs an analytic model (affine_odd, gaussian_mixture)")
    kind, options = sampler_from_config(config, sampler)
    statistics = _statistics(config)

    # 1. the truth: closed form where it exists, else a large independent antithetic reference sample
    truths: dict[str, tuple[np.ndarray, float]] = {}
    if net.info["kind"] == "affine_odd" and kind == "ddim" and float(options.get("eta", 0.0)) == 0:
        alpha, beta = affine_output_law(net, kind, options)
        for name, fn in statistics.items():
            value = affine_truth(fn, alpha, beta)
            if value is not None:
                truths[name] = (np.asarray(value), 0.0)
    reference_seconds = 0.0
    missing = [name for name in statistics if name not in truths]
    if missing:
        ref_design = make_design("antithetic", seed=int(cov["reference_seed"]))
        if int(cov["reference_seed"]) == int(config.get("seed", 0)):
            raise ValueError("uq.coverage.reference_seed must differ from the config's seed (the reference must be independent)")
        ref = generate(net, design=ref_design, num_samples=int(cov["reference_samples"]), sampler=kind, sampler_options=options, batch_size=batch_size, progress=progress)
        reference_seconds = ref.seconds
        for name in missing:
            est = group_estimate(_grouped_values(ref, evaluate_statistic(statistics[name], ref.samples, name=name)), level=level, quantile=quantile)
            truths[name] = (np.asarray(est.estimate), float(np.sqrt(np.mean(est.variance))))

    rows = []
    seconds = {}
    for method, design_name in cov["methods"].items():
        design = design_from_config(config, design_name)
        est_kind = ESTIMATOR_OF_DESIGN.get(design.name)
        if est_kind is None:
            raise ValueError(f"uq.coverage.methods.{method}: design kind {design.name!r} has no estimator")
        if n % design.group_size or n // design.group_size < 3:
            raise ValueError(f"uq.coverage.num_samples={n} must be a multiple of the group size {design.group_size} of design {design_name!r} with at least 3 groups")
        # 2. all repetitions at once: repetition r owns samples r*n .. (r+1)*n - 1
        began = time.perf_counter()
        ss = generate(net, design=design, num_samples=reps * n, sampler=kind, sampler_options=options, batch_size=batch_size, progress=progress)
        seconds[method] = time.perf_counter() - began
        noise = None
        for name, fn in statistics.items():
            v = _grouped_values(ss, evaluate_statistic(fn, ss.samples, name=name))
            v = v.reshape(reps, -1, *v.shape[1:])
            truth, truth_se = truths[name]
            variants = [(method, est_kind, None)]
            if est_kind in ("mc", "amc") and v.ndim == 3:
                variants += [(f"{method}+cv:{f}", f"{est_kind}+cv", f) for f in uq.get("control_variates", [])]
            for label, estimator, feature in variants:
                if feature is not None and noise is None:
                    noise = _initial_noise(ss, ss.samples.shape[1:]).reshape(reps, -1, design.group_size, *ss.samples.shape[1:])
                ests = []
                for r in range(reps):
                    if feature is None:
                        ests.append(group_estimate(v[r], level=level, quantile=quantile, method=estimator))
                    else:
                        phi = noise_feature(noise[r].reshape(-1, *noise.shape[3:]), feature).reshape(noise.shape[1:3])
                        ests.append(cv_estimate(v[r], phi, level=level, quantile=quantile, method=estimator))
                base = {"model": model, "sampler": sampler, "statistic": name, "method": label, "estimator": estimator, "design": design.name, "num_samples": n, "truth_kind": "closed form" if truth_se == 0 else "reference"}
                if v.ndim == 3:
                    summary = coverage_summary(
                        np.array([e.estimate for e in ests]), np.array([e.ci_low for e in ests]), np.array([e.ci_high for e in ests]),
                        np.array([e.std_error for e in ests]), truth=float(truth), truth_se=truth_se, level=level,
                    )
                    rows.append({**base, "components": 1, **summary})
                else:
                    covered = np.mean([np.mean(e.covers(truth)) for e in ests])
                    bias = np.mean([e.estimate for e in ests], axis=0) - truth
                    rows.append({**base, "components": int(np.size(truth)), "repetitions": reps, "coverage": float(covered), "coverage_low": float("nan"), "coverage_high": float("nan"), "binomial_se": float("nan"), "target": level if truth_se == 0 else float("nan"), "bias": float(np.mean(np.abs(bias))), "bias_se": float("nan"), "mean_ci_length": float(np.mean([np.mean(e.ci_length) for e in ests])), "truth": float(np.mean(truth)), "truth_se": truth_se})
    frame = pd.DataFrame(rows)
    with atomic_path(out_coverage) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    write_json(out_provenance, {"model": model, "sampler": {"name": sampler, "kind": kind, **options}, "coverage": cov, "level": level, "quantile": quantile, "sampling_seconds": seconds, "reference_seconds": reference_seconds, "seed": config.get("seed", 0)})
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
    fmt["efficiency"] = frame["efficiency"].map(lambda x: f"{x:.2f}")
    fmt["rho"] = frame["rho"].map(lambda x: "" if pd.isna(x) else f"{x:.3f}")
    fmt["ms/sample"] = (1000 * frame["seconds_per_sample"]).map(lambda x: f"{x:.3f}")
    fmt["efficiency/time"] = frame["efficiency_per_time"].map(lambda x: f"{x:.2f}")
    write_table(
        frame, fmt, csv=out_csv, markdown=out_markdown, latex=out_latex,
        caption="Table 2: estimates with their CI half-length, CI length, efficiency (CI_MC/CI)^2 at equal N "
        "(variance ratio; vector statistics: pixel-averaged CI length, total-variance ratio), AMC pair "
        "correlation rho, sampling time per sample and efficiency per unit of sampling time.",
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
        cfmt["bias (SE)"] = [f"{b:.4f}" if pd.isna(s) else f"{b:.4f} ({s:.4f})" for b, s in zip(cov["bias"], cov["bias_se"])]
        cfmt["truth"] = cov["truth_kind"]
    write_table(
        cov, cfmt, csv=cov_csv, markdown=cov_markdown, latex=cov_latex,
        caption="Coverage of the CIs over repeated estimates on the analytic models: empirical coverage with its exact "
        "binomial 95% interval, the target (nominal level, lowered slightly when the truth is a reference estimate), "
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
