"""Benchmark: ratios measured in one process, job start-up, no-op rerun, wall time per stage.

``make bench`` (``python -m antithetic.workflow.bench``) writes ``results/bench/bench.{json,md}``:

* ``ratios``: interleaved repeats in one process, the median of the per-repeat time ratios with its
  distribution-free confidence interval (absolute times vary from machine to machine, ratios much less):
  our DDIM sampler vs the raw UNet forwards it makes; ``generate``
  under the antithetic design vs iid; our DDIM loop vs diffusers' ``DDIMPipeline`` with the same
  UNet. The UNet has the architecture of ``models.digits-ddpm.train`` in ``config.yaml`` (weights do
  not change the cost). On CUDA the fp16/fp32 time ratio of the sampler is added.
* ``startup``: seconds to start each kind of workflow job (a fresh Python importing what the job's
  script imports), median of repeats; and each kind once more, handed to its pool's fork server.
* ``noop_rerun_seconds``: ``snakemake`` on a finished run (when ``results/`` holds one).
* ``stages``: wall seconds per rule of the last run, from the rules' ``benchmark:`` files.
* ``last_run``: jobs and wall seconds of the last complete Snakemake run that executed jobs (its log in
  ``.snakemake/log/``: first to last time stamp).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["job_startup", "last_run", "main", "noop_rerun", "sampler_ratios", "stage_times", "write_report"]

ROOT = Path(__file__).resolve().parents[3]

#: job kind -> what its job imports, at start and when it runs (see workflow/scripts/ and antithetic.workflow.jobs)
JOB_IMPORTS = {
    "Python and Snakemake's script preamble (every job)": "import snakemake.script",
    "claim (claim_<id>)": "from antithetic.workflow.jobs.claims import run_claim",
    "table (table1)": "from antithetic.workflow.jobs.correlation import run_table1; import antithetic.workflow.tables",
    "table with figure (table2, table3, table4, symmetry_table, ...)": (
        "from antithetic.workflow.jobs.uq import run_table2; import antithetic.workflow.tables, antithetic.workflow.plotting.uq"
    ),
    "plot (pair_figures)": "from antithetic.workflow.jobs.correlation import run_pair_figures; import antithetic.workflow.plotting.correlation",
    "torch job without diffusers (diversity, quality)": "from antithetic.workflow.jobs.diversity import run_diversity; import antithetic.diversity",
    "analytic-model network job (sample, probes of affine-odd, digits-gmm)": (
        "from antithetic.workflow.jobs.sampling import run_sampling; import antithetic.models.analytic"
    ),
    "generator network job (sample of the VAE, flow)": (
        "from antithetic.workflow.jobs.sampling import run_sampling; import antithetic.models.vae, antithetic.models.flow"
    ),
    "UNet network job (sample, probes, DPS, editing of digits-ddpm)": (
        "from antithetic.workflow.jobs.sampling import run_sampling; import antithetic.models.pretrained"
    ),
}


def _seconds(fn) -> float:
    """Wall seconds of one call of ``fn``."""
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def _median_seconds(fn, repeats: int) -> float:
    return statistics.median(_seconds(fn) for _ in range(repeats))


#: job kind of JOB_IMPORTS -> the fork-server pool its jobs use (antithetic.workflow.forkserver.POOLS); the first
#: kind, the bare script preamble, is what a job pays before it can hand itself over
JOB_POOLS = {kind: "network" if ("network job" in kind or "torch job" in kind) else "table" for kind in list(JOB_IMPORTS)[1:]}


def job_startup(repeats: int = 3) -> dict[str, float]:
    """Median seconds of a fresh ``python -c <imports>`` per job kind; then of each kind handed to its
    pool's running fork server (:mod:`antithetic.workflow.forkserver`): a fresh Python that hands a script with
    those imports to the server and waits for the child to finish, as a workflow job does."""
    import tempfile

    from . import forkserver

    out = {}
    for kind, code in JOB_IMPORTS.items():
        cmd = [sys.executable, "-c", code]
        out[kind] = _median_seconds(lambda cmd=cmd: subprocess.run(cmd, check=True, cwd=ROOT), repeats)
    env = {k: v for k, v in os.environ.items() if k != forkserver.ENV_ADDRESS}
    server = forkserver.start_server(env=env)
    if server is None:
        return out

    def handoff(pool: str) -> str:  # what workflow/scripts/_job.py does first
        return (f"import os, sys; sys.path.insert(0, {str(ROOT / 'src')!r}); from antithetic.workflow.forkserver import handoff, in_child\n"
                f"handed = handoff(sys.argv[0], pool={pool!r})\nif handed.status is not None: os._exit(handed.status)\n"
                "assert in_child(), handed.reason\n")

    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i, (kind, pool) in enumerate(JOB_POOLS.items()):
                script = Path(tmp) / f"job{i}.py"
                script.write_text(handoff(pool) + JOB_IMPORTS[kind] + "\n")
                cmd = [sys.executable, str(script)]
                subprocess.run(cmd, check=True, cwd=ROOT, env=env)  # the first waits for the server's imports
                out[f"{kind}, in a child of the {pool!r} fork server"] = _median_seconds(
                    lambda cmd=cmd: subprocess.run(cmd, check=True, cwd=ROOT, env=env), repeats)
    finally:
        server.stop()
    return out


#: interleaved repeats per ratio: 9 is the fewest whose median interval reaches 95% with [x_(2), x_(8)]
REPEATS = 9


def median_interval(values: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """The widest order-statistic interval ``[x_(k), x_(n+1-k)]`` whose coverage of the median is at least
    ``level``; ``[min, max]`` (coverage ``1 - 2^(1-n)``) when no narrower one reaches it.

    Distribution-free: the number of values below the true median is Binomial(n, 1/2), so the interval
    covers it with probability ``1 - 2 P(Bin(n, 1/2) <= k - 1)``. Returns ``(low, high, coverage)``.
    """
    x, n = sorted(values), len(values)
    if not n:
        raise ValueError("median_interval needs at least one value")

    def coverage(k: int) -> float:
        return 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2**n

    k = 1
    while k < n // 2 and coverage(k + 1) >= level:
        k += 1
    return x[k - 1], x[n - k], coverage(k)


def _interleaved_ratio(numerator, denominator, repeats: int) -> dict[str, float]:
    """Time ratio of ``numerator`` to ``denominator``, timed alternately (ABBA) ``repeats`` times each.

    ``ratio`` is the median of the per-repeat ratios, each from two calls adjacent in time, so that a slow
    period of a shared machine slows both sides of a repeat; ``ci_low``/``ci_high`` bound it
    (:func:`median_interval`). ``best_times_ratio`` divides each side's best time: it assumes that noise
    only ever adds time, and on a virtual machine whose speed drifts by tens of percent it scatters more
    than the median does (both are reported).
    """
    ratios, num_times, den_times = [], [], []
    for repeat in range(repeats):
        if repeat % 2 == 0:  # ABBA order: neither side always runs first (a warm cache, a burst of load)
            a, b = _seconds(numerator), _seconds(denominator)
        else:
            b, a = _seconds(denominator), _seconds(numerator)
        ratios.append(a / b)
        num_times.append(a)
        den_times.append(b)
    low, high, coverage = median_interval(ratios)
    return {"ratio": statistics.median(ratios), "ci_low": low, "ci_high": high, "ci_coverage": coverage,
            "best_times_ratio": min(num_times) / min(den_times), "numerator_seconds": min(num_times),
            "denominator_seconds": min(den_times), "repeats": repeats}


def sampler_ratios(*, batch: int = 256, steps: int = 50, repeats: int = REPEATS, device: str = "cpu") -> dict[str, Any]:
    """The sampler ratios of the module docstring on the digits UNet architecture."""
    import torch
    import yaml
    from diffusers import DDIMPipeline, DDIMScheduler

    from ..generate import generate
    from ..models.pretrained import unet_model
    from ..noise import AntitheticNoise, IIDNoise
    from ..samplers import sample_ddim
    from ..training import TrainConfig, build_unet

    train = yaml.safe_load((ROOT / "config.yaml").read_text())["models"]["digits-ddpm"]["train"]
    cfg = TrainConfig(**train)
    torch.manual_seed(0)
    unet = build_unet(cfg, sample_size=8, channels=1).eval()
    scheduler = DDIMScheduler(num_train_timesteps=cfg.num_train_timesteps, beta_schedule=cfg.beta_schedule)
    model = unet_model(unet, scheduler, name="bench").to(device)
    x = torch.randn(batch, 1, 8, 8, device=device)
    timesteps = DDIMScheduler.from_config(scheduler.config)
    timesteps.set_timesteps(steps)
    with torch.no_grad():  # warm-up: allocator and kernels, before anything is timed
        sample_ddim(model, x, num_steps=2)

    @torch.no_grad()
    def raw_forwards():
        for t in timesteps.timesteps:
            unet(x, t).sample
        _sync(device)

    def ours():
        sample_ddim(model, x, num_steps=steps)
        _sync(device)

    pipe = DDIMPipeline(unet=unet, scheduler=DDIMScheduler.from_config(scheduler.config)).to(device)
    pipe.set_progress_bar_config(disable=True)

    def diffusers_pipeline():
        pipe(batch_size=batch, num_inference_steps=steps, eta=0.0, output_type="np", generator=torch.Generator(device).manual_seed(0))
        _sync(device)

    def gen(design):
        return lambda: generate(model, design=design, num_samples=batch, sampler="ddim", sampler_options={"num_steps": steps},
                                batch_size=batch, progress=False)

    out = {
        "sampler_vs_raw_unet_forwards": _interleaved_ratio(ours, raw_forwards, repeats),
        "generate_antithetic_vs_iid": _interleaved_ratio(gen(AntitheticNoise(seed=0)), gen(IIDNoise(seed=0)), repeats),
        "ddim_loop_vs_diffusers_pipeline": _interleaved_ratio(ours, diffusers_pipeline, repeats),
        "setup": {"batch": batch, "steps": steps, "device": device, "threads": torch.get_num_threads(),
                  "unet": {"block_out_channels": cfg.block_out_channels, "layers_per_block": cfg.layers_per_block}},
    }
    if device.startswith("cuda"):
        half = unet_model(build_unet(cfg, sample_size=8, channels=1).eval(), scheduler, name="bench16").to(device, torch.float16)

        def ours_fp16():
            sample_ddim(half, x, num_steps=steps)
            _sync(device)

        out["fp16_vs_fp32_sampler"] = _interleaved_ratio(ours_fp16, ours, repeats)
    return out


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def noop_rerun(repeats: int = 3) -> float | None:
    """Median seconds of ``snakemake`` on the finished run in the project directory (None if there is none)."""
    cmd = [sys.executable, "-m", "snakemake", "--cores", "1", "--quiet", "all"]
    dry = subprocess.run([*cmd, "--dry-run"], cwd=ROOT, capture_output=True, text=True)
    if dry.returncode != 0 or "Nothing to be done" not in dry.stdout + dry.stderr:
        return None
    return _median_seconds(lambda: subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True), repeats)


def stage_times(benchmarks: Path = ROOT / "results" / "benchmarks") -> dict[str, dict[str, float]]:
    """Per rule: job count and summed wall seconds, from the ``benchmark:`` TSV files of the last run."""
    import csv

    out: dict[str, dict[str, float]] = {}
    for tsv in sorted(benchmarks.glob("**/*.tsv")):
        rule = tsv.relative_to(benchmarks).parts[0]
        with tsv.open() as f:
            seconds = float(next(csv.DictReader(f, delimiter="\t"))["s"])
        entry = out.setdefault(rule, {"jobs": 0, "seconds": 0.0})
        entry["jobs"] += 1
        entry["seconds"] += seconds
    return out


#: a time stamp line of a Snakemake log, e.g. ``[Sat Dec  5 00:04:52 2026]`` (to the second)
LOG_STAMP = r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]$"


def log_time(stamp: str):
    """The :class:`datetime.datetime` of a Snakemake log time stamp (the text inside the brackets of :data:`LOG_STAMP`)."""
    from datetime import datetime

    return datetime.strptime(" ".join(stamp.split()), "%a %b %d %H:%M:%S %Y")


def last_run(logs: Path = ROOT / ".snakemake" / "log") -> dict[str, Any] | None:
    """Jobs and wall seconds of the newest Snakemake log that ran jobs to completion (None if there is none)."""
    import re

    for log in sorted(logs.glob("*.snakemake.log"), reverse=True):
        text = log.read_text(errors="replace")
        done = re.findall(r"^(\d+) of (\d+) steps \(100%\) done$", text, re.MULTILINE)
        stamps = re.findall(LOG_STAMP, text, re.MULTILINE)
        if done and len(stamps) >= 2:
            first, last = log_time(stamps[0]), log_time(stamps[-1])
            return {"log": log.name, "jobs": int(done[-1][1]), "seconds": (last - first).total_seconds()}
    return None


def to_markdown(report: dict[str, Any]) -> str:
    machine = report.get("machine", {})
    lines = [
        f"Measured {report.get('created', '?')} on {machine.get('cpus', '?')} CPU cores, {report.get('cpu', '?')} ({report.get('platform', '?')}), "
        f"torch {report.get('packages', {}).get('torch', '?')}, device {report['ratios']['setup']['device']}.",
        "", "Ratios (interleaved repeats in one process: median of the per-repeat ratios, its distribution-free interval "
        "and coverage; the ratio of each side's best time; the best times):", "",
        "| what | ratio | interval | coverage | repeats | best-times ratio | numerator s | denominator s |",
        "|:--|--:|:--|--:|--:|--:|--:|--:|",
    ]
    for name, r in report["ratios"].items():
        if isinstance(r, dict) and "ratio" in r:
            lines.append(f"| {name} | {r['ratio']:.3f} | [{r['ci_low']:.3f}, {r['ci_high']:.3f}] | {r['ci_coverage']:.3f} | "
                         f"{r['repeats']} | {r['best_times_ratio']:.3f} | {r['numerator_seconds']:.3f} | {r['denominator_seconds']:.3f} |")
    lines += ["", f"Setup: `{json.dumps(report['ratios']['setup'])}`", "",
              "Job start-up: a fresh Python importing what the job imports (median s):", "", "| job kind | s |", "|:--|--:|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in report["startup"].items()]
    noop = report["noop_rerun_seconds"]
    lines += ["", f"No-op rerun: {'not measured (no finished run in results/)' if noop is None else f'{noop:.2f} s'}", ""]
    run = report.get("last_run")
    ran = "not found" if run is None else f"{run['jobs']} jobs in {run['seconds']:.0f} s of wall time ({run['log']})"
    lines += [f"Last complete run: {ran}", ""]
    lines += ["Wall time per rule of the last run (benchmark files):", "", "| rule | jobs | s |", "|:--|--:|--:|"]
    lines += [f"| {k} | {v['jobs']} | {v['seconds']:.1f} |" for k, v in report["stages"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m antithetic.workflow.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "results" / "bench"))
    parser.add_argument("--repeats", type=int, default=REPEATS, help=f"interleaved repeats per ratio (default {REPEATS})")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.batch < 1:
        parser.error(f"--repeats and --batch must be at least 1 (got {args.repeats} and {args.batch})")
    from ..artifacts import environment_info
    from ..device import resolve_device

    device = str(resolve_device(args.device))
    report = {
        "ratios": sampler_ratios(batch=args.batch, repeats=args.repeats, device=device),
        "startup": job_startup(),
        "noop_rerun_seconds": noop_rerun(),
        "stages": stage_times(),
        "last_run": last_run(),
        "machine": {"cpus": os.cpu_count()},
        **environment_info(),
    }
    write_report(Path(args.out), "bench", report, to_markdown(report))
    return 0


def write_report(out: Path, stem: str, report: dict[str, Any], markdown: str) -> None:
    """``out/<stem>.json`` (the report) and ``out/<stem>.md`` (its Markdown), each written atomically; the Markdown
    also goes to standard output."""
    from ..artifacts import atomic_path, write_json

    write_json(out / f"{stem}.json", report)
    with atomic_path(out / f"{stem}.md") as tmp:
        tmp.write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    raise SystemExit(main())
