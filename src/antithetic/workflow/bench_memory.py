"""Peak memory of the network jobs at two sample counts (``make bench-memory``).

Each measurement runs one job's function in a fresh Python process on small stand-in inputs (random
samples of ``--size`` x ``--size`` RGB images, an analytic model for the trajectories) and reports that
process's peak resident set size (``ru_maxrss``). The growth between the two sizes, per sample, is what
a job's ``mem_mb`` has to scale with; a job that streams its inputs grows by little more than nothing.
``benchmark:`` files of a local run cannot give this: under the fork servers they measure the waiting
process, not the job (docs/performance.md).

    python -m antithetic.workflow.bench_memory [--size 64] [--small 64] [--large 256] [--src PATH]

``--src`` runs the children on another copy of ``src/`` (e.g. an older commit's) to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["JOBS", "measure", "main"]

ROOT = Path(__file__).resolve().parents[3]

#: job -> what its ``n`` counts
JOBS = {
    "uq_estimates": "samples per method (4 methods, brightness and mean_image, both control variates)",
    "diversity": "pairs (PN and RR; SSIM)",
    "trajectory_correlations": "pairs (PN and RR, 10 DDIM steps, x_t and eps_t)",
}


def _samples(path: Path, design: dict[str, Any], n: int, size: int, seed: int) -> None:
    import numpy as np

    from antithetic.artifacts import save_samples
    from antithetic.sample_set import SampleSet

    g = int(design["group_size"])
    rng = np.random.default_rng(seed)
    x = np.tanh(rng.normal(size=(n, 3, size, size))).astype(np.float32)
    k = np.arange(n)
    save_samples(path, SampleSet(samples=x, indices=k, groups=k // g, members=k % g, design=design, sampler={"name": "ddim"},
                                 seconds=1.0, noise_shape=(3, size // 8, size // 8)))


def _prepare(job: str, n: int, size: int, work: Path) -> None:
    if job == "uq_estimates":
        for i, (method, design) in enumerate(_UQ_DESIGNS.items()):
            _samples(work / f"{method}.npz", design, n, size, i)
    elif job == "diversity":
        _samples(work / "pn.npz", {"name": "antithetic", "seed": 0, "group_size": 2}, 2 * n, size, 0)
        _samples(work / "rr.npz", {"name": "iid", "seed": 0, "group_size": 1}, 2 * n, size, 1)


_UQ_DESIGNS = {"mc": {"name": "iid", "seed": 0, "group_size": 1}, "amc": {"name": "antithetic", "seed": 0, "group_size": 2},
               "k_amc": {"name": "k_antithetic", "seed": 0, "group_size": 8, "k": 8},
               "rqmc": {"name": "rqmc", "seed": 0, "group_size": 8, "m": 3, "high_dim": "error", "max_sobol_dim": 21201}}


def _child(job: str, n: int, size: int, work: Path) -> None:
    if job == "uq_estimates":
        from antithetic.workflow.jobs.uq import run_uq_estimates

        inputs = {method: work / f"{method}.npz" for method in _UQ_DESIGNS}
        uq = {"level": 0.95, "quantile": "t", "control_variates": ["linear", "quadratic"],
              "statistics": {"brightness": "antithetic.image_statistics.brightness", "mean_image": "antithetic.image_statistics.mean_image"}}
        reset = _reset_peak()
        run_uq_estimates(uq, model="m", sampler="s", inputs=inputs, out_estimates=work / "e.csv", out_ci_vs_n=work / "c.csv", out_pixels=work / "p.npz")
    elif job == "diversity":
        from antithetic.workflow.jobs.diversity import run_diversity

        settings = {"ssim_kernel_size": 11, "ssim_sigma": 1.5, "perceptual": [], "lpips_size": 64, "bootstrap": 100, "level": 0.95, "seed": 0}
        reset = _reset_peak()
        run_diversity(pn_path=work / "pn.npz", rr_path=work / "rr.npz", classifier_dir=None, settings=settings, labels={},
                      out_pairs=work / "pairs.csv", out_summary=work / "summary.json")
    elif job == "trajectory_correlations":
        from antithetic.models.analytic import gaussian_model
        from antithetic.noise import AntitheticNoise, IIDNoise
        from antithetic.trajectories import trajectory_correlations

        model = gaussian_model(mean=0.2, std=0.5, sample_shape=(3, size, size))
        reset = _reset_peak()
        trajectory_correlations(model, pn_design=AntitheticNoise(seed=0), rr_design=IIDNoise(seed=0), sampler="ddim",
                                sampler_options={"num_steps": 10}, pairs=n, batch_size=16, progress=False)
    else:
        raise ValueError(f"unknown job {job!r}; known: {sorted(JOBS)}")
    import resource

    print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "before_mb": reset}))


def _reset_peak() -> float:
    """Peak RSS (MB) after the inputs were written: what the job adds comes on top of it."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(job: str, n: int, *, size: int = 64, src: Path | None = None) -> dict[str, float]:
    """Peak RSS (MB) of a fresh process that runs ``job`` on ``n`` (see :data:`JOBS`) stand-in inputs."""
    env = {**os.environ, "PYTHONPATH": str(src or ROOT / "src"), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as work:
        _prepare(job, n, size, Path(work))
        code = f"from antithetic.workflow.bench_memory import _child; from pathlib import Path; _child({job!r}, {n}, {size}, Path({work!r}))"
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{job} at n={n} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m antithetic.workflow.bench_memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=64, help="image side of the stand-in samples (default 64)")
    parser.add_argument("--small", type=int, default=64)
    parser.add_argument("--large", type=int, default=256)
    parser.add_argument("--jobs", nargs="*", default=list(JOBS))
    parser.add_argument("--src", type=Path, default=None, help="the src/ directory the children import (default: this one)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "memory.json")
    args = parser.parse_args(argv)
    rows = []
    print(f"| job | n counts | n = {args.small} MB | n = {args.large} MB | growth MB per 100 n |")
    print("|:--|:--|--:|--:|--:|")
    for job in args.jobs:
        scale = args.small if job != "trajectory_correlations" else max(2, args.small // 8)
        large = args.large if job != "trajectory_correlations" else max(4, args.large // 8)
        a, b = measure(job, scale, size=args.size, src=args.src), measure(job, large, size=args.size, src=args.src)
        growth = 100 * (b["peak_mb"] - a["peak_mb"]) / (large - scale)
        rows.append({"job": job, "n": [scale, large], "peak_mb": [a["peak_mb"], b["peak_mb"]], "inputs_mb": [a["before_mb"], b["before_mb"]],
                     "growth_mb_per_100": growth, "size": args.size})
        print(f"| {job} | {JOBS[job]}: {scale}, {large} | {a['peak_mb']:.0f} | {b['peak_mb']:.0f} | {growth:.1f} |", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
