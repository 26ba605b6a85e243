"""Project files agree with each other: pins, dependency bounds, execution profiles and rules."""

import os
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_conda_environment_is_generated_from_requirements():
    sys.path.insert(0, str(ROOT / "envs"))
    from sync import render

    expected = render((ROOT / "requirements.txt").read_text())
    assert (ROOT / "envs" / "antithetic.yaml").read_text() == expected, "run `make envs/antithetic.yaml`"


def test_scipy_lower_bound_has_the_qmc_rng_keyword():
    # antithetic.rqmc calls qmc.Sobol(..., rng=...); the keyword exists from scipy 1.15 on (SPEC 7)
    deps = yaml.safe_load("[" + re.search(r"dependencies = \[(.*?)\]", (ROOT / "pyproject.toml").read_text(), re.S).group(1) + "]")
    (scipy,) = [d for d in deps if d.startswith("scipy")]
    lower = tuple(int(p) for p in scipy.split(">=")[1].split(".")[:2])
    assert lower >= (1, 15), scipy


def _rules_of_scripts():
    """Map each workflow script to the rule that runs it."""
    rules = {}
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        rule = None
        for line in smk.read_text().splitlines():
            if m := re.match(r"rule (\w+):", line):
                rule = m.group(1)
            if m := re.search(r'"\.\./scripts/(\w+)\.py"', line):
                rules[m.group(1)] = rule
    return rules


def test_every_rule_that_runs_a_network_on_the_device_gets_the_gpu():
    device_scripts = [p.stem for p in (ROOT / "workflow" / "scripts").glob("*.py") if "device=device" in p.read_text()]
    rules = _rules_of_scripts()
    network_rules = {rules[s] for s in device_scripts}
    assert {"sample", "symmetry_probe", "uq_coverage"} <= network_rules
    gpu = yaml.safe_load((ROOT / "profiles" / "gpu" / "config.yaml").read_text())["set-resources"]
    slurm = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())["set-resources"]
    for rule in sorted(network_rules):
        assert gpu.get(rule, {}).get("gpu") == 1, f"profiles/gpu: rule {rule} runs a network but holds no gpu"
        settings = slurm.get(rule, {})
        asks = "gres" in settings or "--gres=gpu" in str(settings.get("slurm_extra", ""))
        assert asks, f"profiles/slurm: rule {rule} runs a network but requests no GPU"


