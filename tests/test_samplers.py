import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from antithetic.correlation import pair_correlations, pn_pairs
from antithetic.generate import generate
from antithetic.models import build_model, gaussian_mixture_model, gaussian_model
from antithetic.noise import AntitheticNoise, IIDNoise
from antithetic.samplers import Start, sample_ddim, sample_ddpm, start_timestep


@pytest.fixture(scope="module")
def affine():
    return gaussian_model(mean=0.2, std=0.5, sample_shape=(1, 8, 8))


@pytest.mark.parametrize("sampler,options", [("ddim", {"num_steps": 50, "eta": 0.0}), ("ddim", {"num_steps": 20, "eta": 0.5}), ("ddpm", {"num_steps": 100})])
def test_affine_odd_model_gives_pn_correlation_minus_one(affine, sampler, options):
    # DDIM steps of an affine noise predictor are affine maps, so DM(z) + DM(-z) is a constant and
    # the PN pair correlation is exactly -1 (Lemma 1). For stochastic samplers this holds only
    # because the twin's per-step noises are negated too.
    samples = generate(affine, design=AntitheticNoise(seed=0), num_samples=64, sampler=sampler, sampler_options=options, progress=False)
    pairs = pn_pairs(samples)
    corr = pair_correlations(pairs[:, 0], pairs[:, 1])
    np.testing.assert_allclose(corr, -1.0, atol=1e-6)


def test_stochastic_twin_without_negated_step_noise_is_not_antithetic(affine):
    z = AntitheticNoise(seed=0).initial_noise(range(2), affine.sample_shape)
    shared = IIDNoise(seed=9).step_noise([0, 0], affine.sample_shape)  # same, un-negated noise for both
    x = sample_ddim(affine, z, num_steps=20, eta=1.0, step_noise=shared)
    corr = pair_correlations(x[:1].numpy(), x[1:].numpy())
    assert corr[0] > -0.99


def test_same_seeds_are_bit_identical_across_runs_and_batch_sizes(affine):
    kwargs = dict(design=AntitheticNoise(seed=3), num_samples=12, sampler="ddpm", sampler_options={"num_steps": 20}, progress=False)
    a = generate(affine, batch_size=12, **kwargs).samples
    assert np.array_equal(a, generate(affine, batch_size=12, **kwargs).samples)
    assert np.array_equal(a, generate(affine, batch_size=5, **kwargs).samples)


def test_unet_samples_repeat_exactly_and_agree_across_batch_sizes(tiny_unet_dir):
    # The noise is bit-identical for any batch size (test_noise); a convolutional network's CPU
    # kernels may block a batch differently, so across batch sizes samples agree to rounding only.
    model = build_model("tiny", {"kind": "unet", "pretrained": str(tiny_unet_dir)})
    kwargs = dict(design=AntitheticNoise(seed=3), num_samples=12, sampler="ddpm", sampler_options={"num_steps": 10}, progress=False)
    a = generate(model, batch_size=12, **kwargs).samples
    assert np.array_equal(a, generate(model, batch_size=12, **kwargs).samples)
    np.testing.assert_allclose(a, generate(model, batch_size=5, **kwargs).samples, rtol=0, atol=1e-4)


def test_job_splitting_changes_no_number():
    model = gaussian_mixture_model(means=torch.randn(4, 1, 4, 4, generator=torch.Generator().manual_seed(0)), std=0.3)
    kwargs = dict(design=AntitheticNoise(seed=1), sampler="ddim", sampler_options={"num_steps": 10, "eta": 1.0}, progress=False)
    whole = generate(model, num_samples=8, **kwargs)
    parts = [generate(model, num_samples=4, start=s, **kwargs) for s in (0, 4)]
    assert np.array_equal(whole.samples, np.concatenate([p.samples for p in parts]))
    assert list(whole.indices) == list(range(8)) and list(whole.groups) == [0, 0, 1, 1, 2, 2, 3, 3]


