from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from antithetic.coverage_study import check_coverage_designs
from antithetic.estimators import ci_quantile
from antithetic.kinds import DESIGN_KINDS, MODEL_KINDS, PARAMETRIZATIONS, SAMPLER_KINDS
from antithetic.workflow.config import ConfigError, check_references, naming_key

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


def _schema_enum(*path):
    node = yaml.safe_load(Path(SCHEMA).read_text())["properties"]
    for key in path:
        node = node[key]
    return node["enum"]


def test_the_schema_enums_are_the_kind_registries():
    assert sorted(_schema_enum("models", "additionalProperties", "properties", "kind")) == sorted(MODEL_KINDS)
    assert sorted(_schema_enum("samplers", "additionalProperties", "properties", "kind")) == sorted(SAMPLER_KINDS)
    assert sorted(_schema_enum("designs", "additionalProperties", "properties", "kind")) == sorted(DESIGN_KINDS)
    assert sorted(_schema_enum("models", "additionalProperties", "properties", "parametrization")) == sorted(PARAMETRIZATIONS)


def test_designs_that_feed_no_estimator_are_refused_for_uq():
    config = default_config()
    validate(config, SCHEMA)
    config["designs"]["partial-top"] = {"kind": "partial", "region": "top_half"}
    config["uq"]["runs"] = {"affine-odd": ["ddim"]}
    config["uq"]["methods"] = {"mc": {"design": "iid"}, "half": {"design": "partial-top"}}
    with pytest.raises(ConfigError, match="'uq.methods.half.design' names design 'partial-top' of kind 'partial', which feeds no estimator"):
        check_references(config)
    config["designs"]["bad"] = {"kind": "sobol"}
    with pytest.raises(ConfigError, match="'designs.bad.kind' is 'sobol'"):
        check_references(config)


def test_naming_key_puts_the_key_in_front_of_library_errors():
    with pytest.raises(ConfigError, match="^config key 'a.b': level must lie in \\(0, 1\\), got 2.0; lower it$") as info:
        with naming_key("a.b", fix="lower it"):
            ci_quantile(2.0, 5)
    assert isinstance(info.value.__cause__, ValueError)
    with pytest.raises(FileNotFoundError, match="^config key 'a': gone$"):
        with naming_key("a"):
            raise FileNotFoundError("gone")
    with pytest.raises(ConfigError, match="^already$"):
        with naming_key("a"):
            raise ConfigError("already")


def test_uq_jobs_name_the_key_of_a_bad_statistic_or_coverage_design():
    from antithetic.noise import make_design
    from antithetic.workflow.jobs.uq import _statistics

    with pytest.raises(ConfigError, match="config key 'uq.statistics.foo': .*has no function 'nope'"):
        _statistics({"statistics": {"foo": "antithetic.image_statistics.nope"}})
    designs = {"kamc": make_design("k_antithetic", k=8)}
    check_coverage_designs(designs, num_samples=16)
    with pytest.raises(ValueError, match=r"num_samples=12 must be a multiple of the group size 8 of designs\['kamc'\]"):
        check_coverage_designs(designs, num_samples=12)
    with pytest.raises(ValueError, match=r"designs\['half'\]: design kind 'partial' feeds no estimator"):
        check_coverage_designs({"half": make_design("partial", region="top_half")}, num_samples=16)


def _with_lpips(perceptual):
    config = default_config()
    config["diversity"]["perceptual"] = perceptual
    validate(config, SCHEMA)
    return config


def test_lpips_without_its_weights_stops_when_the_dag_is_built_with_a_fix_that_validates(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for perceptual, fix in (([ "lpips"], "[]"), (["classifier", "lpips"], "[classifier]")):
        with pytest.raises(ConfigError) as err:
            check_references(_with_lpips(perceptual))
        message = str(err.value)
        assert "'diversity.perceptual'" in message and str(tmp_path / "torch" / "hub" / "checkpoints") in message
        assert f"diversity.perceptual: {fix}" in message and "[] (SSIM only" in message
        check_references(_with_lpips(yaml.safe_load(fix)))  # the fix validates and passes the checks
    check_references(_with_lpips([]))
    weights = tmp_path / "torch" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"")
    check_references(_with_lpips(["lpips"]))  # cached: accepted


def test_the_lpips_weights_path_is_torchvisions(tmp_path, monkeypatch):
    pytest.importorskip("torchvision")
    import torch

    from antithetic.diversity import lpips_weights_path

    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # no directory set with torch.hub.set_dir (another test may have)
    from antithetic.hub_cache import alexnet_weights_path

    assert alexnet_weights_path() == lpips_weights_path()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert alexnet_weights_path() == lpips_weights_path() == tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"


def test_quality_nearest_k_must_be_below_the_pairs():
    config = default_config()
    config["quality"].update(pairs=5, nearest_k=5)
    validate(config, SCHEMA)
    with pytest.raises(ConfigError, match="'quality.nearest_k' is 5.*at most 4"):
        check_references(config)


def test_semantic_statistics_need_a_uq_run_and_a_known_name():
    config = default_config()
    validate(config, SCHEMA)
    config["uq"]["semantic"]["models"] = ["digits-vae"]  # a model without a Table-2 run
    with pytest.raises(ConfigError, match="'uq.semantic.models' names 'digits-vae', which has no run in 'uq.runs'"):
        check_references(config)
    config = default_config()
    config["uq"]["semantic"]["statistics"] = ["accuracy"]
    with pytest.raises(WorkflowError, match="accuracy"):
        validate(config, SCHEMA)


def test_semantic_statistics_reach_only_their_runs():
    """Table 2 holds a semantic statistic for the runs of uq.semantic.models only, and the requested class's
    probability for the class-conditional ones only; the claims read those runs."""
    from antithetic.workflow.claims import claim_targets
    from antithetic.workflow.plan import Plan

    config = default_config()
    validate(config, SCHEMA)
    config["models"]["cond"] = {"kind": "class_gaussian_mixture", "means": "digits", "std": 0.3}
    config["uq"]["runs"]["cond"] = ["ddim"]
    config["uq"]["semantic"] = {"statistics": ["confidence", "requested_class_probability", "class_probabilities"],
                                "models": ["digits-ddpm", "cond"]}
    plan = Plan(config)
    assert plan.uq_runs_with("brightness") == plan.uq_runs and ("affine-odd", "ddim") in plan.uq_runs
    assert plan.uq_runs_with("confidence") == [("digits-ddpm", "ddim"), ("cond", "ddim")]
    assert plan.uq_runs_with("requested_class_probability") == [("cond", "ddim")]
    assert plan.uq_runs_with("class_probabilities") == [("digits-ddpm", "ddim")]  # a conditional model's class law is its labels
    claim = {"id": "X", "measure": {"kind": "efficiency", "statistic": "requested_class_probability", "method": "amc"}}
    assert [t["model"] for t in claim_targets(claim, plan)] == ["cond"]
    # a config that estimates no semantic statistic (the paper's) plans no run for their claims
    del config["uq"]["semantic"]
    assert Plan(config).uq_runs_with("confidence") == [] and claim_targets(claim, Plan(config)) == []
