"""The `antithetic estimate` command: a requested half-width is reached, the JSON has provenance, errors name the option."""

import json
import re
import textwrap

import pytest

from antithetic.cli import BASELINE_OFFSET, main

FACTORY = '''
"""A closed-form model: the exact noise predictor of Gaussian data (DDIM maps z affinely to a sample)."""
from antithetic.models import gaussian_model


def build(mean=0.2, std=0.5, size=4):
    return gaussian_model(mean=mean, std=std, sample_shape=(1, size, size), name="gauss")


def ink(x):
    return (x > 0).reshape(len(x), -1).mean(axis=1)
'''


@pytest.fixture
def factory_package(tmp_path, monkeypatch):
    (tmp_path / "cli_user_model.py").write_text(textwrap.dedent(FACTORY))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "cli_user_model"


def run(argv, capsys):
    assert main(argv) == 0
    return capsys.readouterr().out


def test_factory_model_reaches_the_requested_half_width(factory_package, tmp_path, capsys):
    out_file = tmp_path / "out" / "result.json"
    argv = ["estimate", "--model", f"{factory_package}:build", "--model-option", "std=0.5", "--steps", "5",
            "--statistic", f"{factory_package}:ink", "--design", "k_antithetic", "--k", "4", "--half-width", "0.02",
            "--n0", "10", "--seed", "3", "--baseline", "mc", "--output", str(out_file), "--no-progress"]
    out = run(argv, capsys)
    document = json.loads(out_file.read_text())
    result = document["result"]
    assert result["method"] == "k_amc" and not result["budget_binding"]
    assert result["half_width"] <= 0.02 and result["num_samples"] == 4 * result["num_groups"]
    assert result["final"]["efficiency_method"] == "independent baseline (F)"
    assert document["baseline"]["num_samples"] == result["num_samples"] and document["baseline"]["offset"] == BASELINE_OFFSET
    provenance = document["provenance"]
    assert provenance["design"] == {"name": "k_antithetic", "seed": 3, "group_size": 4, "k": 4}
    assert provenance["sampler"] == {"kind": "ddim", "num_steps": 5, "eta": 0.0}
    assert {"python", "packages", "cpu"} <= set(provenance["environment"])
    assert "Stein two-stage" in out and "efficiency vs the mc baseline" in out


def test_tiny_ddpm_fixed_size_and_sequential_runs(tiny_unet_dir, tmp_path, capsys):
    out_file = tmp_path / "fixed.json"
    out = run(["estimate", "--model", str(tiny_unet_dir), "--sampler", "ddpm", "--steps", "3", "--num-samples", "8",
               "--output", str(out_file), "--no-progress"], capsys)
    fixed = json.loads(out_file.read_text())["result"]
    assert fixed["method"] == "amc" and fixed["num_samples"] == 8 and fixed["ci_low"] < fixed["estimate"] < fixed["ci_high"]
    assert "efficiency vs MC" in out
    seq_file = tmp_path / "seq.json"
    run(["estimate", "--model", str(tiny_unet_dir), "--steps", "3", "--half-width", "3.0", "--n0", "4",
         "--max-samples", "64", "--output", str(seq_file), "--no-progress"], capsys)
    seq = json.loads(seq_file.read_text())["result"]
    assert seq["budget_binding"] or seq["half_width"] <= 3.0
    assert seq["num_samples"] <= 64


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--num-samples", "7"], r"--num-samples 7: --design antithetic groups samples by 2; give a multiple of 2"),
        (["--num-samples", "8", "--design", "rqmc"], r"--design rqmc needs --m"),
        (["--half-width", "1", "--n0", "10", "--max-samples", "8"], r"--max-samples 8 is smaller than the pilot"),
        (["--num-samples", "8", "--statistic", "sharpness"], r"--statistic 'sharpness' is not a built-in"),
        (["--num-samples", "8", "--statistic", "no_such_module_xyz:f"], r"--statistic 'no_such_module_xyz:f'"),
        (["--num-samples", "8", "--model-option", "std"], r"--model-option 'std': give it as KEY=VALUE"),
        (["--half-width", "-1"], r"--half-width -1.0: give a positive half-width"),
    ],
)
def test_errors_name_the_option_and_the_fix(factory_package, capsys, extra, message):
    with pytest.raises(SystemExit) as exc:
        main(["estimate", "--model", f"{factory_package}:build", "--steps", "2", "--no-progress", *extra])
    assert exc.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_model_errors_name_the_model(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["estimate", "--model", "no_such_pkg_xyz.mod:build", "--num-samples", "4"])
    assert "--model 'no_such_pkg_xyz.mod:build'" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit):
        main(["estimate", "--model", str(tmp_path / "empty"), "--num-samples", "4"])
    assert "without model_index.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["estimate", "--num-samples", "4"])
    assert "--model" in capsys.readouterr().err