def test_callback_sees_every_step(affine):
    seen = []
    sample_ddim(affine, torch.randn(2, 1, 8, 8), num_steps=7, callback=seen.append)
    assert [s["step"] for s in seen] == list(range(7))
    assert seen[0]["t"] > seen[-1]["t"]
    assert all(set(s) == {"step", "t", "x", "eps", "x0"} for s in seen)


def test_ddpm_matches_diffusers_ddpm_scheduler():
    # Our DDPM is diffusers' DDIM update with eta = 1 fed explicit noise; it must agree with
    # DDPMScheduler.step given the same noise (up to float32 rounding of the schedule).
    torch.manual_seed(0)
    model = gaussian_mixture_model(means=0.5 * torch.randn(3, 1, 4, 4), std=0.3, scheduler=DDPMScheduler(num_train_timesteps=200, clip_sample=True))
    x_T = torch.randn(4, 1, 4, 4)
    noises = [torch.randn(4, 1, 4, 4, generator=torch.Generator().manual_seed(i)) for i in range(200)]
    ours = sample_ddpm(model, x_T, step_noise=lambda i: noises[i])

    reference = DDPMScheduler.from_config(model.scheduler.config)
    reference.set_timesteps(200)
    x = x_T
    for i, t in enumerate(reference.timesteps):
        gen = torch.Generator().manual_seed(i)  # DDPMScheduler draws its noise from this generator
        x = reference.step(model.eps(x, t), t, x, generator=gen).prev_sample
    torch.testing.assert_close(ours, x, rtol=0, atol=2e-3)


@pytest.mark.parametrize("num_steps", [200, 40])
def test_ddpm_uses_the_checkpoints_fixed_large_variance(num_steps):
    # google/ddpm-cifar10-32 samples with sigma_t^2 = beta_t (variance_type fixed_large); the ddpm sampler
    # must be that checkpoint's ancestral sampler, step by step, given the same noise (respaced too)
    torch.manual_seed(0)
    scheduler = DDPMScheduler(num_train_timesteps=200, clip_sample=True, variance_type="fixed_large")
    model = gaussian_mixture_model(means=0.5 * torch.randn(3, 1, 4, 4), std=0.3, scheduler=scheduler)
    x_T = torch.randn(4, 1, 4, 4)
    noises = [torch.randn(4, 1, 4, 4, generator=torch.Generator().manual_seed(i)) for i in range(num_steps)]
    seen = []
    ours = sample_ddpm(model, x_T, num_steps=num_steps, step_noise=lambda i: noises[i], callback=seen.append)

    reference = DDPMScheduler.from_config(model.scheduler.config)
    reference.set_timesteps(num_steps)
    x = x_T
    for i, t in enumerate(reference.timesteps):
        torch.testing.assert_close(seen[i]["x"], x, rtol=0, atol=2e-3)
        gen = torch.Generator().manual_seed(i)  # DDPMScheduler draws its noise from this generator
        x = reference.step(model.eps(x, t), t, x, generator=gen).prev_sample
    torch.testing.assert_close(ours, x, rtol=0, atol=2e-3)
    # and it differs from the fixed_small sampler on the same noise
    small = gaussian_mixture_model(means=model.mixture.means.float(), std=0.3,
                                   scheduler=DDPMScheduler(num_train_timesteps=200, clip_sample=True))
    assert (sample_ddpm(small, x_T, num_steps=num_steps, step_noise=lambda i: noises[i]) - ours).abs().max() > 0.01


def test_ddpm_refuses_a_learned_variance():
    model = gaussian_mixture_model(means=torch.zeros(1, 1, 2, 2), std=0.3,
                                   scheduler=DDPMScheduler(num_train_timesteps=10, variance_type="learned_range"))
    with pytest.raises(ValueError, match="variance_type is 'learned_range'.*kind ddim"):
        sample_ddpm(model, torch.randn(2, 1, 2, 2), step_noise=lambda i: torch.randn(2, 1, 2, 2))


