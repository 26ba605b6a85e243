"""Adapters of the paper's pretrained models, tested offline on tiny random pipelines saved to disk.

Each adapter must (1) reproduce the reference diffusers pipeline given the same noise, and (2) pass
exact antithetic noise: the twin receives exactly -z and exactly the negated per-step noises.
"""

import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler
from tiny_pipelines import tiny_consistency, tiny_dit, tiny_stable_diffusion

from antithetic.correlation import pn_pairs
from antithetic.device import resolve_dtype
from antithetic.generate import generate
from antithetic.models import ModelNotAvailableError, build_model
from antithetic.models.conditional import ClassLabels, Prompts, class_gaussian_mixture_model, condition_slot
from antithetic.models.consistency import ConsistencyModel, sample_consistency
from antithetic.models.fetch import fetch_model, is_hub_id, select_files
from antithetic.noise import AntitheticNoise, StepNoise
from antithetic.samplers import sample_ddim
from antithetic.workflow.config import ConfigError
from antithetic.workflow.jobs.sampling import load_model

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = "a cat at the window\nthe red house\nthe boat at the lake\n"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("paper-models")
    (path / "prompts.txt").write_text(PROMPTS)
    return {"sd": tiny_stable_diffusion(path), "dit": tiny_dit(path), "cm": tiny_consistency(path),
            "cm-uncond": tiny_consistency(path, num_classes=None), "prompts": path / "prompts.txt"}


def _sd(tiny, **spec):
    return build_model("sd", {"kind": "stable_diffusion", "pretrained": str(tiny["sd"]), "prompts": str(tiny["prompts"]), **spec})


@pytest.fixture
def record_ddim(monkeypatch):
    """Record the state and the injected noise that every DDIMScheduler.step receives."""
    calls = []
    original = DDIMScheduler.step

    def step(self, model_output, timestep, sample, *args, **kwargs):
        calls.append({"sample": sample.clone(), "noise": None if kwargs.get("variance_noise") is None else kwargs["variance_noise"].clone()})
        return original(self, model_output, timestep, sample, *args, **kwargs)

    monkeypatch.setattr(DDIMScheduler, "step", step)
    return calls


def _assert_twins_negated(t: torch.Tensor):
    # rows (2g, 2g+1) are the members of antithetic pair g: bit-exact negation
    assert torch.equal(t[1::2], -t[0::2])


