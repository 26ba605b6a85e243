"""End to end: the Snakemake workflow on a tiny copy of the default config (minutes -> seconds)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from antithetic.kinds import MODEL_KINDS

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def tiny_config():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["models"]["digits-ddpm"]["train"].update(steps=20, batch_size=32, block_out_channels=[8, 16], warmup_steps=2)
    config["models"]["digits-cddpm"]["train"].update(steps=20, batch_size=32, warmup_steps=2)
    config["samplers"]["ddim"]["num_steps"] = 5
    config["samplers"]["ddpm-100"]["num_steps"] = 8
    for name in ("ddim-eta0.5", "ddim-eta1", "ddim-clipped"):
        config["samplers"][name]["num_steps"] = 5
    config["eta_sweep"]["pairs"] = 4
    config["guidance"]["pairs"] = 4  # at most correlation.pairs: the learned model's own scale reads its Table 1 samples
    config["models"]["digits-vae"]["train"].update(steps=30, hidden_dims=[16])
    config["models"]["digits-flow"]["train"].update(steps=30, hidden_features=16, coupling_layers=2)
    config["correlation"]["pairs"] = 6
    config["correlation"]["grid_pairs"] = 3
    config["symmetry"].update(timesteps=[900, 300, 20], directions=2, grid_points=11, probe_samples=8)
    config["symmetry"]["trajectories"] = {"pairs": 3, "runs": {"digits-ddpm": ["ddpm-100"], "affine-odd": ["ddim"]}}
    config["symmetry"]["fisher"].update(samples=16, points=4)
    config["symmetry"]["partial"]["pairs"] = 6
    config["uq"]["methods"] = {
        "mc": {"design": "iid-disjoint", "num_samples": 12}, "amc": {"design": "antithetic", "num_samples": 12},
        "k_amc": {"design": "k-antithetic-8", "num_samples": 16}, "rqmc": {"design": "rqmc-8", "num_samples": 16},
    }
    config["uq"]["coverage"].update(repetitions=10, num_samples=24, reference_samples=64)
    config["classifier"].update(epochs=2, channels=[8, 16], min_accuracy=0.0)
    config["quality"].update(pairs=6, bootstrap=5, nearest_k=2)
    config["diversity"].update(pairs=6, bootstrap=20)
    config["inverse"].update(measurements=3, samples=4, num_steps=3, bootstrap=20)
    config["editing"].update(sources=4, t0=[300, 600], num_steps=5)
    config["flowedit"].update(sources=4, num_steps=6, n_max=[3, 5], n_avg=2)
    return config


def snakemake_command(workdir, *args):
    """The workflow on ``workdir`` (its config.yaml) with 2 cores, then ``args``."""
    return [*SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), "--cores", "2", *args]


def offline_env(**extra):
    """This process's environment, offline (no hub), with ``extra``."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", **extra}


def run(workdir, *args, check=True, env=None):
    result = subprocess.run(snakemake_command(workdir, *args), capture_output=True, text=True, env=offline_env(**(env or {})), cwd=workdir)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    return result


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("workflow")
    (path / "config.yaml").write_text(yaml.safe_dump(tiny_config()))
    run(path, "--profile", str(ROOT / "profiles" / "default"), "--cores", "2")
    return path


@pytest.mark.slow
def test_default_workflow_produces_tables_and_figures(workdir):
    table = pd.read_csv(workdir / "results" / "tables" / "table1.csv")
    assert sorted(zip(table["model"], table["sampler"])) == sorted(
        [("digits-ddpm", "ddim"), ("digits-ddpm", "ddpm-100"), ("affine-odd", "ddim"), ("digits-gmm", "ddim"), ("digits-gmm", "ddpm-100")]
        + [(m, s) for m in ("digits-ddpm", "affine-odd", "digits-gmm") for s in ("ddim-eta0.5", "ddim-eta1")]
        + [("digits-vae", "decode"), ("digits-flow", "decode"), ("digits-cddpm", "ddim-clipped")]
    )
    affine = table[table["model"] == "affine-odd"]
    assert affine["pn_standard_mean"].to_numpy() == pytest.approx(-1.0, abs=1e-6)  # every eta: all noises negated
    assert (workdir / "results" / "tables" / "table1.md").read_text().count("digits-ddpm") == 4
    assert "\\begin{table}" in (workdir / "results" / "tables" / "table1.tex").read_text()
    assert set(table.loc[table["sampler"].str.startswith("ddim-eta"), "pn_pairs"]) == {4}  # eta_sweep.pairs
    for m, s in zip(*table.loc[table["pn_pairs"] == 6, ["model", "sampler"]].to_numpy().T):
        assert (workdir / "figures" / "pairs" / f"{m}_{s}_6_grid.png").stat().st_size > 0
        assert (workdir / "figures" / "correlation" / f"{m}_{s}_6_histogram.png").stat().st_size > 0
    assert (workdir / "results" / "models" / "digits-ddpm" / "training.json").is_file()
    from antithetic.artifacts import compute_platform
    from antithetic.workflow.readme import PLATFORM_PREFIX

    block = (workdir / "results" / "README.results.md").read_text()
    assert block.startswith(f"{PLATFORM_PREFIX}{compute_platform()}.\n\n**Claims ledger**")