def _mixture(variance_type: str = "fixed_small"):
    means = 0.5 * torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    scheduler = DDPMScheduler(num_train_timesteps=100, clip_sample=True, variance_type=variance_type)
    return gaussian_mixture_model(means=means, std=0.3, scheduler=scheduler)


# the samplers that take the guidance and start hooks: (sampler, options, the scheduler's variance_type)
HOOKED = [
    pytest.param(sample_ddim, {"eta": 0.0}, "fixed_small", id="ddim"),
    pytest.param(sample_ddim, {"eta": 0.6}, "fixed_small", id="ddim-eta"),
    pytest.param(sample_ddpm, {}, "fixed_small", id="ddpm"),
    pytest.param(sample_ddpm, {}, "fixed_large", id="ddpm-fixed-large"),
]
HOOK_SHAPE = (1, 4, 4)


@pytest.mark.parametrize("sampler,options,variance", HOOKED)
def test_a_start_at_the_top_of_the_grid_is_plain_generation_from_the_noised_image(sampler, options, variance):
    # Start(t, image) enters the grid at its largest timestep t_s <= t, from sqrt(abar) image + sqrt(1 - abar) x_T:
    # a start at (or just above) the top grid timestep takes every step, so it is plain generation from that state
    model = _mixture(variance)
    design, idx = AntitheticNoise(seed=4), range(4)
    x_T = design.initial_noise(idx, HOOK_SHAPE)
    image = 2 * torch.rand(4, *HOOK_SHAPE, generator=torch.Generator().manual_seed(1)) - 1
    grid = DDIMScheduler.from_config(model.scheduler.config)
    grid.set_timesteps(10)
    top = int(grid.timesteps[0])
    abar = grid.alphas_cumprod[top]
    state = torch.sqrt(abar) * image + torch.sqrt(1 - abar) * x_T
    plain = sampler(model, state, num_steps=10, step_noise=design.step_noise(idx, HOOK_SHAPE), **options)
    for t in (top, top + 5):
        assert start_timestep(model, 10, t) == top
        started = sampler(model, x_T, num_steps=10, start=Start(t, image), step_noise=design.step_noise(idx, HOOK_SHAPE), **options)
        assert torch.equal(started, plain)


@pytest.mark.parametrize("eta", [0.0, 0.6])
def test_a_start_part_way_down_the_grid_takes_the_remaining_steps(eta):
    # the state x_k of a plain run, started from at t_k as the noised image x_k / sqrt(abar_k) with zero noise,
    # runs the plain run's remaining steps (numbered from 0: the per-step noise is drawn from its first step on)
    model = _mixture()
    x_T = IIDNoise(seed=2).initial_noise(range(3), HOOK_SHAPE)
    grid = DDIMScheduler.from_config(model.scheduler.config)
    grid.set_timesteps(10)
    seen = []
    plain = sample_ddim(model, x_T, num_steps=10, callback=seen.append)
    for k in (3, 9):
        t_k, x_k = seen[k]["t"], seen[k]["x"]
        tail = []
        out = sample_ddim(model, torch.zeros_like(x_T), num_steps=10, start=Start(t_k + 3, x_k / torch.sqrt(grid.alphas_cumprod[t_k])),
                          callback=tail.append)
        assert [s["t"] for s in tail] == [s["t"] for s in seen[k:]] and [s["step"] for s in tail] == list(range(10 - k))
        torch.testing.assert_close(out, plain, rtol=0, atol=1e-5)
        if eta > 0:  # a stochastic run draws the step noise in order from step 0 (StepNoise refuses anything else)
            noise = IIDNoise(seed=3).step_noise(range(3), HOOK_SHAPE)
            sample_ddim(model, x_T, num_steps=10, eta=eta, step_noise=noise, start=Start(t_k, x_k))
            assert noise._next_step == 10 - k
    with pytest.raises(ValueError, match=r"start at t=-1 lies below every timestep of the 10-step grid \(the lowest is 0\)"):
        sample_ddim(model, x_T, num_steps=10, start=Start(-1, x_T))
    with pytest.raises(ValueError, match="start.image has shape"):
        sample_ddim(model, x_T, num_steps=10, start=Start(50, x_T[:2]))


