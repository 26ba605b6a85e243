"""Config of the classifier, quality, diversity, inverse-problem, editing and FlowEdit stages: schema and references."""

import re
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from antithetic.workflow.config import ConfigError, check_references

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")


def default_config():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_defaults_of_the_new_sections_are_filled():
    config = default_config()
    for key in ("classifier", "quality", "diversity", "inverse", "editing", "flowedit"):
        del config[key]
    validate(config, SCHEMA)
    check_references(config)
    assert config["classifier"]["min_accuracy"] == 0.95 and config["classifier"]["channels"] == [32, 64, 64]
    assert config["quality"]["runs"] == {} and config["quality"]["bootstrap"] == 100
    assert config["diversity"]["perceptual"] == ["classifier"] and config["diversity"]["ssim_kernel_size"] == 3
    assert "model" not in config["inverse"] and config["inverse"]["samples"] == 8
    assert config["editing"]["t0"] == [200, 400, 600]
    assert "model" not in config["flowedit"] and config["flowedit"]["n_max"] == [20, 30, 40] and config["flowedit"]["n_avg"] == 4
    assert (config["flowedit"]["source_guidance_scale"], config["flowedit"]["target_guidance_scale"]) == (1.5, 5.5)


@pytest.mark.parametrize(
    "mutate,fragment",
    [
        (lambda c: c["classifier"].update(epoch=3), "'epoch' was unexpected"),
        (lambda c: c["diversity"].update(perceptual=["dreamsim"]), "On instance['diversity']['perceptual'][0]"),
        (lambda c: c["inverse"]["tasks"].update(colorization={}), "'colorization' was unexpected"),
        (lambda c: c["inverse"].update(samples=7), "On instance['inverse']['samples']"),
        (lambda c: c["quality"].update(pairs=1), "On instance['quality']['pairs']"),
        (lambda c: c["flowedit"].update(n_avg=3), "On instance['flowedit']['n_avg']"),  # antithetic pairs need an even n_avg
        (lambda c: c["flowedit"].update(n_max=[]), "On instance['flowedit']['n_max']"),
    ],
)
def test_bad_values_are_rejected_with_the_key_named(mutate, fragment):
    config = default_config()
    mutate(config)
    with pytest.raises(WorkflowError) as info:
        validate(config, SCHEMA)
    assert fragment in str(info.value) + str(info.value.__cause__ or "")


@pytest.mark.parametrize(
    "mutate,fragment",
    [
        (lambda c: c["quality"]["runs"].update({"digits-ddpn": ["ddim"]}), "quality.runs.digits-ddpn"),
        (lambda c: c["diversity"]["runs"].update({"digits-vae": ["ddim"]}), "diversity.runs.digits-vae"),
        (lambda c: c["inverse"].update(model="digits-vae"), "inverse.model"),
        (lambda c: c["editing"].update(model="nope"), "editing.model"),
        (lambda c: c["flowedit"].update(model="nope"), "flowedit.model"),
        (lambda c: c["flowedit"].update(model="digits-ddpm"), "flowedit.model' names 'digits-ddpm' of kind 'unet'; FlowEdit edits a source class into a target class"),
        (lambda c: c["flowedit"].update(n_max=[20, 60]), "flowedit.n_max' lists [60], outside [1, flowedit.num_steps = 50]"),
        (lambda c: c["designs"].pop("iid"), "iid"),
    ],
)
def test_dangling_or_ill_fitting_names_are_reported_with_their_key(mutate, fragment):
    config = default_config()
    mutate(config)
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        check_references(config)