#: jobs that only read results and write tables, figures or the ledger: they import neither torch nor diffusers
CHEAP_RULES = {
    "pair_correlations", "table1", "pair_figures", "eta_sweep", "table2", "uq_figures", "symmetry_table", "table3",
    "table4", "quality_table", "editing_table", "flowedit_table", "claims", "readme_results", "symmetry_slices_figure",
    "trajectory_figure", "fisher_figure", "as_vs_noise_figure", "partial_map_figure", "eta_sweep_figure", "table3_figure",
    "table4_figure", "quality_figure", "editing_figure", "flowedit_figure", "forest_figure", "guidance_sweep",
    "guidance_sweep_figure",
}


def job_logs(workdir):
    """``(rule, log path, log text)`` of every job of a finished run (its log's first line names the rule)."""
    import re

    for log in (workdir / "logs").rglob("*.log"):
        text = log.read_text()
        rule = re.search(r"rule (\w+) wildcards=", text)
        if rule:
            yield rule.group(1), log, text


@pytest.mark.slow
def test_table_plot_and_claim_jobs_import_neither_torch_nor_diffusers(workdir):
    seen = set()
    for rule, log, text in job_logs(workdir):
        if rule in CHEAP_RULES or rule.startswith("claim_"):
            assert "imported: torch=False diffusers=False" in text, (log, text[-500:])
            seen.add(rule)
    assert CHEAP_RULES <= seen, CHEAP_RULES - seen


#: jobs that run a network: each hands itself to the run's "network" fork server (antithetic.workflow.forkserver)
NETWORK_RULES = {
    "train_model", "train_classifier", "sample", "symmetry_probe", "trajectory_correlations", "theorem1_fisher",
    "partial_map", "uq_estimates", "uq_coverage", "quality", "diversity", "inverse_dps", "editing", "flowedit",
    "guided_sample", "guidance_accuracy",
}


@pytest.mark.slow
def test_every_job_ran_in_a_child_of_its_pools_fork_server(workdir):
    seen = set()
    for rule, log, text in job_logs(workdir):
        assert "fork server: running in a child of the fork server" in text, (log, text[-800:])
        seen.add(rule)
    assert NETWORK_RULES | CHEAP_RULES <= seen, (NETWORK_RULES | CHEAP_RULES) - seen


@pytest.mark.slow
def test_provenance_is_recorded(workdir):
    provenance = yaml.safe_load((workdir / "results/samples/digits-ddpm/ddpm-100/antithetic_n12_seed0.json").read_text())
    assert provenance["design"]["name"] == "antithetic" and provenance["design"]["seed"] == 0
    assert provenance["sampler"] == {"name": "ddpm-100", "kind": "ddpm", "num_steps": 8}
    assert len(provenance["weights_sha256"]) == 64
    assert provenance["device"] == "cpu" and provenance["packages"]["torch"]


@pytest.mark.slow
def test_second_run_has_nothing_to_do(workdir):
    result = run(workdir, "--dry-run")
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.slow
def test_bad_config_stops_with_the_key_named(tmp_path):
    config = tiny_config()
    config["samplers"]["ddim"]["num_step"] = 3
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = run(tmp_path, "--dry-run", check=False)
    assert result.returncode != 0
    assert "'num_step' was unexpected" in result.stdout + result.stderr


@pytest.mark.slow
def test_symmetry_outputs(workdir):
    import json

    table = pd.read_csv(workdir / "results" / "tables" / "symmetry_as.csv")
    assert sorted(set(table["model"])) == ["affine-odd", "digits-ddpm", "digits-gmm"]
    assert sorted(set(table["t"])) == [20, 300, 900]
    affine = table[table["model"] == "affine-odd"]
    assert (affine["as_mean"] > 1 - 1e-6).all() and (affine["corr_mean"] < -1 + 1e-6).all()
    assert (table["as_q10_lo"] <= table["as_q10"] + 1e-9).all() and (table["as_q10"] <= table["as_q10_hi"] + 1e-9).all()
    assert (affine["cor1_holds_fraction"] == 1).all() and table.loc[table["model"] == "digits-ddpm", "cor1_holds_fraction"].isna().all()
    breaks = json.loads((workdir / "results" / "symmetry" / "breaks.json").read_text())
    assert breaks["models"]["affine-odd"]["as_q10"]["break_sigma"] is None
    trajectory = pd.read_csv(workdir / "results" / "symmetry" / "affine-odd" / "ddim" / "trajectory_3.csv")
    pn = trajectory[(trajectory["kind"] == "PN") & (trajectory["variant"] == "standard")]
    assert len(pn) == 6 + 5 and (pn["mean"] < -1 + 1e-5).all()
    centered = trajectory[(trajectory["kind"] == "PN") & (trajectory["variant"] == "centered")]
    assert (centered["mean"] < -1 + 1e-5).all()  # held-out mean: exact for the affine model even with 3 pairs
    fisher = json.loads((workdir / "results" / "symmetry" / "fisher.json").read_text())
    assert set(fisher["models"]) == {"digits-gmm", "affine-odd", "digits-ddpm"}
    assert fisher["models"]["affine-odd"]["bound_holds"]
    partial = json.loads((workdir / "results" / "symmetry" / "digits-ddpm" / "ddim" / "partial_map_6.json").read_text())
    assert partial["region"] == "top_half" and partial["pairs_partial"] == 6
    for name in ("as_vs_noise.png", "theorem1_fisher.png", "digits-ddpm_slices.png", "digits-ddpm_ddpm-100_3_trajectory.png",
                 "digits-ddpm_ddim_6_partial_map.png"):
        assert (workdir / "figures" / "symmetry" / name).stat().st_size > 0


