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


def test_default_config_is_valid_and_defaults_are_filled():
    config = default_config()
    del config["correlation"]["grid_pairs"]
    validate(config, SCHEMA)
    check_references(config)
    assert config["correlation"]["grid_pairs"] == 8
    assert config["models"]["digits-ddpm"]["train"]["warmup_steps"] == 100


@pytest.mark.parametrize(
    "mutate,fragment",
    [
        (lambda c: c["models"]["digits-ddpm"]["train"].update(stepz=10), "'stepz' was unexpected"),
        (lambda c: c["samplers"]["ddim"].update(num_steps="fifty"), "On instance['samplers']['ddim']['num_steps']"),
        (lambda c: c.update(sede=1), "'sede' was unexpected"),
        (lambda c: c["models"]["affine-odd"].pop("std"), "'std' is a required property"),
        (lambda c: c["samplers"]["ddpm-100"].update(eta=0.5), "On instance['samplers']['ddpm-100']"),
    ],
)
def test_bad_config_is_rejected_with_the_key_named(mutate, fragment):
    config = default_config()
    mutate(config)
    with pytest.raises(WorkflowError) as info:
        validate(config, SCHEMA)
    assert fragment in str(info.value)


def test_dangling_names_are_reported_with_their_key():
    config = default_config()
    config["correlation"]["runs"]["digits-ddpm"] = ["ddim", "euler"]
    with pytest.raises(ConfigError, match=r"correlation.runs.digits-ddpm.*'euler'"):
        check_references(config)


def test_rr_pairs_must_not_share_noise_with_pn_pairs():
    config = default_config()
    validate(config, SCHEMA)
    config["correlation"]["designs"]["rr"] = "iid"  # iid sample g is PN pair g's z
    with pytest.raises(ConfigError, match="correlation.designs.rr.*same noise indices.*offset"):
        check_references(config)
    config["correlation"]["designs"]["rr"] = "k-antithetic-8"
    with pytest.raises(ConfigError, match="RR pairs need kind 'iid'"):
        check_references(config)