# ------------------------------------------------------------------------------------ reference pipelines
def test_stable_diffusion_matches_the_pipeline_given_its_latents(tiny):
    from diffusers import StableDiffusionPipeline

    model = _sd(tiny, guidance_scale=3.0)
    z = torch.randn((2, *model.sample_shape), generator=torch.Generator().manual_seed(0))
    ours = model.decode_latents(sample_ddim(model, z, num_steps=4, cond=model.condition([0, 1])))
    pipe = StableDiffusionPipeline.from_pretrained(tiny["sd"], safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(["a cat at the window"] * 2, latents=z.clone(), num_inference_steps=4, guidance_scale=3.0, output_type="pt").images
    torch.testing.assert_close((ours + 1) / 2, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["sd", "dit"])
def test_vae_decodes_in_chunks_as_the_whole_batch_does(tiny, kind, monkeypatch):
    model = _sd(tiny) if kind == "sd" else build_model("dit", {"kind": "dit", "pretrained": str(tiny["dit"])})
    latents = torch.randn((7, *model.sample_shape), generator=torch.Generator().manual_seed(1))
    whole = model.decode_latents(latents, chunk_size=7)
    sizes = []
    decode = model.vae.decode
    monkeypatch.setattr(model.vae, "decode", lambda z, *a, **k: sizes.append(len(z)) or decode(z, *a, **k))
    for chunk in (None, 2, 3):
        sizes.clear()
        part = model.decode_latents(latents, chunk_size=chunk)
        torch.testing.assert_close(part, whole, rtol=0, atol=1e-5)  # float32 rounding of batched convolutions
        step = chunk or model.DECODE_CHUNK
        assert sizes == [min(step, 7 - lo) for lo in range(0, 7, step)]
    with pytest.raises(ValueError, match="chunk_size"):
        model.decode_latents(latents, chunk_size=-1)


def test_dit_matches_the_pipeline_given_its_generator(tiny):
    from diffusers import DiTPipeline

    model = build_model("dit", {"kind": "dit", "pretrained": str(tiny["dit"]), "class_labels": [3], "guidance_scale": 2.5})
    z = torch.randn((2, *model.sample_shape), generator=torch.Generator().manual_seed(7))
    ours = model.decode_latents(sample_ddim(model, z, num_steps=4, cond=model.condition([0, 1])))
    pipe = DiTPipeline.from_pretrained(tiny["dit"])
    pipe.set_progress_bar_config(disable=True)
    ref = pipe([3, 3], guidance_scale=2.5, generator=torch.Generator().manual_seed(7), num_inference_steps=4, output_type="pt").images
    torch.testing.assert_close((ours + 1) / 2, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("options", [{"num_inference_steps": 1}, {"num_inference_steps": None, "timesteps": [22, 0]}])
def test_consistency_model_matches_the_pipeline(tiny, options):
    from diffusers import ConsistencyModelPipeline

    model = build_model("cm", {"kind": "consistency", "pretrained": str(tiny["cm"]), "class_labels": [5]})
    z = torch.randn((2, *model.sample_shape), generator=torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(11)
    ours = sample_consistency(
        model, z, num_steps=options["num_inference_steps"], timesteps=options.get("timesteps"),
        step_noise=lambda i: torch.randn(z.shape, generator=gen), cond=model.condition([0, 1]),
    )
    pipe = ConsistencyModelPipeline.from_pretrained(tiny["cm"])
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(batch_size=2, class_labels=[5, 5], latents=z.clone(), generator=torch.Generator().manual_seed(11), output_type="pt", **options).images
    torch.testing.assert_close(((ours + 1) / 2).clamp(0, 1), ref, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------ exact antithetic pairing
@pytest.mark.parametrize("kind", ["sd", "dit"])
def test_latent_twins_receive_negated_latents_and_step_noises(tiny, kind, record_ddim):
    model = _sd(tiny, guidance_scale=5.0) if kind == "sd" else build_model("dit", {"kind": "dit", "pretrained": str(tiny["dit"])})
    seen = []
    network = model.unet if kind == "sd" else model.transformer
    network.register_forward_pre_hook(lambda mod, args, kwargs: seen.append((args, kwargs)), with_kwargs=True)
    out = generate(model, design=AntitheticNoise(seed=4), num_samples=4, sampler="ddpm", sampler_options={"num_steps": 3},
                   batch_size=4, progress=False)
    assert len(record_ddim) == 3 and out.samples.shape == (4, 3, 16, 16)
    # 1. the sampler starts from (z, -z) and every injected step noise is negated, bit for bit
    _assert_twins_negated(record_ddim[0]["sample"])
    for call in record_ddim:
        _assert_twins_negated(call["noise"])
    # 2. the network itself sees (z, -z) at the first step (guided: [x, x] for [null, cond])
    x_in = (seen[0][0][0] if seen[0][0] else seen[0][1]["hidden_states"])[:4]
    _assert_twins_negated(x_in)
    # 3. both members of a pair share their condition
    if kind == "sd":
        emb = seen[0][1]["encoder_hidden_states"][4:]  # [negative x4, text x4]
        assert torch.equal(emb[0], emb[1]) and torch.equal(emb[2], emb[3]) and not torch.equal(emb[0], emb[2])
    else:
        labels = seen[0][1]["class_labels"][:4]
        assert labels[0] == labels[1] and labels[2] == labels[3]


def test_consistency_twins_receive_negated_noises(tiny, monkeypatch):
    recorded = []
    original = StepNoise.__call__
    monkeypatch.setattr(StepNoise, "__call__", lambda self, step: recorded.append(original(self, step)) or recorded[-1])
    model = build_model("cm", {"kind": "consistency", "pretrained": str(tiny["cm-uncond"])})
    assert isinstance(model, ConsistencyModel) and model.condition([0, 1]) is None
    states = []
    generate(model, design=AntitheticNoise(seed=2), num_samples=4, sampler="consistency",
             sampler_options={"timesteps": [22, 0]}, callback=lambda batch, info: states.append(info), progress=False)
    # two steps inject one noise, negated for the twin; the state it produced carries it
    assert len(recorded) == 1
    _assert_twins_negated(recorded[0])
    _assert_twins_negated(states[0]["x"])
    scheduler = model.scheduler.__class__.from_config(model.scheduler.config)
    scheduler.set_timesteps(timesteps=[22, 0])
    cfg = scheduler.config
    scale = (scheduler.sigmas[1].clamp(cfg.sigma_min, cfg.sigma_max) ** 2 - cfg.sigma_min**2) ** 0.5
    torch.testing.assert_close((states[1]["x"] - states[0]["x0"]) / scale, recorded[0], rtol=1e-4, atol=1e-4)
    # one step draws no noise at all
    recorded.clear()
    generate(model, design=AntitheticNoise(seed=2), num_samples=4, sampler="consistency", sampler_options={"num_steps": 1}, progress=False)
    assert recorded == []


def test_consistency_model_refuses_diffusion_samplers(tiny):
    model = build_model("cm", {"kind": "consistency", "pretrained": str(tiny["cm"])})
    with pytest.raises(TypeError, match="kind 'consistency'"):
        sample_ddim(model, torch.zeros(2, *model.sample_shape), num_steps=2)


# ------------------------------------------------------------------------------------ conditions
def test_conditions_are_addressed_by_sample_index():
    labels = ClassLabels("random", num_classes=1000, seed=3)
    a = labels(range(0, 40))
    b = torch.cat([labels(range(0, 7)), labels(range(7, 40))])
    assert torch.equal(a, b) and torch.equal(a[0::2], a[1::2]) and len(set(a.tolist())) > 10
    assert ClassLabels([4, 9], num_classes=10)(range(6)).tolist() == [4, 4, 9, 9, 4, 4]
    assert Prompts(["x", "y"])(range(5)) == ["x", "x", "y", "y", "x"]
    assert condition_slot(7) == 3
    with pytest.raises(ValueError, match="class labels must be a non-empty list"):
        ClassLabels([10], num_classes=10)


def test_guided_mixture_interpolates_between_unconditional_and_class_model():
    from antithetic.data import digits_class_means
    from antithetic.models import gaussian_mixture_model, gaussian_model

    means = digits_class_means()
    model = class_gaussian_mixture_model(means=means, std=0.3, labels=ClassLabels([2], num_classes=10))
    x, t = torch.randn(4, *model.sample_shape), torch.tensor(300)
    cond = model.condition(range(4))
    model.guidance_scale = 0.0
    torch.testing.assert_close(model.eps(x, t, cond), gaussian_mixture_model(means=means, std=0.3).eps(x, t), rtol=1e-5, atol=1e-6)
    model.guidance_scale = 1.0
    torch.testing.assert_close(model.eps(x, t, cond), gaussian_model(mean=means[2], std=0.3, sample_shape=model.sample_shape).eps(x, t), rtol=1e-5, atol=1e-6)


def test_unguided_class_model_twins_sum_to_a_constant():
    # at w = 1 the class model is one Gaussian: eps is affine, so DDIM is affine, DM(z) = A z + b_c, and
    # every PN pair of class c sums to the same 2 b_c (Lemma 1's equality case); over-guidance breaks it
    from antithetic.data import digits_class_means

    model = class_gaussian_mixture_model(means=digits_class_means(), std=0.3, labels=ClassLabels([2], num_classes=10))
    spread = {}
    for w in (1.0, 4.0):
        model.guidance_scale = w
        s = generate(model, design=AntitheticNoise(seed=0), num_samples=16, sampler_options={"num_steps": 10}, progress=False)
        sums = pn_pairs(s).sum(1)
        spread[w] = float(np.abs(sums - sums.mean(0)).max())
    assert spread[1.0] < 1e-4 and spread[4.0] > 1e-2


# ------------------------------------------------------------------------------------ precision and devices
def test_resolve_dtype():
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) == torch.float16
    assert resolve_dtype("auto", torch.device("cuda"), half_safe=False) == torch.float32
    assert resolve_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(ValueError, match="unknown dtype requested='half'"):
        resolve_dtype("half", torch.device("cpu"))
    with pytest.raises(ConfigError, match="config key 'models.g.dtype': unknown dtype"):
        load_model("g", {"kind": "affine_odd", "mean": 0.0, "std": 0.5, "dtype": "half"}, device="cpu")


def test_half_precision_network_keeps_float32_state_and_vae(tiny, record_ddim):
    model = _sd(tiny, guidance_scale=2.0)
    reference = generate(model, design=AntitheticNoise(seed=1), num_samples=2, sampler_options={"num_steps": 3}, progress=False)
    record_ddim.clear()
    model.to("cpu", torch.bfloat16)
    sha = model.weights_sha256()
    assert model.unet.dtype == torch.bfloat16 and model.text_encoder.dtype == torch.bfloat16
    assert model.vae.dtype == torch.float32
    low = generate(model, design=AntitheticNoise(seed=1), num_samples=2, sampler_options={"num_steps": 3}, progress=False)
    assert all(call["sample"].dtype == torch.float32 for call in record_ddim)
    _assert_twins_negated(record_ddim[0]["sample"])
    assert np.isfinite(low.samples).all() and low.samples.dtype == np.float32
    assert np.abs(low.samples - reference.samples).max() < 0.1  # bfloat16 network, same images
    assert sha == _sd(tiny).weights_sha256()  # the hash names the weights as loaded, not the cast


def test_no_hard_coded_cuda_index():
    paths = [*ROOT.glob("src/**/*.py"), *ROOT.glob("workflow/**/*"), *ROOT.glob("profiles/**/*.yaml"), *ROOT.glob("config*/**/*.yaml"), ROOT / "config.yaml"]
    offenders = [str(p) for p in paths if p.is_file() and re.search(r"cuda:[0-9]", p.read_text(errors="ignore"))]
    assert offenders == []


# ------------------------------------------------------------------------------------ loading and fetching
def test_adapter_configs_fail_with_the_key_named(tiny, tmp_path):
    with pytest.raises(ValueError, match="model 'sd'.*prompts"):
        build_model("sd", {"kind": "stable_diffusion", "pretrained": str(tiny["sd"])})
    with pytest.raises(ModelNotAvailableError, match="source=.*missing.*does not exist"):
        build_model("dit", {"kind": "dit", "pretrained": str(tmp_path / "missing")})
    with pytest.raises(ModelNotAvailableError, match="not a DiT pipeline"):
        build_model("dit", {"kind": "dit", "pretrained": str(tiny["cm"])})


def test_select_files_keeps_one_weights_file_per_component():
    sd = [
        "model_index.json", "v1-5-pruned.ckpt", "v1-5-pruned-emaonly.safetensors", "unet/config.json",
        "unet/diffusion_pytorch_model.bin", "unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors",
        "unet/diffusion_pytorch_model.non_ema.bin", "vae/config.json", "vae/diffusion_pytorch_model.bin",
        "text_encoder/model.safetensors", "text_encoder/config.json", "tokenizer/vocab.json", "tokenizer/merges.txt",
        "safety_checker/model.safetensors", "safety_checker/config.json", "scheduler/scheduler_config.json", ".gitattributes", "README.md",
    ]
    assert select_files(sd) == sorted([
        "model_index.json", "safety_checker/config.json", "scheduler/scheduler_config.json", "text_encoder/config.json",
        "text_encoder/model.safetensors", "tokenizer/merges.txt", "tokenizer/vocab.json", "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors", "vae/config.json", "vae/diffusion_pytorch_model.bin",
    ])
    flat = ["config.json", "diffusion_pytorch_model.bin", "scheduler_config.json", "model_index.json"]
    assert select_files(flat) == sorted(flat)


def test_fetch_fails_fast_offline(tmp_path):
    assert is_hub_id("google/ddpm-cifar10-32") and not is_hub_id(str(tmp_path)) and not is_hub_id("cifar")
    began = time.perf_counter()
    with pytest.raises(ModelNotAvailableError, match="could not fetch 'google/ddpm-cifar10-32'.*pretrained"):
        fetch_model("google/ddpm-cifar10-32", tmp_path / "cifar10")  # HF_HUB_OFFLINE=1 in the tests
    assert time.perf_counter() - began < 10 and not (tmp_path / "cifar10").exists()
    with pytest.raises(ModelNotAvailableError, match="not a hub id"):
        fetch_model(str(tmp_path), tmp_path / "x")


@pytest.mark.slow
def test_fetch_rule_fails_fast_with_the_advice(tmp_path):
    import yaml

    config = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANTITHETIC_FORKSERVER": "0"}  # one job: no servers to start
    # diversity.perceptual: [lpips] needs the AlexNet weights cached when the DAG is built: a stand-in file
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "torch" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth").write_bytes(b"")
    env["TORCH_HOME"] = str(tmp_path / "torch")
    cmd = ["snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path), "--cores", "1", "results/models/cifar10"]
    result = subprocess.run([str(Path(os.sys.executable).parent / cmd[0]), *cmd[1:]], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode != 0
    assert "could not fetch 'google/ddpm-cifar10-32'" in result.stderr and "pretrained:" in result.stderr