@pytest.mark.slow
def test_uq_outputs(workdir):
    table = pd.read_csv(workdir / "results" / "tables" / "table2.csv")
    assert set(table["model"]) == set(tiny_config()["uq"]["runs"])
    assert {"mc", "amc", "k_amc", "rqmc", "mc+cv:linear", "amc+cv:quadratic"} <= set(table["method"])
    conditional = table["model"].map(lambda m: MODEL_KINDS[tiny_config()["models"][m]["kind"]].guided)
    mc = table["method"] == "mc"
    assert table.loc[mc, "efficiency"].to_numpy() == pytest.approx(1.0)
    # a class-conditional model's MC groups are its condition slots (two samples sharing a class)
    assert (table.loc[mc & conditional, "num_groups"] * 2 == table.loc[mc & conditional, "num_samples"]).all() and conditional.any()
    # the classifier's statistics, scalar and vector, get a bootstrap efficiency interval, the pixel statistics the F interval
    own = ~table["method"].str.contains("+cv", regex=False) & ~mc
    classifier = table["statistic"].isin(tiny_config()["uq"]["semantic"]["statistics"])
    assert {"class_probabilities", "confidence"} <= set(table.loc[own & classifier, "statistic"])
    assert set(table.loc[own & classifier, "efficiency_ci_method"]) == {"bootstrap"}
    assert set(table.loc[own & (table["statistic"] == "brightness"), "efficiency_ci_method"]) == {"F"}
    inside = (table["efficiency_low"] <= table["efficiency"] + 1e-9) & (table["efficiency"] <= table["efficiency_high"] + 1e-9)
    # the bootstrap interval of a statistic with a handful of groups (tiny run) may be undefined: NaN, never a wrong number
    undefined = table["efficiency_low"].isna() & table["efficiency_high"].isna() & (table["efficiency_ci_method"] == "bootstrap")
    assert (inside | undefined).all() and inside[table["efficiency_ci_method"] == "F"].all()
    assert table["rho_w"].notna().sum() > 0 and "ci_ratio_squared" in table
    affine = table[(table["model"] == "affine-odd") & (table["statistic"] == "brightness")].set_index("method")
    assert affine.loc["amc", "rho"] < -0.9 and affine.loc["amc", "efficiency"] > 10
    assert table.loc[table["method"] == "amc+cv:linear", "degenerate"].all()  # linear features cancel in pairs
    assert (table["seconds_per_sample"] > 0).all()
    # the classifier's statistics on the runs of uq.semantic.models only; the requested class's probability
    # only for class-conditional models
    semantic = tiny_config()["uq"]["semantic"]
    assert set(table.loc[table["statistic"] == "confidence", "model"]) == set(semantic["models"])
    probabilities = table[table["statistic"] == "class_probabilities"]
    assert probabilities["estimate"].to_numpy() == pytest.approx(0.1)  # ten probabilities summing to 1, averaged
    # the requested class's probability for class-conditional models, the class law for the others
    guided = {m for m in semantic["models"] if MODEL_KINDS[tiny_config()["models"][m]["kind"]].guided}
    assert guided and set(table.loc[table["statistic"] == "requested_class_probability", "model"]) == guided
    assert set(probabilities["model"]) == set(semantic["models"]) - guided
    coverage = pd.read_csv(workdir / "results" / "tables" / "coverage.csv")
    assert set(coverage["model"]) == {"affine-odd", "digits-gmm"} and (coverage["repetitions"] == 10).all()
    closed = coverage[(coverage["model"] == "affine-odd") & (coverage["statistic"] == "brightness")]
    assert (closed["truth_kind"] == "closed form").all() and (closed["target"] == 0.95).all()
    assert coverage["coverage"].between(0, 1).all() and "se_calibration" in coverage
    for name in ("ci_vs_n", "coverage", "ci_width_maps"):
        assert (workdir / "figures" / "uq" / f"{name}.png").stat().st_size > 0


