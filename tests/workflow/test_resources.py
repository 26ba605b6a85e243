"""The rules' declared resources (antithetic.workflow.resources): the paper config's network jobs ask for at least
their projected peak memory, the default config's jobs fit the default profile's memory."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from antithetic.workflow import resources
from antithetic.workflow.bench_memory import JOBS, SKIPPED

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.filterwarnings("ignore")


def _planned_jobs(out: str) -> list[dict]:
    """rule, wildcards and resources of every job of a ``snakemake --dry-run`` output."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", out):
        head = re.match(r"(?:local)?rule (\w+):", block)
        res = re.search(r"^\s+resources: (.*)$", block, re.MULTILINE)
        if not head or not res:
            continue
        wc = re.search(r"^\s+wildcards: (.*)$", block, re.MULTILINE)
        wildcards = dict(item.split("=", 1) for item in wc.group(1).split(", ")) if wc else {}
        values = dict(item.split("=", 1) for item in res.group(1).split(", "))
        jobs.append({"rule": head.group(1), "wildcards": wildcards, "mem_mb": int(values["mem_mb"]), "runtime": int(values.get("runtime", 0))})
    return jobs


def _dry_run(tmp_path: Path, *args: str) -> str:
    """A dry run in ``tmp_path`` (its config.yaml and config/ copied there), with ``args``."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TORCH_HOME": str(tmp_path / "torch"), "ANTITHETIC_FORKSERVER": "0"}
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path), "--cores", "1",
           "--dry-run", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    return out


def _config(name: str) -> dict:
    from snakemake.utils import validate

    config = yaml.safe_load((ROOT / name).read_text())
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    return config


def test_every_network_and_sample_reading_rule_is_measured_or_skipped_for_a_stated_reason():
    assert set(resources.FITS) == set(JOBS)
    assert set(resources.COUNTS) == set(JOBS) | {"guided_sample"}
    assert "guided_sample" in SKIPPED and "train_model" in SKIPPED
    for rule, (base, per_sample_pixel, per_pixel) in resources.FITS.items():
        assert base > 300 and per_sample_pixel >= 0 and per_pixel >= 0, rule


def test_paper_config_network_jobs_declare_at_least_their_projected_peak(tmp_path):
    """A dry run of config/paper.yaml with the SLURM profile's defaults on a GPU: every network job declares
    mem_mb >= the fitted peak of its size, and more than the profile's default when its size needs it."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"models": {}, "samplers": {}}))
    (tmp_path / "data" / "celebahq-val").mkdir(parents=True)
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "torch" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth").write_bytes(b"")
    out = _dry_run(tmp_path, "--configfile", str(ROOT / "config" / "paper.yaml"), "--replace-workflow-config",
                   "--workflow-profile", "none", "--default-resources", "device='cuda'", "batch_size=256", "mem_mb=4000", "runtime=30")
    config = _config("config/paper.yaml")
    jobs = [job for job in _planned_jobs(out) if job["rule"] in resources.COUNTS]
    seen = {job["rule"] for job in jobs}
    assert {"sample", "guided_sample", "symmetry_probe", "trajectory_correlations", "theorem1_fisher", "uq_estimates", "diversity",
            "inverse_dps"} <= seen, seen
    for job in jobs:
        size = resources.job_size(config, job["rule"], SimpleNamespace(**job["wildcards"]))
        network, image = resources.image_shapes(size["model"])
        peak = resources.projected_peak_mb(job["rule"], math.prod(image), size["n"], 256, device="cuda",
                                           weights=resources.weights_mb(size["model"]), network_numel=math.prod(network))
        assert job["mem_mb"] >= peak, (job, peak)
        if job["rule"] in resources.NETWORK_RULES:
            assert job["mem_mb"] > 4000 and job["runtime"] >= resources.MIN_RUNTIME, job
    # the largest images hold the most: SD 1.5's uq_estimates (512^2, 200 per method) above CIFAR-10's (32^2)
    uq = {job["wildcards"]["model"]: job["mem_mb"] for job in jobs if job["rule"] == "uq_estimates"}
    assert uq["sd15"] > uq["cifar10"]


def test_default_config_jobs_fit_the_default_profile_memory(tmp_path):
    """A dry run of config.yaml with the default profile (the CPU, its batch size): no job asks for more than the
    profile's default memory."""
    profile = yaml.safe_load((ROOT / "profiles" / "default" / "config.yaml").read_text())
    limit = int(profile["default-resources"]["mem_mb"])
    batch = int(profile["default-resources"]["batch_size"])
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    jobs = _planned_jobs(_dry_run(tmp_path, "--workflow-profile", str(ROOT / "profiles" / "default"), "--default-resources", "mem_mb=4000",
                                  "device='cpu'", f"batch_size={batch}"))
    declared = [job for job in jobs if job["rule"] in resources.COUNTS]
    assert {job["rule"] for job in declared} >= {"sample", "uq_estimates", "diversity", "quality", "editing", "inverse_dps"}
    too_big = [job for job in declared if job["mem_mb"] > limit]
    assert not too_big, too_big


def test_image_shapes_of_the_paper_models_and_the_digits():
    config = _config("config/paper.yaml")
    shapes = {name: resources.image_shapes(spec) for name, spec in config["models"].items()}
    assert shapes["cifar10"] == ((3, 32, 32), (3, 32, 32))
    assert shapes["church"][1] == (3, 256, 256)
    assert shapes["dit-xl-2-256"] == ((4, 32, 32), (3, 256, 256))
    assert shapes["sd15"] == ((4, 64, 64), (3, 512, 512))
    assert shapes["cd-imagenet64"][1] == (3, 64, 64) and shapes["cd-cat256"][1] == (3, 256, 256)
    default = _config("config.yaml")
    assert {resources.image_shapes(spec)[1] for spec in default["models"].values()} == {(1, 8, 8)}


def test_the_fits_are_the_committed_measurement():
    """resources.FITS is docs/memory.md's fit (written by make bench-memory from results/bench/memory.json)."""
    text = (ROOT / "docs" / "memory.md").read_text()
    for rule, (base, per_sample_pixel, per_pixel) in resources.FITS.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| {rule} ("))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[6]) == pytest.approx(base, abs=1), rule
        assert float(cells[7]) == pytest.approx(per_sample_pixel * 2**20, rel=2e-3, abs=0.1), rule
        assert float(cells[8]) == pytest.approx(per_pixel * 1024, rel=2e-3, abs=0.1), rule


def test_fit_recovers_a_linear_model():
    from antithetic.workflow.bench_memory import fit

    truth = lambda p, n: 900 + 2e-5 * n * p + 0.01 * p  # noqa: E731
    found = fit([(3072, 100, truth(3072, 100)), (3072, 800, truth(3072, 800)), (768, 100, truth(768, 100))])
    assert found == pytest.approx({"base_mb": 900, "per_sample_pixel_mb": 2e-5, "per_pixel_mb": 0.01})
    assert json.dumps(found)
