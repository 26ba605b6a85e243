"""Failures a user meets: damaged inputs name the file and the fix, job errors reach the log, file modes, import path."""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from antithetic.artifacts import (
    UnreadableFileError,
    atomic_directory,
    atomic_path,
    check_weights,
    load_samples,
    save_samples,
    write_json,
)
from antithetic.sample_set import SampleSet
from antithetic.workflow.plan import Plan

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def _samples(n=4):
    return SampleSet(samples=np.zeros((n, 1, 2, 2), np.float32), indices=np.arange(n), groups=np.arange(n), members=np.zeros(n, int),
                     design={"name": "iid", "seed": 0}, sampler={"name": "ddim"})


# ------------------------------------------------------------------ unreadable inputs
@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_a_damaged_samples_file_names_the_file_and_the_fix(tmp_path, damage):
    path = tmp_path / "antithetic_n4_seed0.npz"
    save_samples(path, _samples())
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "garbage": b"abc"}[damage])
    with pytest.raises(UnreadableFileError) as err:
        load_samples(path)
    message = str(err.value)
    assert str(path) in message and "not a complete samples file" in message and "delete it and rerun" in message
    assert err.value.path == str(path)
    assert "pickled" not in message.split("(")[0]  # numpy's words, if any, only as the detail


def test_unreadable_file_error_pickles_with_its_fields():
    import pickle

    err = pickle.loads(pickle.dumps(UnreadableFileError("a.npz", "broken", fix="redo it")))
    assert (err.path, err.problem, err.fix) == ("a.npz", "broken", "redo it") and str(err) == "cannot read 'a.npz': broken; redo it"


def _safetensors(path):
    from safetensors.numpy import save_file

    save_file({"w": np.arange(1000, dtype=np.float32)}, str(path))
    return path.read_bytes()


@pytest.mark.parametrize("damage", ["truncated", "header", "empty"])
def test_a_damaged_weights_file_names_the_file(tmp_path, damage):
    folder = tmp_path / "model"
    (folder / "unet").mkdir(parents=True)
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    data = _safetensors(weights)
    check_weights(folder)  # intact
    weights.write_bytes({"truncated": data[:-100], "header": data[:8] + b"{not json" + data[17:], "empty": b""}[damage])
    with pytest.raises(UnreadableFileError, match="delete it and rerun") as err:
        check_weights(folder)
    assert err.value.path == str(weights)


def test_loading_a_saved_classifier_with_truncated_weights_names_the_file(tmp_path):
    from antithetic.classifier import DigitsClassifier, load_classifier

    folder = tmp_path / "digits-classifier"
    DigitsClassifier(channels=[4]).save_pretrained(folder)
    (weights,) = folder.glob("*.safetensors")
    weights.write_bytes(weights.read_bytes()[:-16])
    with pytest.raises(UnreadableFileError, match=r"truncated.*delete it and rerun") as err:
        load_classifier(folder)
    assert err.value.path == str(weights)


def test_loading_a_model_folder_with_truncated_weights_names_the_file(tmp_path):
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    from antithetic.models.pretrained import load_unet_model

    unet = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16), layers_per_block=1,
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4)
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=10)).save_pretrained(tmp_path / "m")
    (weights,) = (tmp_path / "m").rglob("*.safetensors")
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(UnreadableFileError, match="delete it and rerun") as err:
        load_unet_model(tmp_path / "m", name="m")
    assert err.value.path == str(weights)


def test_image_folder_errors_name_the_folder_or_the_file(tmp_path):
    from PIL import Image

    from antithetic.data import load_image_folder

    with pytest.raises(FileNotFoundError, match=str(tmp_path / "absent")):
        load_image_folder(tmp_path / "absent", (1, 8, 8), 1)
    Image.new("L", (16, 16), 128).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes((tmp_path / "a.png").read_bytes()[:20])
    assert load_image_folder(tmp_path, (1, 8, 8), 1).shape == (1, 1, 8, 8)
    with pytest.raises(UnreadableFileError, match="replace it with a readable image") as err:
        load_image_folder(tmp_path, (1, 8, 8), 2)
    assert err.value.path == str(tmp_path / "b.png")