@pytest.mark.slow
def test_generators_and_eta_sweep(workdir):
    import json

    for model, architecture in (("digits-vae", "MLP VAE"), ("digits-flow", "RealNVP")):
        record = json.loads((workdir / "results" / "models" / model / "training.json").read_text())
        assert record["describe"]["architecture"].startswith(architecture) and len(record["history"]["loss"]) == 30
        assert (workdir / "results" / "models" / model / "config.json").is_file()
        provenance = json.loads((workdir / f"results/samples/{model}/decode/antithetic_n12_seed0.json").read_text())
        assert provenance["sampler"] == {"name": "decode", "kind": "decode"} and len(provenance["weights_sha256"]) == 64
    sweep = pd.read_csv(workdir / "results" / "eta_sweep" / "eta_sweep.csv")
    assert sorted(zip(sweep["model"], sweep["eta"])) == sorted(
        (m, e) for m in ("digits-ddpm", "affine-odd", "digits-gmm") for e in (0.0, 0.5, 1.0)
    )
    assert sweep.loc[sweep["model"] == "affine-odd", "pn_standard_mean"].to_numpy() == pytest.approx(-1.0, abs=1e-6)
    assert (workdir / "figures" / "eta_sweep" / "eta_sweep.png").stat().st_size > 0


def _small_config():
    """Table 1 of the affine model only: no training, a handful of short jobs."""
    config = tiny_config()
    config["models"] = {"affine-odd": config["models"]["affine-odd"]}
    config["correlation"]["runs"] = {"affine-odd": ["ddim"]}
    for section in ("eta_sweep", "symmetry", "uq", "quality", "diversity", "inverse", "editing", "flowedit", "guidance"):
        config.pop(section, None)
    return config


def _flowedit_config():
    """The small config with the FlowEdit stage: the exact class mixture, 4 held-out digits, n_max 3 and 5 of 6 steps."""
    config, tiny = _small_config(), tiny_config()
    config["models"]["digits-gmm-cond"] = tiny["models"]["digits-gmm-cond"]
    config["flowedit"] = tiny["flowedit"]
    return config


@pytest.mark.slow
def test_flowedit_stage_writes_its_table_figures_and_claim_rows(tmp_path):
    import json

    (tmp_path / "config.yaml").write_text(yaml.safe_dump(_flowedit_config()))
    targets = ["results/tables/flowedit.csv", "figures/flowedit/win_rates.png", "figures/flowedit/edits.png",
               "results/claims/C26.json", "results/claims/C27.json"]
    planned = _job_stats(run(tmp_path, "--dry-run", *targets).stdout)
    assert planned == {"train_classifier": 1, "flowedit": 1, "flowedit_table": 1, "flowedit_figure": 1, "claim_C26": 1, "claim_C27": 1}
    run(tmp_path, *targets)
    table = pd.read_csv(tmp_path / "results" / "tables" / "flowedit.csv")
    assert sorted(set(table["n_max"])) == [3, 5] and set(table["measure"]) == {"target_probability", "faithfulness_feature"}
    assert (table["n"] + table["ties"] == 4).all() and table["win_rate"].dropna().between(0, 1).all()
    assert (table["ci_low"] <= table["ci_high"]).all() and (table["model"] == "digits-gmm-cond").all()
    with np.load(tmp_path / "results" / "flowedit" / "digits-gmm-cond" / "edits.npz") as edits:
        assert edits["antithetic"].shape == edits["iid"].shape == (2, 4, 1, 8, 8)
        assert (edits["target_labels"] != edits["source_labels"]).all()
    summary = json.loads((tmp_path / "results" / "flowedit" / "digits-gmm-cond" / "win_rates.json").read_text())
    assert summary["settings"]["n_avg"] == 2 and summary["seconds"] > 0
    for cid, measure in (("C26", "target_probability"), ("C27", "faithfulness_feature")):
        rows = json.loads((tmp_path / "results" / "claims" / f"{cid}.json").read_text())["rows"]
        assert [r["sampler"] for r in rows] == [f"3 {measure}", f"5 {measure}"] and {r["model"] for r in rows} == {"digits-gmm-cond"}
        assert all(r["test"] == "CI > 0.5" and r["file"] == "results/tables/flowedit.csv" for r in rows)
    assert "Nothing to be done" in run(tmp_path, "--dry-run", *targets).stdout


@pytest.fixture(scope="module")
def guidance_workdir(tmp_path_factory):
    """The guidance ablation alone: the learned class-conditional model (also a Table 1 row) and the exact mixture."""
    full = tiny_config()
    config = _small_config()
    config["models"] = {m: full["models"][m] for m in ("digits-cddpm", "digits-gmm-cond")}
    config["classifier"] = full["classifier"]
    config["correlation"]["runs"] = {"digits-cddpm": ["ddim-clipped"]}
    config["guidance"] = {**full["guidance"], "scales": [0.0, 1.0, 4.0]}
    path = tmp_path_factory.mktemp("guidance")
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    run(path, "--profile", str(ROOT / "profiles" / "default"), "--cores", "2")
    return path


