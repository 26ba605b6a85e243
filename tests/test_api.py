"""The public API: latents for diffusers pipelines, `estimate` over a design's groups, statistics' input contract."""

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from tiny_pipelines import tiny_dit, tiny_stable_diffusion

import antithetic
from antithetic import (
    AntitheticNoise,
    IIDNoise,
    InexactPairingWarning,
    KAntitheticNoise,
    PartialAntitheticNoise,
    RQMCNoise,
    antithetic_latents,
    brightness,
    estimate,
    injects_noise,
    to_model_range,
)
from antithetic.estimators import ESTIMATORS, efficiency_interval, group_estimate
from antithetic.kinds import DESIGN_KINDS


@pytest.fixture(scope="module")
def sd_pipe(tmp_path_factory):
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline.from_pretrained(tiny_stable_diffusion(tmp_path_factory.mktemp("sd")))


# ----------------------------------------------------------------------------------------------- exports
def test_public_names_resolve_and_are_documented():
    for name in antithetic.__all__:
        obj = getattr(antithetic, name)
        assert obj is not None
        if callable(obj) and not isinstance(obj, type(ESTIMATORS)):
            assert (obj.__doc__ or "").strip(), f"antithetic.{name} has no docstring"
    assert set(antithetic.__all__) <= set(dir(antithetic))


# ----------------------------------------------------------------------------------------------- latents
def test_latents_have_the_pipelines_shape_device_and_dtype_and_pair(sd_pipe):
    z = antithetic_latents(sd_pipe, 6, seed=0)
    factor = sd_pipe.vae_scale_factor
    size = sd_pipe.unet.config.sample_size
    assert z.shape == (6, sd_pipe.unet.config.in_channels, size, size)  # height = sample_size * factor, // factor
    assert z.dtype == sd_pipe.unet.dtype and z.device == sd_pipe.device
    torch.testing.assert_close(z[1::2], -z[0::2], rtol=0, atol=0)
    tall = antithetic_latents(sd_pipe, 2, height=4 * factor * 2, width=2 * factor * 2)
    assert tall.shape[-2:] == (8, 4)
    with pytest.raises(ValueError, match="multiples of the VAE scale factor"):
        antithetic_latents(sd_pipe, 2, height=factor + 1)


def test_latents_are_seed_addressed_so_start_continues_the_sequence(sd_pipe):
    for design in ("antithetic", "k_antithetic", "rqmc", "iid"):
        options = {"m": 2} if design == "rqmc" else {}
        whole = antithetic_latents(sd_pipe, 16, design=design, seed=3, **options)
        parts = [antithetic_latents(sd_pipe, 8, design=design, seed=3, start=s, **options) for s in (0, 8)]
        torch.testing.assert_close(torch.cat(parts), whole, rtol=0, atol=0)
    design = KAntitheticNoise(k=4, seed=1)
    z = antithetic_latents(sd_pipe, 8, design=design)
    torch.testing.assert_close(z.view(2, 4, -1).sum(1), torch.zeros(2, z[0].numel()), rtol=0, atol=1e-5)
    torch.testing.assert_close(z, design.initial_noise(range(8), z.shape[1:]), rtol=0, atol=0)


def test_latents_are_not_scaled_the_pipeline_scales_them_as_its_own_noise(sd_pipe):
    """diffusers multiplies given latents by init_noise_sigma (prepare_latents), as it does its own draws."""
    from diffusers import EulerDiscreteScheduler
    from diffusers.utils.torch_utils import randn_tensor

    pipe = sd_pipe
    old = pipe.scheduler
    pipe.scheduler = EulerDiscreteScheduler.from_config(old.config)
    try:
        pipe.scheduler.set_timesteps(3)
        assert pipe.scheduler.init_noise_sigma > 1.1  # the tiny schedule has 100 steps: sigma_max 1.12
        z = antithetic_latents(pipe, 2, seed=0)
        prepared = pipe.prepare_latents(2, 4, 16, 16, torch.float32, "cpu", None, latents=z)
        torch.testing.assert_close(prepared, z * pipe.scheduler.init_noise_sigma)
        # the same N(0, I) draw given as latents= or drawn by the pipeline from its generator: the same images
        own = randn_tensor(z.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float32)
        common = dict(prompt="a cat", num_images_per_prompt=2, num_inference_steps=3, output_type="pt")
        a = pipe(**common, generator=torch.Generator().manual_seed(7)).images
        b = pipe(**common, latents=own).images
        torch.testing.assert_close(a, b)
    finally:
        pipe.scheduler = old