def test_the_plan_names_the_rule_that_writes_a_damaged_file():
    config = {"models": {"digits-ddpm": {"kind": "unet", "train": {}}, "cifar10": {"kind": "unet", "pretrained": "google/ddpm-cifar10-32"}}}
    plan = Plan(config)
    npz = "results/samples/digits-ddpm/ddim/antithetic_n12_seed0.npz"
    assert plan.writer(npz) == ("sample", npz)
    assert plan.writer(os.path.abspath(npz)) == ("sample", npz)
    assert plan.writer("results/models/digits-ddpm/unet/diffusion_pytorch_model.safetensors") == ("train_model", "results/models/digits-ddpm")
    assert plan.writer("results/models/cifar10/unet/x.safetensors") == ("fetch_model", "results/models/cifar10")
    assert plan.writer("results/models/digits-classifier/model.safetensors") == ("train_classifier", "results/models/digits-classifier")
    assert plan.writer("results/symmetry/digits-ddpm/slices.npz") == ("symmetry_probe", "results/symmetry/digits-ddpm/slices.npz")
    assert plan.writer("data/images/a.png") is None


def _job_module():
    sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
    try:
        import _job
    finally:
        sys.path.remove(str(ROOT / "workflow" / "scripts"))
    return _job


def test_a_job_adds_the_rule_to_a_damaged_input_error():
    _job = _job_module()
    snakemake = SimpleNamespace(config={"models": {}})
    npz = "results/samples/affine-odd/ddim/antithetic_n12_seed0.npz"
    try:
        try:
            raise UnreadableFileError(npz, "truncated")
        except UnreadableFileError as inner:
            raise RuntimeError("while reading the PN pairs") from inner
    except RuntimeError as err:
        _job.name_writer(snakemake, err)
        notes = err.__cause__.__notes__
    assert notes == [f"{npz!r} is an output of rule sample: delete it (rm -r {npz}) and run Snakemake again, which reruns rule sample for it"]


# ------------------------------------------------------------------ file modes
@pytest.fixture
def umask():
    def set_umask(mask):
        os.umask(mask)

    old = os.umask(0o022)
    os.umask(old)
    yield set_umask
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_outputs_get_the_mode_of_the_umask(tmp_path, umask, mask):
    umask(mask)
    with atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("x")
    write_json(tmp_path / "b.json", {"a": 1})
    save_samples(tmp_path / "c.npz", _samples())
    with atomic_directory(tmp_path / "model") as tmp:
        (tmp / "config.json").write_text("{}")
        write_json(tmp / "fetch.json", {})
    (tmp_path / "plain.txt").write_text("x")  # what any other program writes
    assert (tmp_path / "plain.txt").stat().st_mode & 0o777 == 0o666 & ~mask
    for name in ("a.txt", "b.json", "c.npz", "model/config.json", "model/fetch.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~mask, name
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o777 & ~mask
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_a_saved_pipeline_folder_gets_the_mode_of_the_umask(tmp_path, umask):
    from antithetic.training import save_pipeline_atomically

    class Pipeline:
        def save_pretrained(self, folder):
            (Path(folder) / "unet").mkdir()
            (Path(folder) / "unet" / "config.json").write_text("{}")

    umask(0o027)
    save_pipeline_atomically(Pipeline(), tmp_path / "m", extra_json={"training.json": {"steps": 1}})
    save_pipeline_atomically(Pipeline(), tmp_path / "m")  # replaces the folder
    assert (tmp_path / "m").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "m" / "unet" / "config.json").stat().st_mode & 0o777 == 0o640


# ------------------------------------------------------------------ a job imports its own checkout's antithetic
def _other_checkout(tmp_path):
    """Another ``antithetic`` (a stand-in for a second clone's editable install): its modules say so."""
    other = tmp_path / "other" / "antithetic"
    (other / "workflow").mkdir(parents=True)
    (other / "__init__.py").write_text("OTHER = True\n")
    (other / "workflow" / "__init__.py").write_text("")
    (other / "workflow" / "forkserver.py").write_text("OTHER = True\n")
    return other.parent