@pytest.mark.slow
def test_guidance_sweep_reports_correlations_and_accuracy_on_both_models(guidance_workdir):
    import json

    from antithetic.models.conditional import ClassLabels

    work = guidance_workdir
    record = json.loads((work / "results/models/digits-cddpm/training.json").read_text())
    assert record["train"]["num_classes"] == 10 and record["train"]["label_dropout"] == 0.1
    assert json.loads((work / "results/models/digits-cddpm/unet/config.json").read_text())["num_class_embeds"] == 11
    for model, sampler in (("digits-cddpm", "ddim-clipped"), ("digits-gmm-cond", "ddim")):
        folder = work / "results" / "guidance" / model / sampler
        sweep = pd.read_csv(folder / "sweep_4.csv")
        assert sweep["guidance_scale"].tolist() == [0.0, 1.0, 4.0] and (sweep["pn_pairs"] == 4).all()
        # the RR sample 2j of each of the 4 slots, with its exact binomial interval
        assert (sweep["accuracy_samples"] == 4).all()
        assert ((sweep["accuracy_low"] <= sweep["accuracy"]) & (sweep["accuracy"] <= sweep["accuracy_high"])).all()
        scores = pd.read_csv(folder / "accuracy_4.csv")
        assert len(scores) == 3 * 2 * 8 and scores["scored"].sum() == 3 * 4
        expected = ClassLabels("random", num_classes=10, seed=0)(scores["sample"].tolist())
        assert scores["label"].tolist() == expected.tolist()  # the class each sample asked for, from the model's settings
        assert (work / "figures" / "guidance" / f"{model}_{sampler}_4.png").stat().st_size > 0
    # the learned model's own scale (4) is read from its Table 1 samples, the other scales are sampled for the sweep
    own = work / "results" / "guidance" / "digits-cddpm" / "ddim-clipped"
    assert not (own / "w4").exists() and (own / "w0" / "antithetic_n8_seed0.npz").is_file()
    provenance = json.loads((own / "w0" / "antithetic_n8_seed0.json").read_text())
    assert provenance["model"]["guidance_scale"] == 0.0 and provenance["model"]["kind"] == "conditional_unet"
    # the ledger measures C4 and C28 on both sweeps
    ledger = pd.read_csv(work / "results" / "claims.csv")
    for claim, rows in (("C4", 3), ("C28", 1)):
        measured = ledger[ledger["id"] == claim]
        assert sorted(measured["model"]) == sorted(["digits-cddpm", "digits-gmm-cond"] * rows), claim
        assert not measured["verdict"].str.startswith("not run").any()
    table1 = pd.read_csv(work / "results" / "tables" / "table1.csv")
    assert table1[["model", "sampler"]].values.tolist() == [["digits-cddpm", "ddim-clipped"]]


@pytest.mark.slow
def test_rerun_after_a_killed_run_gives_the_same_outputs(workdir, tmp_path):
    import signal
    import time

    from antithetic.artifacts import load_samples

    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / "config.yaml").write_text(yaml.safe_dump(_small_config()))

    # kill -9 the whole process group (Snakemake and its jobs) while the first job runs; every job of this
    # test runs in its own process, without the fork server (the uninterrupted run used it)
    no_server = {"ANTITHETIC_FORKSERVER": "0"}
    proc = subprocess.Popen(snakemake_command(killed), cwd=killed, env=offline_env(**no_server),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list((killed / "logs").glob("sample/**/*.log")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

    locked = run(killed, check=False, env=no_server)  # a run (not a dry run) takes the lock
    assert locked.returncode != 0 and "cannot be locked" in locked.stdout + locked.stderr  # the README says: --unlock
    run(killed, "--unlock", env=no_server)
    run(killed, "results/tables/table1.csv", env=no_server)  # what is compared below
    # the same numbers as the uninterrupted run of the full tiny config (same seeds, same settings), whose
    # jobs ran in children of the fork server
    for design in ("antithetic", "iid-disjoint"):
        rel = f"results/samples/affine-odd/ddim/{design}_n12_seed0.npz"
        assert np.array_equal(load_samples(killed / rel).samples, load_samples(workdir / rel).samples), rel
    table = pd.read_csv(killed / "results" / "tables" / "table1.csv")
    reference = pd.read_csv(workdir / "results" / "tables" / "table1.csv").set_index(["model", "sampler"]).loc[[("affine-odd", "ddim")]]
    table = table.set_index(["model", "sampler"])
    # settings only other rows' samplers have (e.g. use_clipped_model_output) are columns of the full table alone
    extra = reference.columns.difference(table.columns)
    assert reference[extra].isna().all().all(), extra
    pd.testing.assert_frame_equal(table, reference[table.columns], check_dtype=False)  # eta: int here, float there


def _job_stats(out):
    """Rule -> job count of a ``snakemake --dry-run`` output (empty when nothing is to be done)."""
    import re

    if "Nothing to be done" in out:
        return {}
    stats = out.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.MULTILINE) if m.group(1) not in ("all", "total")}


def _set(path, value):
    def mutate(config):
        *parents, key = path.split(".")
        node = config
        for p in parents:
            node = node[p]
        node[key] = value

    return mutate


