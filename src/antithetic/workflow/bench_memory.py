"""Peak memory of every network and analysis job at two sample counts and two image sizes (``make bench-memory``).

Each measurement runs one job's function in a fresh Python process on small stand-in inputs (random
samples of 3 x S x S images; a randomly initialised UNet2DModel saved as a DDPMPipeline, 8 and 16
channels, for the network jobs; the analytic Gaussian model for the coverage study and the exact class
mixture for FlowEdit; the digits classifier for quality, editing and FlowEdit, which only accept 8x8
digits) and reports that process's peak resident set size (``ru_maxrss``). Three points per job:
(large image, small n), (large image, large n), (small image, small n). From them a fit per job::

    peak_mb = base + per_sample_pixel * n * P + per_pixel * P          (P = C x H x W, the sample's numel)

``base`` is the imports and the model, ``per_sample_pixel`` what the job keeps per sample (the samples
it holds), ``per_pixel`` what it keeps once per image (the network's activations of one batch, the
statistic's maps); :mod:`antithetic.workflow.resources` turns the fits into each rule's ``mem_mb``.
``benchmark:`` files of a local run cannot give this: under the fork servers they measure the waiting
process, not the job (docs/performance.md).

    python -m antithetic.workflow.bench_memory [--jobs sample diversity ...] [--src PATH]

``--src`` runs the children on another copy of ``src/`` (e.g. an older commit's) to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["JOBS", "SKIPPED", "Job", "fit", "measure", "main"]

ROOT = Path(__file__).resolve().parents[3]

#: batch size of the network jobs' stand-in runs (the fit's per-pixel term is this batch's activations)
BATCH = 64


@dataclass(frozen=True)
class Job:
    """One job of the benchmark: what its ``n`` counts and its three (channels, side, n) points."""

    counts: str
    points: tuple[tuple[int, int, int], ...]

    @property
    def fixed_size(self) -> bool:
        return len({(c, s) for c, s, _ in self.points}) == 1


#: rule -> what its ``n`` counts, and the points measured. Points: (large side, n small), (large side, n
#: large), (small side, n small); one image size for the jobs that only take the 8x8 digits.
JOBS: dict[str, Job] = {
    "sample": Job("samples (1 DDIM step, batch 64)", ((3, 32, 1024), (3, 32, 8192), (3, 16, 1024))),
    "symmetry_probe": Job("probe samples (3 timesteps, 4 directions, 11 grid points)", ((3, 32, 64), (3, 32, 512), (3, 16, 64))),
    "trajectory_correlations": Job("pairs (PN and RR, 4 DDIM steps, two passes)", ((3, 32, 32), (3, 32, 256), (3, 16, 32))),
    "theorem1_fisher": Job("samples (data drawn with 1 DDIM step, 5 points)", ((3, 32, 64), (3, 32, 512), (3, 16, 64))),
    "uq_estimates": Job("samples per method (4 methods, brightness and mean_image, both control variates)",
                        ((3, 64, 256), (3, 64, 1024), (3, 32, 256))),
    "uq_coverage": Job("reference samples (analytic model, 2 methods, 4 repetitions of 32)", ((3, 32, 512), (3, 32, 4096), (3, 16, 512))),
    "quality": Job("pairs (8x8 digits only: the classifier's features)", ((1, 8, 512), (1, 8, 4096))),
    # beyond one scoring chunk (about 170 pairs of 3x64x64): below it the chunk itself grows with n
    "diversity": Job("pairs (PN and RR; SSIM)", ((3, 64, 256), (3, 64, 1024), (3, 32, 256))),
    "inverse_dps": Job("measurements (inpainting, 4 reconstructions per method, 4 steps)", ((3, 32, 2), (3, 32, 8), (3, 16, 2))),
    "editing": Job("sources (8x8 digits only: 2 noise levels, 10 DDIM steps)", ((1, 8, 16), (1, 8, 128))),
    "flowedit": Job("sources (8x8 digits only: exact class mixture, 2 n_max values of 10 steps, 4 draws)", ((1, 8, 16), (1, 8, 128))),
}

#: rules without a measurement, and why
SKIPPED = {
    "guided_sample": "the sample job (run_sampling) on a guided model; its guidance doubles the batch the network sees",
    "train_model": "fixed size: its memory follows its train block (the 8x8 digits), not a sample count or image size",
    "train_classifier": "fixed size: the 8x8 digits classifier",
}


def _samples(path: Path, design: dict[str, Any], n: int, shape: tuple[int, ...], seed: int) -> None:
    import numpy as np

    from antithetic.artifacts import save_samples
    from antithetic.sample_set import SampleSet

    g = int(design["group_size"])
    rng = np.random.default_rng(seed)
    x = np.tanh(rng.normal(size=(n, *shape))).astype(np.float32)
    k = np.arange(n)
    save_samples(path, SampleSet(samples=x, indices=k, groups=k // g, members=k % g, design=design, sampler={"name": "ddim"},
                                 seconds=1.0, noise_shape=shape))


def _unet(path: Path, channels: int, side: int, width: tuple[int, int] = (8, 16)) -> Path:
    import torch
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=side, in_channels=channels, out_channels=channels, block_out_channels=width, layers_per_block=1,
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=8)
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=1000)).save_pretrained(path)
    return path


def _classifier(path: Path) -> Path:
    """The digits classifier, trained for one epoch (its accuracy does not matter here)."""
    if not (path / "training.json").exists():
        from antithetic.workflow.jobs.classifier import run_classifier_training

        settings = {"dataset": "digits", "test_fraction": 0.25, "split_seed": 0, "seed": 0, "epochs": 1, "batch_size": 64,
                    "learning_rate": 0.003, "channels": [8, 16, 16], "min_accuracy": 0.0}
        run_classifier_training(settings=settings, out_dir=path)
    return path


_UQ_DESIGNS = {"mc": {"name": "iid", "seed": 0, "group_size": 1}, "amc": {"name": "antithetic", "seed": 0, "group_size": 2},
               "k_amc": {"name": "k_antithetic", "seed": 0, "group_size": 8, "k": 8},
               "rqmc": {"name": "rqmc", "seed": 0, "group_size": 8, "m": 3, "high_dim": "error", "max_sobol_dim": 21201}}


def _prepare(job: str, channels: int, side: int, n: int, work: Path, shared: Path) -> None:
    shape = (channels, side, side)
    if job == "uq_estimates":
        for i, (method, design) in enumerate(_UQ_DESIGNS.items()):
            _samples(work / f"{method}.npz", design, n, shape, i)
    elif job == "diversity":
        _samples(work / "pn.npz", {"name": "antithetic", "seed": 0, "group_size": 2}, 2 * n, shape, 0)
        _samples(work / "rr.npz", {"name": "iid", "seed": 0, "group_size": 1}, 2 * n, shape, 1)
    elif job == "quality":
        _samples(work / "pn.npz", {"name": "antithetic", "seed": 0, "group_size": 2}, 2 * n, shape, 0)
        _samples(work / "iid.npz", {"name": "iid", "seed": 0, "group_size": 1}, 2 * n, shape, 1)
        _classifier(shared / "classifier")
    elif job == "editing":
        _unet(work / "unet", channels, side)
        _classifier(shared / "classifier")
    elif job == "flowedit":
        _classifier(shared / "classifier")
    elif job in ("sample", "symmetry_probe", "trajectory_correlations", "theorem1_fisher", "inverse_dps"):
        _unet(work / "unet", channels, side)
    if job == "inverse_dps":
        import numpy as np
        from PIL import Image

        (work / "images").mkdir()
        rng = np.random.default_rng(0)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)).save(work / "images" / f"{i:03d}.png")


def _child(job: str, channels: int, side: int, n: int, work: Path, shared: Path) -> None:
    """Run ``job`` on the prepared inputs in ``work``; print its peak RSS (MB) as JSON."""
    import torch

    torch.set_num_threads(1)
    unet = {"kind": "unet", "pretrained": str(work / "unet")}
    ddim = lambda steps: {"kind": "ddim", "num_steps": steps, "eta": 0.0}  # noqa: E731
    before = _peak_mb()
    start = time.perf_counter()
    if job == "sample":
        from antithetic.workflow.jobs.sampling import run_sampling

        run_sampling(model="m", model_spec=unet, sampler="ddim", sampler_spec=ddim(1), design="antithetic",
                     design_spec={"kind": "antithetic"}, num_samples=n, seed=0, out_samples=work / "s.npz",
                     out_provenance=work / "s.json", device="cpu", batch_size=BATCH, progress=False)
    elif job == "symmetry_probe":
        from antithetic.workflow.jobs.symmetry import run_symmetry_probe

        probe = {"timesteps": [999, 500, 10], "directions": 4, "coordinates": 64, "grid_points": 11, "slice_examples": 2,
                 "probe_samples": n, "bootstrap": 50, "ci_level": 0.95}
        run_symmetry_probe(model="m", spec=unet, probe=probe, seed=0, data_sampler=ddim(1), out_scores=work / "a.csv",
                           out_summary=work / "b.csv", out_slices=work / "c.npz", device="cpu", batch_size=BATCH, progress=False)
    elif job == "trajectory_correlations":
        from antithetic.workflow.jobs.symmetry import run_trajectories

        run_trajectories(model="m", spec=unet, sampler="ddim", sampler_spec=ddim(4), designs={"PN": {"kind": "antithetic"}, "RR": {"kind": "iid"}},
                         pairs=n, seed=0, out_csv=work / "t.csv", device="cpu", batch_size=BATCH, progress=False)
    elif job == "theorem1_fisher":
        from antithetic.workflow.jobs.symmetry import run_fisher

        run_fisher(models={"m": unet}, fisher={"samples": n, "points": 5}, seed=0, data_sampler=ddim(1), weights={"m": None},
                   out_csv=work / "f.csv", out_json=work / "f.json", device="cpu", batch_size=BATCH, progress=False)
    elif job == "uq_estimates":
        from antithetic.workflow.jobs.uq import run_uq_estimates

        inputs = {method: work / f"{method}.npz" for method in _UQ_DESIGNS}
        uq = {"level": 0.95, "quantile": "t", "control_variates": ["linear", "quadratic"],
              "statistics": {"brightness": "antithetic.image_statistics.brightness", "mean_image": "antithetic.image_statistics.mean_image"}}
        run_uq_estimates(uq, model="m", sampler="s", inputs=inputs, out_estimates=work / "e.csv", out_ci_vs_n=work / "c.csv", out_pixels=work / "p.npz")
    elif job == "uq_coverage":
        from antithetic.workflow.jobs.uq import run_uq_coverage

        uq = {"level": 0.95, "quantile": "t", "control_variates": [],
              "statistics": {"brightness": "antithetic.image_statistics.brightness"},
              "coverage": {"repetitions": 4, "num_samples": 32, "methods": {"mc": "iid", "amc": "antithetic"},
                           "reference_samples": n, "reference_seed": 1}}
        run_uq_coverage(uq, model="m", model_spec={"kind": "affine_odd", "mean": 0.2, "std": 0.5, "channels": channels, "image_size": side},
                        sampler="ddim", sampler_spec=ddim(4), designs={"iid": {"kind": "iid"}, "antithetic": {"kind": "antithetic"}},
                        seed=0, out_coverage=work / "c.csv", out_provenance=work / "c.json", device="cpu", batch_size=BATCH, progress=False)
    elif job == "quality":
        from antithetic.workflow.jobs.quality import run_quality

        run_quality(pn_path=work / "pn.npz", iid_path=work / "iid.npz", classifier_dir=shared / "classifier",
                    settings={"bootstrap": 20, "level": 0.95, "nearest_k": 5, "seed": 0}, labels={}, out_csv=work / "q.csv", out_json=work / "q.json")
    elif job == "diversity":
        from antithetic.workflow.jobs.diversity import run_diversity

        settings = {"ssim_kernel_size": 11, "ssim_sigma": 1.5, "perceptual": [], "lpips_size": 64, "bootstrap": 100, "level": 0.95, "seed": 0}
        run_diversity(pn_path=work / "pn.npz", rr_path=work / "rr.npz", classifier_dir=None, settings=settings, labels={},
                      out_pairs=work / "pairs.csv", out_summary=work / "summary.json")
    elif job == "inverse_dps":
        from antithetic.workflow.jobs.inverse import run_inverse

        settings = {"sigma_y": 0.05, "measurements": n, "samples": 4, "num_steps": 4, "eta": 1.0, "step_size": 1.0, "seed": 0,
                    "level": 0.95, "bootstrap": 50}
        run_inverse(model="m", model_spec=unet, task="inpainting", task_params={"box": [2, 2, side // 2, side // 2]}, settings=settings,
                    split={"dataset": "digits", "test_fraction": 0.25, "split_seed": 0}, out_csv=work / "i.csv", out_summary=work / "i.json",
                    images=work / "images", device="cpu", batch_size=BATCH)
    elif job == "editing":
        from antithetic.workflow.jobs.editing import run_editing

        settings = {"sources": n, "t0": [200, 400], "num_steps": 10, "seed": 0, "level": 0.95, "ssim_kernel_size": 3, "ssim_sigma": 0.5}
        run_editing(model="m", model_spec=unet, classifier_dir=shared / "classifier", settings=settings, out_csv=work / "e.csv",
                    out_summary=work / "e.json", device="cpu")
    elif job == "flowedit":
        from antithetic.workflow.jobs.flowedit import run_flowedit

        settings = {"sources": n, "num_steps": 10, "n_max": [4, 8], "n_avg": 4, "source_guidance_scale": 1.5,
                    "target_guidance_scale": 5.5, "seed": 0, "level": 0.95}
        run_flowedit(model="m", model_spec={"kind": "class_gaussian_mixture", "means": "digits", "std": 0.3},
                     classifier_dir=shared / "classifier", settings=settings, out_csv=work / "f.csv", out_summary=work / "f.json",
                     out_edits=work / "f.npz", device="cpu")
    else:
        raise ValueError(f"unknown job {job!r}; known: {sorted(JOBS)}")
    print(json.dumps({"peak_mb": _peak_mb(), "imports_mb": before, "seconds": time.perf_counter() - start}))


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(job: str, channels: int, side: int, n: int, *, shared: Path, src: Path | None = None) -> dict[str, float]:
    """Peak RSS (MB) of a fresh process that runs ``job`` on ``n`` (see :data:`JOBS`) stand-in inputs of ``channels x side x side``."""
    env = {**os.environ, "PYTHONPATH": str(src or ROOT / "src"), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as work:
        # the inputs are written by a process of their own: a child forked from a parent that imported torch
        # would start with the parent's peak RSS (ru_maxrss survives fork and exec on Linux)
        prepare = ("from antithetic.workflow.bench_memory import _prepare; from pathlib import Path; "
                   f"_prepare({job!r}, {channels}, {side}, {n}, Path({work!r}), Path({str(shared)!r}))")
        done = subprocess.run([sys.executable, "-c", prepare], env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"preparing {job} at {channels}x{side}x{side}, n={n} failed:\n{done.stderr[-3000:]}")
        code = ("from antithetic.workflow.bench_memory import _child; from pathlib import Path; "
                f"_child({job!r}, {channels}, {side}, {n}, Path({work!r}), Path({str(shared)!r}))")
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{job} at {channels}x{side}x{side}, n={n} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def fit(points: list[tuple[int, int, float]]) -> dict[str, float]:
    """``base``, ``per_sample_pixel`` and ``per_pixel`` (MB) of ``peak = base + a n P + b P`` through the points
    ``(P, n, peak_mb)``: (P1, n0), (P1, n1), and, where the job takes two sizes, (P0, n0). A coefficient
    that comes out negative (the growth is below the measurement's noise) is set to 0."""
    (p1, n0, m0), (_, n1, m1) = points[:2]
    a = max(0.0, (m1 - m0) / ((n1 - n0) * p1))
    b = 0.0
    if len(points) > 2:
        p0, _, m2 = points[2]
        b = max(0.0, (m0 - m2 - a * n0 * (p1 - p0)) / (p1 - p0))
    base = m0 - a * n0 * p1 - b * p1
    return {"base_mb": base, "per_sample_pixel_mb": a, "per_pixel_mb": b}


def markdown(rows: list[dict[str, Any]], header: str) -> str:
    lines = [header, "",
             "| rule (n counts) | image | n small -> large | peak MB, n small / large | growth MB per 1000 n | small image: peak MB | "
             "fit: base MB | bytes per sample pixel | KB per pixel |",
             "|:--|:--|:--|--:|--:|--:|--:|--:|--:|"]
    for row in rows:
        (c, s, n0), (_, _, n1) = row["points"][:2]
        m = row["peak_mb"]
        small = f"{m[2]:.0f} ({row['points'][2][1]}^2)" if len(m) > 2 else "one size"
        growth = 1000 * (m[1] - m[0]) / (n1 - n0)
        f = row["fit"]
        lines.append(f"| {row['job']} ({row['counts']}) | {c}x{s}x{s} | {n0} -> {n1} | {m[0]:.0f} / {m[1]:.0f} | {growth:.1f} | {small} | "
                     f"{f['base_mb']:.0f} | {f['per_sample_pixel_mb'] * 2**20:.1f} | {f['per_pixel_mb'] * 1024:.1f} |")
    lines += ["", "Not measured: " + "; ".join(f"{k} ({v})" for k, v in SKIPPED.items()) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m antithetic.workflow.bench_memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", nargs="*", default=list(JOBS))
    parser.add_argument("--src", type=Path, default=None, help="the src/ directory the children import (default: this one)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "memory.json", help="JSON; the Markdown goes beside it")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as shared:
        for job in args.jobs:
            spec = JOBS[job]
            results = [measure(job, c, s, n, shared=Path(shared), src=args.src) for c, s, n in spec.points]
            peaks = [r["peak_mb"] for r in results]
            row = {"job": job, "counts": spec.counts, "points": [list(p) for p in spec.points], "peak_mb": peaks,
                   "imports_mb": [r["imports_mb"] for r in results], "seconds": [r["seconds"] for r in results],
                   "fit": fit([(c * s * s, n, m) for (c, s, n), m in zip(spec.points, peaks)])}
            rows.append(row)
            print(json.dumps(row), flush=True)
    from importlib.metadata import version

    header = (f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPU cores ({platform.machine()}), torch {version('torch')}, "
              f"one thread per job, batch {BATCH} for the network jobs; peak RSS of a fresh process (`ru_maxrss`).")
    text = markdown(rows, header)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"header": header, "batch": BATCH, "rows": rows}, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
