"""The paper-scale rehearsal: stand-ins shaped like the paper's checkpoints, an overlay that changes only
counts, steps and pretrained paths, and (slow) the whole paper DAG on the CPU."""

import copy
import os
from pathlib import Path

import pytest
import yaml

from antithetic.workflow import rehearsal

ROOT = Path(__file__).resolve().parents[2]
PAPER = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())


def test_overlay_changes_only_counts_steps_and_pretrained(tmp_path):
    config = rehearsal.overlay(PAPER, tmp_path / "models")
    assert rehearsal.overlay_differences(PAPER, config) == []
    # every model, stage and run of the paper config is there, each model on its local stand-in
    assert config.keys() == PAPER.keys()
    assert config["models"].keys() == PAPER["models"].keys()
    for section in ("correlation", "guidance", "uq", "diversity"):
        assert config[section]["runs"] == PAPER[section]["runs"], section
    assert config["symmetry"]["models"] == PAPER["symmetry"]["models"]
    assert config["inverse"]["tasks"] == PAPER["inverse"]["tasks"]
    for name, spec in config["models"].items():
        assert spec["pretrained"] == str((tmp_path / "models" / name).resolve())
        assert {k: v for k, v in spec.items() if k != "pretrained"} == {k: v for k, v in PAPER["models"][name].items() if k != "pretrained"}
    # counts shrink; the samples reused by Table 2 (16 = 2 x pairs) keep two K-AMC groups and two RQMC replicates
    assert config["correlation"]["pairs"] < PAPER["correlation"]["pairs"]
    assert all(m["num_samples"] == 2 * config["correlation"]["pairs"] for m in config["uq"]["methods"].values())


def test_overlay_differences_catch_a_dropped_run_or_a_changed_knob(tmp_path):
    config = rehearsal.overlay(PAPER, tmp_path / "models")
    dropped = copy.deepcopy(config)
    del dropped["correlation"]["runs"]["bedroom"]
    assert rehearsal.overlay_differences(PAPER, dropped) == ["missing in the overlay: correlation.runs.bedroom"]
    no_stage = copy.deepcopy(config)
    del no_stage["inverse"]
    assert any(p.startswith("missing in the overlay: inverse.") for p in rehearsal.overlay_differences(PAPER, no_stage))
    changed = copy.deepcopy(config)
    changed["samplers"]["ddim-50"]["eta"] = 1.0
    changed["models"]["sd15"]["guidance_scale"] = 1.0
    assert rehearsal.overlay_differences(PAPER, changed) == [
        "changed: models.sd15.guidance_scale: 7.5 -> 1.0", "changed: samplers.ddim-50.eta: 0.0 -> 1.0"]
    with pytest.raises(KeyError, match="no stand-in"):
        rehearsal.overlay({**PAPER, "models": {"x": {"kind": "unet", "pretrained": "someone/else"}}}, tmp_path)


@pytest.fixture(scope="module")
def standins(tmp_path_factory):
    models = tmp_path_factory.mktemp("standins")
    rehearsal.build_standins(PAPER, models)
    return models


def _load(standins, name):
    from diffusers import DiffusionPipeline

    return DiffusionPipeline.from_pretrained(str(standins / name), safety_checker=None, feature_extractor=None,
                                             requires_safety_checker=False)


@pytest.mark.parametrize("name, pipeline, shape, scheduler, settings", [
    ("cifar10", "DDPMPipeline", (3, 32, 32), "DDPMScheduler", {"variance_type": "fixed_large", "num_train_timesteps": 1000}),
    ("celebahq", "DDPMPipeline", (3, 256, 256), "DDPMScheduler", {"variance_type": "fixed_small", "beta_end": 0.02}),
    ("church", "DDPMPipeline", (3, 256, 256), "DDPMScheduler", {"variance_type": "fixed_small"}),
    ("bedroom", "DDPMPipeline", (3, 256, 256), "DDPMScheduler", {"variance_type": "fixed_small"}),
    ("dit-xl-2-256", "DiTPipeline", (4, 32, 32), "DDIMScheduler", {"clip_sample": False, "num_train_timesteps": 1000}),
    ("sd15", "StableDiffusionPipeline", (4, 64, 64), "PNDMScheduler",
     {"beta_schedule": "scaled_linear", "skip_prk_steps": True, "steps_offset": 1, "set_alpha_to_one": False}),
    ("cd-cat256", "ConsistencyModelPipeline", (3, 256, 256), "CMStochasticIterativeScheduler", {"num_train_timesteps": 40, "sigma_max": 80.0}),
    ("cd-bedroom256", "ConsistencyModelPipeline", (3, 256, 256), "CMStochasticIterativeScheduler", {"sigma_min": 0.002}),
    ("cd-imagenet64", "ConsistencyModelPipeline", (3, 64, 64), "CMStochasticIterativeScheduler", {"num_train_timesteps": 40}),
])
def test_standins_have_the_checkpoints_classes_sizes_and_schedulers(standins, name, pipeline, shape, scheduler, settings):
    pipe = _load(standins, name)
    assert type(pipe).__name__ == pipeline and type(pipe.scheduler).__name__ == scheduler
    assert {k: pipe.scheduler.config[k] for k in settings} == settings
    net = getattr(pipe, "unet", None) or pipe.transformer
    assert (net.config.in_channels, net.config.sample_size, net.config.sample_size) == shape
    assert "Random-weight stand-in for " + PAPER["models"][name]["pretrained"] in (standins / name / "STANDIN.txt").read_text()
    if name == "dit-xl-2-256":
        assert net.config.out_channels == 8 and net.config.num_embeds_ada_norm == 1000
    if name == "sd15":  # 512x512 images from 64x64 latents, a CLIP text encoder with 77 positions
        assert 2 ** (len(pipe.vae.config.block_out_channels) - 1) * 64 == 512
        assert pipe.text_encoder.config.max_position_embeddings == 77 == pipe.tokenizer.model_max_length
    if name == "cd-imagenet64":
        assert net.config.num_class_embeds == 1000
    if name in ("cd-cat256", "cd-bedroom256"):
        assert net.config.num_class_embeds is None