# (edited key, new value, rules that must rerun, rules that must not)
RERUNS = [
    ("uq.level", 0.9, {"uq_estimates", "uq_coverage", "table2", "uq_figures"}, {"sample", "train_model", "pair_correlations", "symmetry_probe"}),
    ("symmetry.directions", 3, {"symmetry_probe", "symmetry_table"}, {"sample", "train_model", "trajectory_correlations", "uq_estimates"}),
    ("symmetry.corr_threshold", -0.8, {"symmetry_table"}, {"sample", "train_model", "trajectory_correlations"}),
    ("symmetry.fisher.points", 5, {"theorem1_fisher"}, {"sample", "train_model", "symmetry_probe"}),
    ("symmetry.partial.pairs", 5, {"sample", "partial_map"}, {"train_model", "symmetry_probe", "pair_correlations"}),
    ("correlation.grid_pairs", 2, {"pair_figures"}, {"sample", "pair_correlations", "table1"}),
    ("eta_sweep.pairs", 5, {"sample", "pair_correlations", "table1", "eta_sweep"}, {"train_model", "uq_estimates"}),
    ("samplers.ddim-eta1.eta", 0.9, {"sample", "pair_correlations", "table1", "eta_sweep"}, {"train_model", "symmetry_probe"}),
    ("designs.k-antithetic-8.k", 4, {"sample", "uq_estimates", "uq_coverage", "table2"}, {"train_model", "pair_correlations"}),
    ("models.affine-odd.data", "relabelled", {"pair_correlations", "table1"}, {"sample", "train_model"}),
    ("flowedit.n_avg", 4, {"flowedit", "flowedit_table", "flowedit_figure"}, {"sample", "train_model", "train_classifier", "editing"}),
    ("models.digits-ddpm.train.steps", 21, {"train_model", "sample", "pair_correlations", "symmetry_probe", "uq_estimates"}, set()),
]


@pytest.fixture(scope="module")
def planned_reruns(workdir, tmp_path_factory):
    """Edited key -> rule -> job count that `snakemake -n` plans on a copy of the finished run after the edit.

    One copy of the finished run (outputs, mtimes and Snakemake's metadata) per edit, all planned side by side.
    """
    import shutil

    base = tmp_path_factory.mktemp("reruns")
    procs = {}
    for key, value, *_ in RERUNS:
        edited = base / key
        shutil.copytree(workdir, edited, symlinks=True)
        config = tiny_config()
        _set(key, value)(config)
        (edited / "config.yaml").write_text(yaml.safe_dump(config))
        # output to files: a plan fills more than a pipe's buffer, and the others must not wait for it
        with open(edited / "plan.out", "w") as out, open(edited / "plan.err", "w") as err:
            procs[key] = subprocess.Popen(snakemake_command(edited, "--dry-run"), cwd=edited, env=offline_env(), stdout=out, stderr=err)
    plans = {}
    for key, proc in procs.items():
        proc.wait(timeout=300)
        assert proc.returncode == 0, f"{key}: snakemake --dry-run failed:\n{(base / key / 'plan.err').read_text()[-4000:]}"
        plans[key] = _job_stats((base / key / "plan.out").read_text())
    return plans


@pytest.mark.slow
@pytest.mark.parametrize("key,value,rerun,kept", RERUNS, ids=[r[0] for r in RERUNS])
def test_a_config_edit_reruns_what_it_affects(planned_reruns, key, value, rerun, kept):
    planned = planned_reruns[key]
    assert rerun <= set(planned), f"{key}: expected {sorted(rerun)} to rerun, planned {planned}"
    assert not kept & set(planned), f"{key}: {sorted(kept & set(planned))} should not rerun, planned {planned}"


#: rules that draw figures from stored results and write nothing else (no table, no data a claim reads); none runs a network
FIGURE_RULES = {
    "pair_figures", "uq_figures", "symmetry_slices_figure", "trajectory_figure", "fisher_figure", "as_vs_noise_figure",
    "partial_map_figure", "eta_sweep_figure", "table3_figure", "table4_figure", "quality_figure", "editing_figure", "flowedit_figure",
    "forest_figure", "guidance_sweep_figure",
}
NO_RERUN = set()

# (edited source file, rules that must rerun, and either {"not": rules that must not} or {"only": the rules that may})
CODE_EDITS = [
    ("src/antithetic/estimators.py", {"uq_estimates", "uq_coverage", "table2", "uq_figures", "claims"},
     {"not": {"sample", "train_model", "train_classifier", "pair_correlations", "symmetry_probe"}}),
    ("src/antithetic/samplers.py", {"sample", "pair_correlations", "table1"}, {"not": {"train_classifier"}}),
    ("src/antithetic/workflow/plotting/uq.py", {"uq_figures"}, {"only": FIGURE_RULES}),
    ("src/antithetic/workflow/plotting/correlation.py", {"pair_figures"}, {"only": FIGURE_RULES}),
    # every job leaves its figures to rules of their own: a plotting edit reruns no network, table or claim job
    ("src/antithetic/workflow/plotting/symmetry.py",
     {"symmetry_slices_figure", "trajectory_figure", "fisher_figure", "as_vs_noise_figure", "partial_map_figure"}, {"only": FIGURE_RULES}),
    ("src/antithetic/workflow/plotting/inverse.py", {"table3_figure"}, {"only": FIGURE_RULES}),
    ("src/antithetic/workflow/plotting/claims.py", {"forest_figure"}, {"only": FIGURE_RULES}),
    ("src/antithetic/workflow/plotting/flowedit.py", {"flowedit_figure"}, {"only": FIGURE_RULES}),
    # the win-rate drawing both editing stages share
    ("src/antithetic/workflow/plotting/editing.py", {"editing_figure", "flowedit_figure"}, {"only": FIGURE_RULES}),
    ("src/antithetic/workflow/plotting/sweeps.py", {"eta_sweep_figure", "guidance_sweep_figure"}, {"only": FIGURE_RULES}),
    ("src/antithetic/workflow/plotting/__init__.py", FIGURE_RULES, {"only": FIGURE_RULES}),
    ("src/antithetic/workflow/bench.py", set(), {"only": NO_RERUN}),  # no job imports the benchmark
    ("", set(), {"only": NO_RERUN}),  # the copy unedited
]


