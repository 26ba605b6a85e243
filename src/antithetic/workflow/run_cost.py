"""What some models' stages cost the default run: the whole run with and without them, back to back.

``make bench-run-cost`` (``python -m antithetic.workflow.run_cost``) copies the workflow (``Snakefile``,
``workflow/``, ``src/``, ``profiles/``, ``config/``, ``envs/``) into two scratch folders under
``results/bench/run_cost/`` and runs ``snakemake`` from clean in each, one after the other, with the
default profile:

* ``full``: ``config.yaml`` (or ``--config``) as it is;
* ``without``: ``config.yaml`` without the models named by ``--without-models`` and every stage entry
  that uses them (:func:`without_models`), and without the keys named by ``--drop``.

Both runs train their own models and draw their own samples, so each is a fresh clone's ``make run``. The
speed of a shared machine drifts (the same training job can take tens of percent longer in one hour than in
another), so a wall-clock limit is compared through the ratio of the two runs, measured minutes apart:
``full / without``. With ``--repeats 2`` or more the order alternates (full, without, without, full, ...),
and the report gives each pair's ratio and their median.

A second measure needs one run only, so a drift between runs does not touch it: from the full run's Snakemake
log, the share of its job core-seconds (wall seconds times threads, :func:`job_core_seconds`) spent in the jobs
that the ``without`` run does not have (:func:`added_share`). A run that keeps its cores busy takes
``1 / (1 - share)`` times as long with them. It leaves out what the added stages cost inside shared jobs (a
Table 2 job that also estimates the semantic statistics), so it is a lower bound of their share.

It writes ``results/bench/run_cost.{json,md}``; ``make bench-run-cost`` copies the table into
``docs/run-cost.md`` and the block of ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from .bench import LOG_STAMP, log_time

__all__ = ["added_share", "drop_key", "job_core_seconds", "main", "run_workflow", "to_markdown", "without_models"]

ROOT = Path(__file__).resolve().parents[3]

#: what a run needs of the checkout (the rest, results and docs, it writes or never reads)
WORKFLOW_FILES = ("Snakefile", "config.yaml", "workflow", "src", "profiles", "config", "envs")


# ------------------------------------------------------------------------------------ configs
def without_models(config: dict[str, Any], names: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``config`` without the models ``names`` and without every entry of a stage that uses one of them.

    A model goes from ``models``, from every ``runs:`` mapping and every ``models:`` list; a section or
    subsection left with nothing to run (an empty ``runs:`` or ``models:``) goes too, and so does a
    top-level section whose ``model:`` is one of ``names`` (it has no other model to run on).

    Raises:
        KeyError: a name is not a model of ``config``.
    """
    unknown = sorted(set(names) - set(config.get("models", {})))
    if unknown:
        raise KeyError(f"not models of the config: {', '.join(unknown)} (its models: {', '.join(config['models'])})")
    removed = set(names)
    out = copy.deepcopy(config)
    out["models"] = {name: spec for name, spec in out["models"].items() if name not in removed}

    def prune(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        kept = {}
        for key, value in node.items():
            if key == "runs" and isinstance(value, dict):
                value = {m: samplers for m, samplers in value.items() if m not in removed}
            elif key == "models" and isinstance(value, list):
                value = [m for m in value if m not in removed]
            else:
                value = prune(value)
            if isinstance(value, dict) and _nothing_to_run(value):
                continue
            kept[key] = value
        return kept

    for key in [k for k in out if k != "models"]:
        value = out[key]
        if isinstance(value, dict) and value.get("model") in removed:
            del out[key]
            continue
        value = prune(value)
        if isinstance(value, dict) and _nothing_to_run(value):
            del out[key]
        else:
            out[key] = value
    return out


def _nothing_to_run(section: dict[str, Any]) -> bool:
    return section.get("runs", None) == {} or section.get("models", None) == []


def drop_key(config: dict[str, Any], dotted: str) -> dict[str, Any]:
    """``config`` without the key ``dotted`` (e.g. ``uq.semantic``).

    Raises:
        KeyError: the key is not in ``config``.
    """
    out = copy.deepcopy(config)
    *parents, last = dotted.split(".")
    node = out
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or last not in node:
        raise KeyError(f"config key {dotted!r} is not in the config")
    del node[last]
    return out


# ------------------------------------------------------------------------------------ runs
def scratch_checkout(dest: Path, config: dict[str, Any], *, root: Path = ROOT) -> Path:
    """A fresh copy of the workflow in ``dest`` (removed first) whose ``config.yaml`` is ``config``."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".snakemake")
    for name in WORKFLOW_FILES:
        source = root / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, dest / name)
    (dest / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return dest


def run_workflow(folder: Path, *, cores: int, snakemake: list[str] | None = None) -> dict[str, Any]:
    """Run ``snakemake`` from clean in ``folder``; its wall seconds, CPU seconds, job count and each job's core-seconds.

    Raises:
        RuntimeError: the run failed (the message holds the end of its output and the log's path).
    """
    cmd = snakemake or [sys.executable, "-m", "snakemake"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    log = folder / "run_cost.log"
    with log.open("w") as out:
        done = subprocess.run([*cmd, "--cores", str(cores)], cwd=folder, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = log.read_text(errors="replace")
    if done.returncode != 0:
        raise RuntimeError(f"snakemake failed in {folder} (exit {done.returncode}); see {log}:\n{text[-3000:]}")
    steps = re.findall(r"^(\d+) of (\d+) steps \(100%\) done$", text, re.MULTILINE)
    return {
        "wall_seconds": seconds,
        "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "jobs": int(steps[-1][1]) if steps else 0,
        "job_core_seconds": job_core_seconds(text),
    }


_STAMP = re.compile(LOG_STAMP)
_RULE = re.compile(r"^(?:local)?rule (\S+):$")
_FIELD = re.compile(r"^\s+(jobid|wildcards|threads): (.*)$")
_FINISHED = re.compile(r"^Finished job(?:id:)? (\d+)")


def job_core_seconds(log_text: str) -> dict[str, float]:
    """Core-seconds of every finished job of a Snakemake log: ``{"rule[wildcards]": wall seconds x threads}``.

    A job's wall seconds run from the time stamp before its ``rule`` block to the one before its ``Finished``
    line (Snakemake stamps to the second).
    """
    stamp, current, started, finished = None, None, {}, {}
    for line in log_text.splitlines():
        if match := _STAMP.match(line):
            stamp = log_time(match.group(1))
        elif match := _RULE.match(line):
            current = {"rule": match.group(1), "wildcards": "", "threads": 1, "start": stamp}
        elif current is not None and (match := _FIELD.match(line)):
            key, value = match.groups()
            if key == "jobid":
                started[value] = current
            elif key == "wildcards":
                current["wildcards"] = value.strip()
            else:
                current["threads"] = int(value)
        elif (match := _FINISHED.match(line)) and match.group(1) in started:
            finished[match.group(1)] = stamp
    out = {}
    for jobid, job in started.items():
        if jobid in finished and job["start"] is not None:
            out[f"{job['rule']}[{job['wildcards']}]"] = (finished[jobid] - job["start"]).total_seconds() * job["threads"]
    return out


def added_share(full: dict[str, float], without: dict[str, float]) -> dict[str, float]:
    """The full run's core-seconds in the jobs the ``without`` run does not have, and their share of its total."""
    added = sum(seconds for job, seconds in full.items() if job not in without)
    total = sum(full.values())
    share = added / total if total > 0 else float("nan")
    return {"added_core_seconds": added, "total_core_seconds": total, "share": share,
            "busy_cores_ratio": 1.0 / (1.0 - share) if share < 1 else float("inf"), "added_jobs": sum(job not in without for job in full)}


def order(repeats: int) -> list[str]:
    """``full, without`` then ``without, full``, alternating: a drift in time slows both sides alike."""
    pairs = [("full", "without") if i % 2 == 0 else ("without", "full") for i in range(repeats)]
    return [label for pair in pairs for label in pair]


def to_markdown(report: dict[str, Any]) -> str:
    runs = report["runs"]
    lines = [
        f"Measured {report.get('created', '?')} on {report.get('cores', '?')} cores, {report.get('cpu', '?')}, "
        f"torch {report.get('packages', {}).get('torch', '?')}: `snakemake --cores {report.get('cores', '?')}` from clean "
        "with the default profile, back to back.",
        "",
        f"`without`: `config.yaml` without the models {', '.join(f'`{m}`' for m in report['without_models'])} and "
        "their stages" + (f", and without {', '.join(f'`{k}`' for k in report['dropped'])}" if report["dropped"] else "") + ".",
        "",
        "| order | run | jobs | wall s | CPU s | CPU / wall |",
        "|--:|:--|--:|--:|--:|--:|",
    ]
    for i, run in enumerate(runs, 1):
        lines.append(f"| {i} | {run['label']} | {run['jobs']} | {run['wall_seconds']:.0f} | {run['cpu_seconds']:.0f} | "
                     f"{run['cpu_seconds'] / run['wall_seconds']:.2f} |")
    ratios = report["ratios"]
    lines += ["", "Wall-time ratio full / without, per pair: " + ", ".join(f"{r:.3f}" for r in ratios)
              + f"; median {statistics.median(ratios):.3f}."]
    shares = report.get("shares", [])
    if shares:
        lines += ["", "Within each full run (its Snakemake log, so no drift between runs): the core-seconds of the jobs the "
                  "`without` run does not have, their share of the run's job core-seconds, and the ratio "
                  "1 / (1 - share) that a run keeping its cores busy would show:", "",
                  "| pair | added jobs | their core-s | all jobs' core-s | share | 1 / (1 - share) |", "|--:|--:|--:|--:|--:|--:|"]
        lines += [f"| {i} | {x['added_jobs']} | {x['added_core_seconds']:.0f} | {x['total_core_seconds']:.0f} | {x['share']:.3f} | "
                  f"{x['busy_cores_ratio']:.3f} |" for i, x in enumerate(shares, 1)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m antithetic.workflow.run_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--without-models", nargs="+", required=True, metavar="MODEL",
                        help="models whose stages the 'without' run leaves out, e.g. digits-cddpm digits-gmm-cond")
    parser.add_argument("--drop", nargs="*", default=[], metavar="KEY", help="config keys the 'without' run also leaves out, e.g. uq.semantic")
    parser.add_argument("--repeats", type=int, default=1, help="pairs of runs (default 1; each run is a whole default run)")
    parser.add_argument("--config", default=str(ROOT / "config.yaml"), help="the full run's config (default: config.yaml)")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", default=str(ROOT / "results" / "bench"))
    parser.add_argument("--keep", action="store_true", help="keep the scratch folders (models, samples, figures)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.cores < 1:
        parser.error(f"--repeats and --cores must be at least 1 (got {args.repeats} and {args.cores})")
    from ..artifacts import environment_info
    from .bench import write_report
    from .config import check_references

    full = yaml.safe_load(Path(args.config).read_text())
    try:
        without = without_models(full, args.without_models)
        for key in args.drop:
            without = drop_key(without, key)
    except KeyError as err:
        parser.error(str(err.args[0]))
    check_references(without)  # a leftover reference to a removed model stops here, not minutes into the run
    configs = {"full": full, "without": without}
    out = Path(args.out)
    scratch = out / "run_cost"
    runs = []
    for label in order(args.repeats):
        folder = scratch_checkout(scratch / label, configs[label])
        print(f"run {len(runs) + 1}/{2 * args.repeats}: {label} in {folder}", flush=True)
        result = {"label": label, **run_workflow(folder, cores=args.cores)}
        print(f"  {result['jobs']} jobs, {result['wall_seconds']:.0f} s wall, {result['cpu_seconds']:.0f} s CPU", flush=True)
        runs.append(result)
        if not args.keep:
            shutil.rmtree(folder)
    fulls, withouts = ([r for r in runs if r["label"] == label] for label in ("full", "without"))
    report = {
        "without_models": list(args.without_models),
        "dropped": list(args.drop),
        "cores": args.cores,
        "runs": runs,
        "ratios": [f["wall_seconds"] / w["wall_seconds"] for f, w in zip(fulls, withouts)],
        "shares": [added_share(f["job_core_seconds"], w["job_core_seconds"]) for f, w in zip(fulls, withouts)],
        **environment_info(),
    }
    write_report(out, "run_cost", report, to_markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