def test_table_plot_and_claim_code_imports_neither_torch_nor_diffusers():
    """What table, figure and claim jobs import (their entry points and the library modules they call),
    in a fresh interpreter: torch alone costs a few seconds per job. The end-to-end run checks the jobs' logs."""
    import subprocess

    modules = [
        "antithetic.workflow.jobs.correlation", "antithetic.workflow.jobs.uq", "antithetic.workflow.jobs.symmetry",
        "antithetic.workflow.jobs.inverse", "antithetic.workflow.jobs.diversity", "antithetic.workflow.jobs.quality",
        "antithetic.workflow.jobs.editing", "antithetic.workflow.jobs.flowedit", "antithetic.workflow.jobs.eta_sweep", "antithetic.workflow.jobs.claims", "antithetic.workflow.jobs.guidance",
        "antithetic.workflow.tables", "antithetic.workflow.claims", "antithetic.workflow.readme", "antithetic.symmetry.scores", "antithetic.regions",
        *(f"antithetic.workflow.plotting.{m}" for m in ("correlation", "uq", "symmetry", "inverse", "diversity", "quality", "editing", "flowedit", "claims",
                                                          "sweeps")),
    ]
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules) + (
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert result.returncode == 0, result.stderr[-2000:]


def test_sampling_an_analytic_or_generator_model_never_imports_the_unet_stack(tmp_path):
    """diffusers' UNet module pulls in its transformer models and the ``transformers`` library (seconds per
    job); the analytic and generator sampling jobs need neither (a generator's ``from_pretrained`` still imports
    ``transformers``). Checked in a fresh interpreter after loading and sampling each kind through the
    workflow's own job functions."""
    import subprocess

    code = (
        "import sys\n"
        "from antithetic.workflow.jobs.sampling import load_model, design_from_spec\n"
        "from antithetic.generate import generate\n"
        "design = design_from_spec({'kind': 'antithetic'}, seed=0)\n"
        "def run(name, spec, sampler):\n"
        "    options = {} if sampler == 'decode' else {'num_steps': 3}\n"
        "    model = load_model(name, spec, device='cpu')\n"
        "    generate(model, design=design, num_samples=4, sampler=sampler, sampler_options=options, progress=False)\n"
        "def loaded(*names):\n"
        "    return sorted(m for m in names if m in sys.modules)\n"
        "run('a', {'kind': 'affine_odd', 'mean': 0.2, 'std': 0.5}, 'ddim')\n"
        "run('g', {'kind': 'gaussian_mixture', 'means': 'digits', 'std': 0.3}, 'ddpm')\n"
        "assert not loaded('diffusers.models.unets.unet_2d', 'diffusers.pipelines', 'transformers'), loaded('diffusers.models.unets.unet_2d', 'diffusers.pipelines', 'transformers')\n"
        "from antithetic.models.vae import DigitsVAE\n"
        f"DigitsVAE(latent_dim=4, hidden_dims=(8,)).save_pretrained({str(tmp_path / 'vae')!r})\n"
        f"run('v', {{'kind': 'vae', 'pretrained': {str(tmp_path / 'vae')!r}}}, 'decode')\n"
        "assert not loaded('diffusers.models.unets.unet_2d', 'diffusers.pipelines')\n"  # ModelMixin loading imports transformers
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert result.returncode == 0, result.stderr[-2000:]


def test_performance_page_bench_block_is_the_committed_benchmark():
    from antithetic.workflow.readme import main as readme_main

    assert readme_main(["check", str(ROOT / "docs" / "performance.md"), str(ROOT / "docs" / "bench.md"), "bench"]) == 0


def test_performance_page_run_cost_block_is_the_committed_measurement():
    from antithetic.workflow.readme import main as readme_main

    assert readme_main(["check", str(ROOT / "docs" / "performance.md"), str(ROOT / "docs" / "run-cost.md"), "run-cost"]) == 0


def test_bench_reads_the_last_complete_run_and_the_benchmark_files(tmp_path):
    from antithetic.workflow.bench import last_run, stage_times, to_markdown

    logs = tmp_path / "log"
    logs.mkdir()
    (logs / "2026-01-01T100000.000000.snakemake.log").write_text(
        "Building DAG of jobs...\n[Thu Jan  1 10:00:05 2026]\nlocalrule all:\n1 of 3 steps (33%) done\n"
        "[Thu Jan  1 10:02:35 2026]\n3 of 3 steps (100%) done\n"
    )
    (logs / "2026-01-02T100000.000000.snakemake.log").write_text("Nothing to be done.\n")  # a no-op rerun: skipped
    assert last_run(logs) == {"log": "2026-01-01T100000.000000.snakemake.log", "jobs": 3, "seconds": 150.0}
    bench = tmp_path / "benchmarks" / "sample" / "m" / "s"
    bench.mkdir(parents=True)
    for name, seconds in (("a.tsv", 1.5), ("b.tsv", 2.0)):
        (bench / name).write_text(f"s\th:m:s\n{seconds}\t0:00:01\n")
    stages = stage_times(tmp_path / "benchmarks")
    assert stages == {"sample": {"jobs": 2, "seconds": 3.5}}
    report = {"ratios": {"setup": {"device": "cpu"}}, "startup": {"claim": 0.1}, "noop_rerun_seconds": None,
              "stages": stages, "last_run": last_run(logs)}
    text = to_markdown(report)
    assert "Last complete run: 3 jobs in 150 s" in text and "| sample | 2 | 3.5 |" in text


def test_bench_job_startup_times_each_job_kind_and_falls_back_without_a_server(monkeypatch):
    """The start-up bench runs each kind's imports in a fresh Python; without a fork server it stops there."""
    import antithetic.workflow.bench as bench
    import antithetic.workflow.forkserver as forkserver

    monkeypatch.setattr(bench, "JOB_IMPORTS", {"preamble": "pass", "claim": "import json"})
    monkeypatch.setattr(forkserver, "start_server", lambda **_: None)
    times = bench.job_startup(repeats=1)
    assert set(times) == {"preamble", "claim"} and all(t > 0 for t in times.values())


def test_bench_reports_are_written_as_json_and_markdown(tmp_path, capsys):
    import json

    from antithetic.workflow.bench import write_report

    write_report(tmp_path / "bench", "run_cost", {"ratios": [1.2]}, "| a |\n")
    assert json.loads((tmp_path / "bench" / "run_cost.json").read_text()) == {"ratios": [1.2]}
    assert (tmp_path / "bench" / "run_cost.md").read_text() == "| a |\n" and "| a |" in capsys.readouterr().out


def test_bench_ratio_is_the_median_of_interleaved_repeat_ratios(monkeypatch):
    """A slow period slows both calls of a repeat: it must not move the ratio; which side runs first alternates."""
    import antithetic.workflow.bench as bench

    calls = []
    # in call order: num, den, den, num, num, den, ...; the third repeat ran in a period twice as slow
    times = iter([2.0, 1.0, 1.0, 2.2, 4.2, 2.0, 1.0, 2.1, 1.9, 1.0])
    monkeypatch.setattr(bench, "_seconds", lambda fn: (calls.append(fn()), next(times))[1])
    r = bench._interleaved_ratio(lambda: "num", lambda: "den", 5)
    assert calls == ["num", "den", "den", "num", "num", "den", "den", "num", "num", "den"]
    assert r["ratio"] == 2.1 and (r["ci_low"], r["ci_high"]) == (1.9, 2.2) and r["repeats"] == 5  # ratios 2, 2.2, 2.1, 2.1, 1.9
    assert r["best_times_ratio"] == 1.9 and r["numerator_seconds"] == 1.9 and r["denominator_seconds"] == 1.0


def test_bench_rejects_a_repeat_count_below_one_naming_the_option(capsys):
    import pytest

    from antithetic.workflow.bench import main

    with pytest.raises(SystemExit) as exit_:
        main(["--repeats", "0"])
    assert exit_.value.code == 2 and "--repeats and --batch must be at least 1 (got 0 and 256)" in capsys.readouterr().err


def test_bench_median_interval_covers_the_median_at_its_stated_rate():
    import numpy as np
    import pytest

    from antithetic.workflow.bench import median_interval

    assert median_interval([5, 1, 4, 2, 3, 9, 8, 7, 6])[:2] == (2, 8)  # n = 9: x_(2), x_(8)
    assert median_interval([5, 1, 4, 2, 3, 9, 8, 7, 6])[2] == pytest.approx(1 - 2 * 10 / 512)
    with pytest.raises(ValueError, match="at least one value"):
        median_interval([])
    rng = np.random.default_rng(0)
    for n in (5, 9, 15):
        draws = rng.lognormal(0.0, 0.5, size=(4000, n))  # skewed, true median 1
        intervals = [median_interval(list(row)) for row in draws]
        coverage = intervals[0][2]
        assert coverage >= 0.95 or n == 5  # n = 5 reaches only 1 - 2/32 with [min, max]
        hits = np.mean([low <= 1.0 <= high for low, high, _ in intervals])
        assert abs(hits - coverage) < 3 * np.sqrt(coverage * (1 - coverage) / len(draws)) + 1e-3


def test_make_clean_removes_outputs_but_keeps_the_tracked_readmes(tmp_path):
    import subprocess

    for folder in ("results", "figures"):
        (tmp_path / folder / "sub").mkdir(parents=True)
        (tmp_path / folder / "sub" / "out.csv").write_text("x")
        (tmp_path / folder / "README.md").write_text("kept")
    (tmp_path / "logs").mkdir()
    subprocess.run(["make", "-f", str(ROOT / "Makefile"), "clean"], cwd=tmp_path, check=True, capture_output=True)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "figures", "figures/README.md", "results", "results/README.md"
    ]
    assert all((ROOT / folder / "README.md").is_file() for folder in ("results", "figures"))  # tracked in the repo


def test_slurm_check_config_plans_its_jobs(tmp_path):
    """The SLURM check's config (tests/cluster/slurm_check.py) stays a valid config of today's workflow: a
    dry run plans its sampling, trajectory, Table 1 and two-claim ledger jobs (a stale config once stopped the
    check at validation, found only when the check ran)."""
    import subprocess

    result = subprocess.run([sys.executable, str(ROOT / "tests" / "cluster" / "slurm_check.py"), "config", str(tmp_path / "config.yaml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    dry = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
                          "--cores", "2", "--dry-run"], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert dry.returncode == 0, dry.stderr[-3000:]
    stats = dry.stdout.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    planned = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.MULTILINE)}
    assert planned == {"sample": 4, "trajectory_correlations": 1, "trajectory_figure": 1, "pair_correlations": 2, "pair_figures": 2,
                       "table1": 1, "claim_C1": 1, "claim_C2": 1, "claims": 1, "forest_figure": 1, "readme_results": 1, "all": 1,
                       "total": 17}


def test_lazy_packages_list_and_resolve_their_names_without_importing_them():
    """antithetic, .models, .experiments and .symmetry name each public attribute's submodule: `dir()`
    lists it without importing anything heavy, access imports it, and a typo is an AttributeError."""
    import subprocess

    code = (
        "import sys, antithetic, antithetic.models as m, antithetic.workflow.jobs as e, antithetic.symmetry as s\n"
        "assert {'make_design'} <= set(dir(antithetic)) and {'build_model', 'ModelNotAvailableError'} <= set(dir(m))\n"
        "assert {'run_sampling'} <= set(dir(e)) and {'as_score'} <= set(dir(s))\n"
        "assert 'torch' not in sys.modules\n"
        "assert s.as_score.__module__ == 'antithetic.symmetry.scores' and 'torch' not in sys.modules\n"
        "assert m.ModelNotAvailableError.__module__ == 'antithetic.models.errors' and 'torch' not in sys.modules\n"
        "try:\n    m.build_modle\nexcept AttributeError as err:\n    assert \"'antithetic.models' has no attribute 'build_modle'\" in str(err)\n"
        "else:\n    raise AssertionError('no AttributeError')\n"
        "assert m.build_model.__module__ == 'antithetic.models.registry' and 'torch' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert result.returncode == 0, result.stderr[-2000:]