@pytest.fixture(scope="module")
def planned_code_reruns(workdir, tmp_path_factory):
    """Edited source file -> rule -> job count that `snakemake -n` plans for the finished run, with the
    workflow and the library taken from a copy of this checkout in which that one file is edited."""
    import shutil

    base = tmp_path_factory.mktemp("code-edits")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    procs = {}
    for edited, *_ in CODE_EDITS:
        checkout = base / (edited.replace("/", "_") or "unedited")
        for part in ("src", "workflow", "config", "envs"):
            shutil.copytree(ROOT / part, checkout / part, ignore=ignore)
        shutil.copy(ROOT / "Snakefile", checkout / "Snakefile")
        if edited:
            with open(checkout / edited, "a") as source:
                source.write("\n# an edit\n")
        run_dir = base / f"run-{checkout.name}"
        shutil.copytree(workdir, run_dir, symlinks=True)
        command = snakemake_command(run_dir, "--dry-run")
        command[command.index("--snakefile") + 1] = str(checkout / "Snakefile")
        with open(run_dir / "plan.out", "w") as out, open(run_dir / "plan.err", "w") as err:
            procs[edited] = (subprocess.Popen(command, cwd=run_dir, env=offline_env(), stdout=out, stderr=err), run_dir)
    plans = {}
    for edited, (proc, run_dir) in procs.items():
        proc.wait(timeout=300)
        assert proc.returncode == 0, f"{edited}: snakemake --dry-run failed:\n{(run_dir / 'plan.err').read_text()[-4000:]}"
        plans[edited] = _job_stats((run_dir / "plan.out").read_text())
    return plans


@pytest.mark.slow
@pytest.mark.parametrize("edited,rerun,limit", CODE_EDITS, ids=[e[0] or "unedited" for e in CODE_EDITS])
def test_a_library_edit_reruns_the_jobs_that_import_it(planned_code_reruns, edited, rerun, limit):
    planned = set(planned_code_reruns[edited])
    assert rerun <= planned, f"{edited}: expected {sorted(rerun)} to rerun, planned {planned_code_reruns[edited]}"
    if "only" in limit:
        assert planned <= limit["only"], f"{edited or 'no edit'}: {sorted(planned - limit['only'])} should not rerun"
    else:
        assert not limit["not"] & planned, f"{edited}: {sorted(limit['not'] & planned)} should not rerun, planned {planned_code_reruns[edited]}"


@pytest.mark.slow
def test_classifier_quality_diversity_inverse_editing_and_flowedit_outputs(workdir):
    import json

    record = json.loads((workdir / "results" / "models" / "digits-classifier" / "training.json").read_text())
    assert record["test_size"] == 450 and len(record["epoch_loss"]) == 2 and len(record["weights_sha256"]) == 64
    assert (workdir / "results" / "models" / "digits-classifier" / "config.json").is_file()

    quality = pd.read_csv(workdir / "results" / "tables" / "quality.csv")
    assert list(quality["set"]) == ["z", "-z", "iid"] and (quality["n"] == 6).all()
    assert (quality["ci_low"] <= quality["frechet"]).all() and (quality["frechet"] <= quality["ci_high"]).all()
    verdict = json.loads((workdir / "results" / "quality" / "digits-ddpm" / "ddim" / "quality_6.json").read_text())["verdict"]
    assert set(verdict) == {"-z", "iid", "agree", "reference"}

    table4 = pd.read_csv(workdir / "results" / "tables" / "table4.csv")
    assert sorted(set(zip(table4["model"], table4["sampler"]))) == sorted(
        [("digits-ddpm", "ddim"), ("digits-ddpm", "ddpm-100"), ("digits-vae", "decode"), ("digits-flow", "decode")]
    )
    assert set(table4["measure"]) == {"ssim", "feature_distance"} and (table4["pn_pairs"] == 6).all()
    assert (table4["ci_low"] <= table4["improvement_pct"]).all() and (table4["improvement_pct"] <= table4["ci_high"]).all()

    table3 = pd.read_csv(workdir / "results" / "tables" / "table3.csv")
    assert sorted(set(table3["task"])) == ["deblurring", "inpainting", "super_resolution"]
    assert set(table3["statistic"]) == {"l1", "psnr"} and (table3["measurements"] == 3).all() and (table3["samples"] == 4).all()
    assert (table3["amc_seconds_per_sample"] > 0).all() and table3["rho_mean"].between(-1, 1).all()
    dps = json.loads((workdir / "results" / "inverse" / "digits-ddpm" / "inpainting" / "summary.json").read_text())
    assert dps["settings"]["num_steps"] == 3 and len(dps["weights_sha256"]) == 64

    editing = pd.read_csv(workdir / "results" / "tables" / "editing.csv")
    assert sorted(set(editing["t0"])) == [300, 600] and (editing["n"] + editing["ties"] == 4).all()
    assert editing["win_rate"].dropna().between(0, 1).all()

    flowedit = pd.read_csv(workdir / "results" / "tables" / "flowedit.csv")
    assert sorted(set(flowedit["n_max"])) == [3, 5] and (flowedit["n"] + flowedit["ties"] == 4).all()

    for name in ("quality/quality.png", "diversity/diversity.png", "inverse/efficiency.png", "editing/win_rates.png",
                 "flowedit/win_rates.png", "flowedit/edits.png"):
        assert (workdir / "figures" / name).stat().st_size > 0