def test_a_job_imports_its_checkouts_antithetic_before_any_other(tmp_path):
    other = _other_checkout(tmp_path)
    code = f"""
import sys, types
sys.path.insert(0, {str(ROOT / 'workflow' / 'scripts')!r})
import antithetic                                   # imported from the other copy before the job starts
assert getattr(antithetic, "OTHER", False), antithetic.__file__
from _job import start
snakemake = types.SimpleNamespace(scriptdir={str(ROOT / 'workflow' / 'scripts')!r}, threads=1, log=[], resources=types.SimpleNamespace(),
                                  rule="r", wildcards={{}}, config={{}})
start(snakemake)
import antithetic
import antithetic.workflow.plan
print(antithetic.__file__)
print(antithetic.workflow.plan.__file__)
print(sys.path[0])
"""
    env = {**os.environ, "PYTHONPATH": str(other), "ANTITHETIC_FORKSERVER": "0"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    init, plan, first = out.stdout.split()
    src = os.path.realpath(ROOT / "src")
    assert init == os.path.join(src, "antithetic", "__init__.py") and plan.startswith(src + os.sep) and first == src


def test_a_fork_server_imports_its_checkouts_antithetic_before_any_other(tmp_path):
    from antithetic.workflow.forkserver import server_bootstrap

    other = _other_checkout(tmp_path)
    code = server_bootstrap() + "print(server.__file__)"
    env = {**os.environ, "PYTHONPATH": str(other)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str((ROOT / "src" / "antithetic" / "workflow" / "forkserver.py").resolve())


# ------------------------------------------------------------------ schema minimums are the code's
def _schema_minimum(key):
    node = yaml.safe_load(SCHEMA.read_text())
    for part in key.split("."):
        node = node["properties"][part]
    return node["minimum"]


def _minimums():
    from antithetic import bootstrap, correlation, diversity, inverse, trajectories
    from antithetic.symmetry import probe, scores

    return {
        "correlation.pairs": correlation.MIN_PAIRS,
        "eta_sweep.pairs": correlation.MIN_PAIRS,
        "guidance.pairs": correlation.MIN_PAIRS,
        "symmetry.trajectories.pairs": trajectories.MIN_PAIRS,
        "diversity.pairs": diversity.MIN_PAIRS,
        "quality.bootstrap": bootstrap.MIN_RESAMPLES,
        "diversity.bootstrap": bootstrap.MIN_RESAMPLES,
        "inverse.bootstrap": bootstrap.MIN_RESAMPLES,
        "symmetry.grid_points": scores.MIN_GRID_POINTS,
        "symmetry.probe_samples": probe.MIN_PROBE_SAMPLES,
        "inverse.samples": inverse.MIN_SAMPLES,
    }


@pytest.mark.parametrize("key", list(_minimums()))
def test_schema_minimums_are_what_the_code_needs(key):
    assert _schema_minimum(key) == _minimums()[key]


def test_the_smallest_pair_count_the_schema_accepts_gives_centered_correlations():
    from antithetic.correlation import MIN_CENTERED_PAIRS, MIN_PAIRS, centering_means

    assert 2 * MIN_PAIRS >= MIN_CENTERED_PAIRS > 2 * (MIN_PAIRS - 1)
    pairs = np.random.default_rng(0).normal(size=(2 * MIN_PAIRS, 2, 3))
    assert np.isfinite(centering_means(pairs)[0]).all()
    with pytest.raises(ValueError, match=f"at least {MIN_CENTERED_PAIRS} pairs"):
        centering_means(pairs[: 2 * (MIN_PAIRS - 1)])


def test_bootstrap_below_its_minimum_is_refused():
    from antithetic.bootstrap import MIN_RESAMPLES, bootstrap_ci

    rng = np.random.default_rng(0)
    low, high = bootstrap_ci((rng.normal(size=10),), np.mean, paired=False, num_bootstrap=MIN_RESAMPLES, level=0.9, rng=rng)
    assert np.isfinite(low) and np.isfinite(high)
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_ci((rng.normal(size=10),), np.mean, paired=False, num_bootstrap=MIN_RESAMPLES - 1, level=0.9, rng=rng)


def test_guidance_pairs_below_the_minimum_fail_the_schema():
    from snakemake.utils import validate

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["guidance"] = {"pairs": 2}
    with pytest.raises(Exception, match="guidance"):
        validate(config, str(SCHEMA))


def test_without_a_config_a_trained_model_folder_is_told_from_a_fetched_one_by_its_training_record(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results" / "models" / "mine").mkdir(parents=True)
    (tmp_path / "results" / "models" / "mine" / "training.json").write_text("{}")
    (tmp_path / "results" / "models" / "hub").mkdir(parents=True)
    plan = Plan({})
    assert plan.writer("results/models/mine/unet/w.safetensors") == ("train_model", "results/models/mine")
    assert plan.writer("results/models/hub/unet/w.safetensors") == ("fetch_model", "results/models/hub")
