"""The run-cost benchmark's pieces: the config without some models, the run order, the scratch copy, the report."""

import copy
import json
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from antithetic.workflow.config import check_references
from antithetic.workflow.run_cost import (
    added_share,
    drop_key,
    job_core_seconds,
    order,
    run_workflow,
    scratch_checkout,
    to_markdown,
    without_models,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")
CONDITIONAL = ["digits-cddpm", "digits-gmm-cond"]


def default_config():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_without_models_leaves_no_reference_and_keeps_every_other_entry():
    config = default_config()
    without = without_models(config, CONDITIONAL)
    checked = copy.deepcopy(without)
    validate(checked, SCHEMA)  # fills the schema's defaults in: an absent guidance or flowedit section is off
    check_references(checked)
    assert checked["guidance"]["runs"] == {} and "model" not in checked["flowedit"]
    text = json.dumps(without)
    assert not any(name in text for name in CONDITIONAL)
    # the stages that ran only on the removed models are gone; the rest keeps every other model's entries
    assert "guidance" not in without and "flowedit" not in without
    assert set(without["models"]) == set(config["models"]) - set(CONDITIONAL)
    assert without["correlation"]["runs"] == {m: s for m, s in config["correlation"]["runs"].items() if m not in CONDITIONAL}
    assert without["uq"]["runs"] == {m: s for m, s in config["uq"]["runs"].items() if m not in CONDITIONAL}
    assert without["uq"]["semantic"]["models"] == ["digits-ddpm"]
    for key in ("symmetry", "eta_sweep", "inverse", "editing", "diversity", "quality", "classifier", "samplers", "designs"):
        assert without[key] == config[key], key
    assert config == default_config(), "the input config must not change"


def test_without_models_drops_a_subsection_left_with_nothing_to_run_and_refuses_unknown_names():
    config = {"models": {"a": {}, "b": {}}, "uq": {"runs": {"a": ["ddim"]}, "semantic": {"models": ["a"], "statistics": ["confidence"]}},
              "correlation": {"runs": {"a": ["ddim"], "b": ["ddim"]}, "pairs": 5}, "editing": {"model": "a", "sources": 3}}
    without = without_models(config, ["a"])
    assert without == {"models": {"b": {}}, "correlation": {"runs": {"b": ["ddim"]}, "pairs": 5}}
    with pytest.raises(KeyError, match="not models of the config: c"):
        without_models(config, ["c"])


def test_drop_key_removes_a_nested_key_and_names_a_missing_one():
    config = {"uq": {"semantic": {"models": ["a"]}, "level": 0.95}}
    assert drop_key(config, "uq.semantic") == {"uq": {"level": 0.95}}
    assert "semantic" in config["uq"]
    with pytest.raises(KeyError, match="'uq.semantics' is not in the config"):
        drop_key(config, "uq.semantics")


def test_runs_alternate_so_that_a_drift_slows_both_sides():
    assert order(1) == ["full", "without"]
    assert order(3) == ["full", "without", "without", "full", "full", "without"]


def test_scratch_checkout_copies_the_workflow_with_the_given_config(tmp_path):
    config = without_models(default_config(), CONDITIONAL)
    folder = scratch_checkout(tmp_path / "scratch", config)
    assert yaml.safe_load((folder / "config.yaml").read_text()) == config
    assert (folder / "Snakefile").read_text() == (ROOT / "Snakefile").read_text()
    assert (folder / "src" / "antithetic" / "workflow" / "run_cost.py").is_file()
    assert (folder / "profiles" / "default" / "config.yaml").is_file()
    assert not (folder / "results").exists() and not list(folder.rglob("__pycache__"))


def test_run_workflow_counts_the_jobs_and_reports_a_failure_with_its_log(tmp_path):
    ok = [sys.executable, "-c", "print('7 of 9 steps (78%) done'); print('9 of 9 steps (100%) done')"]
    result = run_workflow(tmp_path, cores=1, snakemake=ok)
    assert result["jobs"] == 9 and result["wall_seconds"] > 0 and result["job_core_seconds"] == {}
    logged = [sys.executable, "-c", f"print({LOG!r})"]
    assert run_workflow(tmp_path, cores=1, snakemake=logged)["job_core_seconds"] == job_core_seconds(LOG)
    bad = [sys.executable, "-c", "import sys; print('MissingInputException in rule sample'); sys.exit(1)"]
    with pytest.raises(RuntimeError, match="(?s)exit 1.*run_cost.log.*MissingInputException"):
        run_workflow(tmp_path, cores=1, snakemake=bad)


LOG = """Execute 2 jobs...
[Sat Dec  5 00:04:52 2026]
localrule train_model:
    output: results/models/digits-ddpm
    jobid: 20
    wildcards: model=digits-ddpm
    threads: 2
    resources: tmpdir=/tmp, mem_mb=4000
[Sat Dec  5 00:04:52 2026]
localrule sample:
    output: results/samples/affine-odd/ddim/iid_n10_seed0.npz
    jobid: 11
    reason: Missing output files: results/samples/affine-odd/ddim/iid_n10_seed0.npz
    wildcards: model=affine-odd, sampler=ddim, design=iid, n=10, seed=0
    resources: tmpdir=/tmp, mem_mb=1500
Select jobs to execute...
[Sat Dec  5 00:04:59 2026]
Finished jobid: 11 (Rule: sample)
1 of 3 steps (33%) done
[Sat Dec  5 00:05:02 2026]
localrule table1:
    output: results/tables/table1.csv
    jobid: 3
[Sat Dec  5 00:06:52 2026]
Finished jobid: 20 (Rule: train_model)
2 of 3 steps (67%) done
"""


def test_job_core_seconds_reads_each_finished_job_with_its_threads():
    """Threads default to 1 (Snakemake prints only more); a job that did not finish has no entry."""
    jobs = job_core_seconds(LOG)
    assert jobs == {"train_model[model=digits-ddpm]": 240.0, "sample[model=affine-odd, sampler=ddim, design=iid, n=10, seed=0]": 7.0}


def test_added_share_counts_the_jobs_only_the_full_run_has():
    full = {"train[a]": 300.0, "train[b]": 60.0, "sample[b]": 40.0, "table": 0.0}
    without = {"train[a]": 500.0, "table": 1.0}  # another run's times never enter
    share = added_share(full, without)
    assert share["added_core_seconds"] == 100.0 and share["total_core_seconds"] == 400.0 and share["added_jobs"] == 2
    assert share["share"] == pytest.approx(0.25) and share["busy_cores_ratio"] == pytest.approx(4 / 3)


def test_report_gives_each_run_and_the_ratio_of_each_pair():
    runs = [{"label": "full", "jobs": 176, "wall_seconds": 600.0, "cpu_seconds": 1180.0},
            {"label": "without", "jobs": 141, "wall_seconds": 500.0, "cpu_seconds": 990.0}]
    shares = [{"added_jobs": 35, "added_core_seconds": 165.0, "total_core_seconds": 1100.0, "share": 0.15, "busy_cores_ratio": 1 / 0.85}]
    text = to_markdown({"runs": runs, "ratios": [1.2], "shares": shares, "without_models": CONDITIONAL, "dropped": ["uq.semantic"],
                        "cores": 2})
    assert "| 1 | full | 176 | 600 | 1180 | 1.97 |" in text
    assert "| 2 | without | 141 | 500 | 990 | 1.98 |" in text
    assert "per pair: 1.200; median 1.200" in text and "`uq.semantic`" in text
    assert "| 1 | 35 | 165 | 1100 | 0.150 | 1.176 |" in text


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["--without-models", "digits-cdpm"], "not models of the config: digits-cdpm"),
        (["--without-models", "digits-cddpm", "--drop", "uq.semantics"], "config key 'uq.semantics' is not in the config"),
        (["--without-models", "digits-cddpm", "--repeats", "0"], "--repeats and --cores must be at least 1"),
    ],
)
def test_a_bad_argument_stops_before_any_run_with_the_name_and_the_fix(argv, fragment, tmp_path, capsys):
    from antithetic.workflow.run_cost import main

    with pytest.raises(SystemExit) as info:
        main([*argv, "--out", str(tmp_path)])
    assert info.value.code == 2 and fragment in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing was copied or run