@pytest.mark.slow
def test_a_users_own_model_runs_through_the_workflow_by_config_alone(tmp_path):
    """A package outside src/, named only by `factory:`, through Table 1 (DDIM and EDM samplers) and the ledger."""
    import shutil

    package = tmp_path / "userpkg" / "my_models"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    shutil.copy(ROOT / "examples" / "vpsde_mixture.py", package / "score_net.py")
    config = _small_config()
    config["models"] = {"mine": {"kind": "python", "factory": "my_models.score_net:build", "parametrization": "vp_sde_score",
                                 "options": {"std": 0.3}, "data": "user package"}}
    config["samplers"]["edm-heun"] = {"kind": "edm_heun", "num_steps": 6}
    config["correlation"]["runs"] = {"mine": ["ddim", "edm-heun"]}
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    run(work, env={"PYTHONPATH": os.pathsep.join([str(tmp_path / "userpkg"), str(ROOT / "src")])})
    table = pd.read_csv(work / "results" / "tables" / "table1.csv")
    assert sorted(table["sampler"]) == ["ddim", "edm-heun"] and set(table["model"]) == {"mine"}
    assert (table["pn_centered_mean"] < table["rr_centered_mean"]).all()
    provenance = yaml.safe_load((work / "results/samples/mine/edm-heun/antithetic_n12_seed0.json").read_text())
    assert provenance["model"]["factory"] == "my_models.score_net:build"
    ledger = pd.read_csv(work / "results" / "claims.csv")
    assert set(ledger.loc[ledger["id"] == "C1", "model"]) == {"mine"}


@pytest.mark.slow
@pytest.mark.parametrize("no_server", [False, True], ids=["fork-server-child", "own-process"])
def test_a_failing_job_writes_its_traceback_and_the_fix_to_its_log(tmp_path, no_server):
    """A damaged input of a job (a truncated samples file): the rule's log file holds the traceback, the file,
    the rule that writes it and the fix, whether the job ran in a fork server's child or in its own process."""
    from antithetic.artifacts import save_samples
    from antithetic.sample_set import SampleSet

    (tmp_path / "config.yaml").write_text(yaml.safe_dump(_small_config()))
    samples = {}
    for design, name in (("antithetic", "antithetic"), ("iid-disjoint", "iid")):
        npz = f"results/samples/affine-odd/ddim/{design}_n12_seed0.npz"
        samples[design] = npz
        (tmp_path / npz).parent.mkdir(parents=True, exist_ok=True)
        save_samples(tmp_path / npz, SampleSet(samples=np.zeros((12, 1, 2, 2), np.float32), indices=np.arange(12), groups=np.arange(12),
                                               members=np.zeros(12, int), design={"name": name, "seed": 0}, sampler={"name": "ddim"}))
        data = (tmp_path / npz).read_bytes()
        (tmp_path / npz).write_bytes(data[: len(data) // 2])  # the sample rule's output, cut short
        (tmp_path / npz).with_suffix(".json").write_text("{}")
    result = run(tmp_path, "results/correlation/affine-odd/ddim/pairs_6.csv", check=False,
                 env={"ANTITHETIC_FORKSERVER": "0"} if no_server else None)
    assert result.returncode != 0
    log = (tmp_path / "logs" / "pair_correlations" / "affine-odd" / "ddim" / "6.log").read_text()
    assert ("no fork server in this run" if no_server else "running in a child of the fork server") in log
    assert "Traceback (most recent call last)" in log
    npz = samples["antithetic"]
    error = f"antithetic.artifacts.UnreadableFileError: cannot read {npz!r}: not a complete samples file"
    fix = f"{npz!r} is an output of rule sample: delete it (rm -r {npz}) and run Snakemake again, which reruns rule sample for it"
    assert error in log and fix in log, log[-3000:]
    console = result.stdout + result.stderr
    assert error in console and fix in console  # and on the console, as before