def test_standins_load_through_the_adapters_with_the_paper_shapes(standins):
    from antithetic.models.consistency import load_consistency_model
    from antithetic.models.latent import load_dit, load_stable_diffusion
    from antithetic.models.pretrained import load_unet_model

    assert load_unet_model(standins / "church", name="church").sample_shape == (3, 256, 256)
    assert load_dit(standins / "dit-xl-2-256", name="dit").sample_shape == (4, 32, 32)
    sd = load_stable_diffusion(standins / "sd15", name="sd15", prompts=["a photo"], image_size=512)
    assert sd.sample_shape == (4, 64, 64)
    assert load_consistency_model(standins / "cd-imagenet64", name="cm").sample_shape == (3, 64, 64)
    assert load_consistency_model(standins / "cd-cat256", name="cm").sample_shape == (3, 256, 256)


def test_prepare_writes_inputs_but_leaves_the_users_lpips_weights_alone(tmp_path):
    from antithetic.diversity import lpips_weights_path

    overlay_path = rehearsal.prepare(tmp_path / "run")
    config = yaml.safe_load(overlay_path.read_text())
    images = sorted((tmp_path / "run" / config["inverse"]["images"]).glob("*.png"))
    assert len(images) == config["inverse"]["measurements"]
    from PIL import Image

    assert Image.open(images[0]).size == (256, 256)
    assert (tmp_path / "run" / config["models"]["sd15"]["prompts"]).is_file()
    backbone = tmp_path / "run" / "torch" / "hub" / "checkpoints" / lpips_weights_path().name
    assert backbone.is_file() and (backbone.parent / "RANDOM_WEIGHTS_REHEARSAL_ONLY.txt").is_file()
    # outside the rehearsal's own TORCH_HOME, LPIPS still looks for (and needs) the real ImageNet weights
    assert tmp_path not in lpips_weights_path().parents
    assert rehearsal._env(tmp_path / "run")["TORCH_HOME"] == str(tmp_path / "run" / "torch")
    assert "TORCH_HOME" not in os.environ or os.environ["TORCH_HOME"] != str(tmp_path / "run" / "torch")


@pytest.mark.rehearsal
def test_rehearsal_produces_every_table_and_figure_of_the_paper_config():
    """The whole paper DAG on the stand-ins (about 10 minutes on 2 cores; `make paper-rehearsal` runs it in CI)."""
    from snakemake.utils import validate

    from antithetic.workflow.claims import claim_targets, resolve_claim
    from antithetic.workflow.plan import Plan

    directory = Path(os.environ.get("ANTITHETIC_REHEARSAL_DIR", rehearsal.DEFAULT_DIR))
    record = rehearsal.run(directory, cores=int(os.environ.get("ANTITHETIC_REHEARSAL_CORES", "2")))
    assert record["returncode"] == 0, f"see the Snakemake log under {directory}/.snakemake/log"
    config = yaml.safe_load((directory / "rehearsal.yaml").read_text())
    expected = rehearsal.expected_outputs(config)
    for name in ("table1", "table2", "table3", "table4", "symmetry_as"):  # every paper table of the plan
        assert f"results/tables/{name}.csv" in expected, name
    summary = rehearsal.report(directory)
    assert set(expected) <= set(summary["outputs"])
    assert summary["missing"] == [], summary["missing"]
    assert any(f.startswith("figures/guidance/") for f in summary["outputs"])
    assert any(f.startswith("figures/inverse/") for f in summary["outputs"])
    # every claim the paper config plans has measured rows; only the claims it plans no run for say "not run here"
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    plan = Plan(config)
    claims = yaml.safe_load((ROOT / "config" / "claims.yaml").read_text())["claims"]
    planned = {c["id"] for c in claims if claim_targets(resolve_claim(c, plan), plan)}
    rows = summary["ledger"]
    assert rows and all(row["verdict"] for row in rows), rows
    unmeasured = sorted({row["id"] for row in rows if row["id"] in planned and str(row["verdict"]).startswith("not run here")})
    assert not unmeasured, f"planned but not measured: {unmeasured}"
    assert {"P1", "P2", "P3", "C3", "C4"} <= planned
    not_run = sorted({row["id"] for row in rows if row["id"] not in planned})
    print(f"ledger: {len(rows)} rows; not planned by the paper config: {', '.join(not_run) or 'none'}")
    (directory / "rehearsal.md").write_text(rehearsal.report_markdown(summary, record))