def test_rqmc_latents_need_m_and_partial_groups_are_refused(sd_pipe):
    with pytest.raises(ValueError, match="design='rqmc' needs m"):
        antithetic_latents(sd_pipe, 8, design="rqmc")
    with pytest.raises(ValueError, match="positive multiple of 2"):
        antithetic_latents(sd_pipe, 3)
    with pytest.raises(ValueError, match="start=1 must be"):
        antithetic_latents(sd_pipe, 2, start=1)
    with pytest.raises(ValueError, match="seed=1 differs"):
        antithetic_latents(sd_pipe, 2, design=AntitheticNoise(seed=0), seed=1)


def test_flux_latents_are_packed_as_flux_packs_its_noise():
    from diffusers import FluxPipeline
    from diffusers.configuration_utils import FrozenDict

    class PackedPipeline:  # the parts of FluxPipeline that prepare_latents reads, without its text encoders
        _pack_latents = staticmethod(FluxPipeline._pack_latents)
        _unpack_latents = staticmethod(FluxPipeline._unpack_latents)
        vae_scale_factor, default_sample_size = 8, 128
        transformer = SimpleNamespace(config=FrozenDict(in_channels=64), dtype=torch.float32)
        scheduler = SimpleNamespace(config={})
        device = torch.device("cpu")

        def __call__(self, prompt=None, latents=None):
            raise NotImplementedError

    pipe = PackedPipeline()
    z = antithetic_latents(pipe, 4, height=64, width=48, seed=2)
    assert z.shape == (4, (8 // 2) * (6 // 2), 64)  # 16 channels on an 8 x 6 grid, 2x2 patches
    noise = AntitheticNoise(seed=2).initial_noise(range(4), (16, 8, 6))
    torch.testing.assert_close(z, FluxPipeline._pack_latents(noise, 4, 16, 8, 6), rtol=0, atol=0)
    torch.testing.assert_close(z[1::2], -z[0::2], rtol=0, atol=0)
    assert antithetic_latents(pipe, 2).shape == (2, 64 * 64, 64)  # default 1024 x 1024


def test_pipelines_without_latents_are_refused_with_the_exact_alternative(tmp_path, tiny_unet_dir):
    from diffusers import DDPMPipeline, DiTPipeline

    for pipe in (DDPMPipeline.from_pretrained(tiny_unet_dir), DiTPipeline.from_pretrained(tiny_dit(tmp_path))):
        with pytest.raises(TypeError, match=r"takes no latents=.*antithetic.generate"):
            antithetic_latents(pipe, 2)


def test_noise_injecting_schedulers_warn(sd_pipe):
    from diffusers import (
        DDIMScheduler,
        DDPMScheduler,
        DPMSolverMultistepScheduler,
        EulerAncestralDiscreteScheduler,
        EulerDiscreteScheduler,
    )

    old = sd_pipe.scheduler
    config = old.config
    try:
        for scheduler in (DDPMScheduler.from_config(config), EulerAncestralDiscreteScheduler.from_config(config),
                          DPMSolverMultistepScheduler.from_config(config, algorithm_type="sde-dpmsolver++")):
            assert injects_noise(scheduler)
            sd_pipe.scheduler = scheduler
            with pytest.warns(InexactPairingWarning, match="injects noise"):
                antithetic_latents(sd_pipe, 2)
            with warnings.catch_warnings():  # iid noise pairs nothing: no warning
                warnings.simplefilter("error")
                antithetic_latents(sd_pipe, 2, design="iid")
        for scheduler in (DDIMScheduler.from_config(config), EulerDiscreteScheduler.from_config(config),
                          DPMSolverMultistepScheduler.from_config(config)):
            assert not injects_noise(scheduler)
            sd_pipe.scheduler = scheduler
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                antithetic_latents(sd_pipe, 2)
    finally:
        sd_pipe.scheduler = old


def test_shape_tuples_give_cpu_float32_latents():
    z = antithetic_latents((3, 4, 4), 4, design="k_antithetic", k=4, seed=9)
    assert z.shape == (4, 3, 4, 4) and z.dtype == torch.float32 and z.device.type == "cpu"
    torch.testing.assert_close(z, KAntitheticNoise(k=4, seed=9).initial_noise(range(4), (3, 4, 4)), rtol=0, atol=0)


# ----------------------------------------------------------------------------------------------- estimate
def _values(design, n, seed_shift=0.3):
    z = design.initial_noise(range(n), (3,)).numpy().astype(np.float64)
    return z[:, 0] + np.cos(z[:, 1] + seed_shift) + 0.5 * z[:, 2] ** 2


@pytest.mark.parametrize("design", [IIDNoise(seed=1), AntitheticNoise(seed=1), KAntitheticNoise(k=4, seed=1), RQMCNoise(m=3, seed=1)])
def test_estimate_dispatches_to_the_designs_estimator_over_its_groups(design):
    values = _values(design, 64)
    result = estimate(values, design)
    method = DESIGN_KINDS[design.name].estimator
    expected = ESTIMATORS[method](values.reshape(-1, design.group_size), level=0.95, quantile="t")
    assert result.method == method and result.num_groups == 64 // design.group_size
    assert result.estimate == pytest.approx(expected.estimate)
    assert (result.ci_low, result.ci_high) == pytest.approx((expected.ci_low, expected.ci_high))
    # grouped by the design's addressing, not by position: shuffled values with their indices, the same result
    order = np.random.default_rng(0).permutation(64)
    shuffled = estimate(values[order], design, indices=order)
    assert shuffled.estimate == pytest.approx(result.estimate) and shuffled.ci_low == pytest.approx(result.ci_low)
    if method == "mc":
        assert result.efficiency == 1.0 and result.correlation is None
    else:
        assert result.efficiency_low < result.efficiency < result.efficiency_high
    if method in ("amc", "k_amc"):  # with the sample's own variance: exactly 1 / (1 + (K - 1) rho_w)
        k = design.group_size
        assert result.efficiency == pytest.approx(1 / (1 + (k - 1) * result.correlation))


def test_estimate_with_start_offset_and_incomplete_groups():
    design = AntitheticNoise(seed=2)
    values = _values(design, 40)
    tail = estimate(values[20:], design, start=20)
    assert tail.estimate == pytest.approx(group_estimate(values[20:].reshape(-1, 2)).estimate)
    with pytest.raises(ValueError, match="incomplete"):
        estimate(values[1:], design, start=1)
    with pytest.raises(ValueError, match="feeds no estimator"):
        estimate(values, PartialAntitheticNoise(seed=0))


def test_estimate_against_an_independent_baseline_uses_the_f_interval():
    design = AntitheticNoise(seed=4)
    values = _values(design, 200)
    baseline = _values(IIDNoise(seed=4, offset=10**6), 200)
    result = estimate(values, design, baseline=baseline)
    expected = efficiency_interval(np.var(baseline, ddof=1), 200, result.details)
    assert result.efficiency == pytest.approx(expected["efficiency"])
    assert (result.efficiency_low, result.efficiency_high) == pytest.approx((expected["efficiency_low"], expected["efficiency_high"]))
    assert result.efficiency_method == "independent baseline (F)" and result.baseline_samples == 200
    document = result.to_dict()
    assert "details" not in document and document["method"] == "amc"
    assert "efficiency vs MC" in str(result)


# ----------------------------------------------------------------------------------------------- statistics
def test_statistics_keep_their_default_and_check_a_declared_range():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.3, 1.3, size=(5, 3, 4, 4))  # sampler outputs overshoot [-1, 1]: clamped, as before
    np.testing.assert_array_equal(brightness(x), (255 * np.clip((x + 1) / 2, 0, 1)).reshape(5, -1).mean(1))
    unit = rng.uniform(0, 1, size=(5, 3, 4, 4))
    np.testing.assert_allclose(brightness(unit, value_range=(0, 1)), 255 * unit.reshape(5, -1).mean(1))
    np.testing.assert_allclose(brightness(unit.transpose(0, 2, 3, 1), value_range=(0, 1), layout="NHWC"),
                               brightness(unit, value_range=(0, 1)))
    np.testing.assert_allclose(brightness(torch.from_numpy(unit), value_range=(0, 1)), brightness(unit, value_range=(0, 1)))
    with pytest.raises(ValueError, match=r"outside value_range=\(0, 1\).*fit \(-1, 1\)"):
        brightness(2 * unit - 1, value_range=(0, 1))
    with pytest.raises(ValueError, match=r"outside value_range=\(0, 1\).*\(0, 255\)"):
        brightness(255 * unit, value_range=(0, 1))
    with pytest.raises(ValueError, match="layout must be one of"):
        brightness(unit, value_range=(0, 1), layout="CHW")
    with pytest.raises(ValueError, match="value_range must be a pair"):
        brightness(unit, value_range=(1, 0))


def test_to_model_range_converts_pil_numpy_and_torch_outputs():
    from PIL import Image

    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(2, 4, 4, 3), dtype=np.uint8)
    pil = [Image.fromarray(p) for p in pixels]
    as_np = pixels / 255.0
    as_pt = torch.from_numpy(as_np).permute(0, 3, 1, 2)
    expected = np.moveaxis(2 * as_np - 1, -1, 1)
    for images in (pil, as_np, as_pt, SimpleNamespace(images=as_pt)):
        np.testing.assert_allclose(to_model_range(images), expected, atol=1e-6)  # tensors are read as float32
    np.testing.assert_allclose(brightness(to_model_range(pil)), brightness(as_pt, value_range=(0, 1)))
    with pytest.raises(ValueError, match="value_range"):
        to_model_range(pixels.astype(np.float64))  # 0-255 numbers declared (by default) as [0, 1]