@pytest.mark.parametrize("sampler,options,variance", HOOKED)
def test_a_guidance_hook_replaces_the_model_call_and_shifts_the_state_after_the_step(sampler, options, variance):
    model = _mixture(variance)
    design, idx = AntitheticNoise(seed=4), range(4)
    x_T = design.initial_noise(idx, HOOK_SHAPE)
    calls = []

    def unguided(model, x, t, *, abar, cond):  # the model's own eps and no shift: plain sampling
        calls.append((int(t), float(abar)))
        return model.eps(x, t, cond), torch.zeros_like(x), {"seen_t": int(t)}

    seen = []
    plain = sampler(model, x_T, num_steps=10, step_noise=design.step_noise(idx, HOOK_SHAPE), **options)
    guided = sampler(model, x_T, num_steps=10, step_noise=design.step_noise(idx, HOOK_SHAPE), guidance=unguided,
                     callback=seen.append, **options)
    assert torch.equal(guided, plain)
    assert [t for t, _ in calls] == [s["t"] for s in seen] == [s["seen_t"] for s in seen]  # extras reach the callback
    assert all(abar == float(model.scheduler.alphas_cumprod[t]) for t, abar in calls)  # the step's own alpha-bar
    last = seen[-1]["t"]

    def shift_last(model, x, t, *, abar, cond):  # shift the state after the last step only
        return model.eps(x, t, cond), torch.full_like(x, 0.25) if int(t) == last else None, {}

    shifted = sampler(model, x_T, num_steps=10, step_noise=design.step_noise(idx, HOOK_SHAPE), guidance=shift_last, **options)
    assert torch.equal(shifted, plain + 0.25)


def test_sampler_argument_errors(affine):
    with pytest.raises(ValueError, match="needs step_noise"):
        sample_ddim(affine, torch.randn(2, 1, 8, 8), num_steps=5, eta=0.5)
    with pytest.raises(ValueError, match="num_steps"):
        sample_ddim(affine, torch.randn(2, 1, 8, 8), num_steps=5000)
    with pytest.raises(ValueError, match="multiple of 2"):
        generate(affine, design=AntitheticNoise(), num_samples=3, progress=False)


def test_thread_count_changes_no_sample():
    """The workflow gives every network job one thread (workflow/rules/common.smk: NETWORK_THREADS) on the
    grounds that the thread count changes no number: the digits UNet architecture and an analytic model,
    sampled with 1 and with 2 intra-op threads, give bitwise equal samples."""
    from antithetic.models import unet_model
    from antithetic.training import TrainConfig, build_unet

    torch.manual_seed(0)
    cfg = TrainConfig(block_out_channels=[32, 64])
    unet = unet_model(build_unet(cfg, sample_size=8, channels=1).eval(), DDPMScheduler(beta_schedule=cfg.beta_schedule), name="u")
    models = {"unet": unet, "gmm": build_model("g", {"kind": "gaussian_mixture", "means": "digits", "std": 0.3})}
    before = torch.get_num_threads()
    out = {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for name, model in models.items():
                out[name, threads] = generate(model, design=AntitheticNoise(seed=0), num_samples=128, sampler="ddim",
                                              sampler_options={"num_steps": 4}, batch_size=128, progress=False).samples
    finally:
        torch.set_num_threads(before)
    for name in models:
        assert np.array_equal(np.asarray(out[name, 1]), np.asarray(out[name, 2])), name
