"""DPS on linear inverse problems: operators, gradient, exact identities, closed-form Gaussian posterior, antithetic twin."""

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler

from antithetic import inverse, samplers
from antithetic.generate import generate
from antithetic.inverse import (
    dps_gradient,
    inverse_experiment,
    make_operator,
    measure,
    sample_dps,
    solve_measurements,
)
from antithetic.models.analytic import gaussian_mixture_model, gaussian_model
from antithetic.noise import AntitheticNoise, IIDNoise
from antithetic.workflow.config import ConfigError, check_references
from antithetic.workflow.jobs.inverse import task_operator

SHAPE = (1, 8, 8)
TASKS = [("inpainting", {"box": [2, 2, 4, 4]}), ("super_resolution", {"factor": 2}), ("deblurring", {"kernel_size": 3, "sigma": 1.0})]


@pytest.mark.parametrize("task,params", TASKS)
def test_operators_are_linear_and_preserve_constants_where_they_should(task, params):
    op = make_operator(task, **params)
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, *SHAPE, generator=g), torch.randn(3, *SHAPE, generator=g)
    assert torch.allclose(op(2 * a - 0.5 * b), 2 * op(a) - 0.5 * op(b), atol=1e-5)
    assert torch.allclose(op.matrix(SHAPE).float() @ a.reshape(3, -1).T, op(a).reshape(3, -1).T, atol=1e-5)
    if task != "inpainting":  # averaging operators keep a constant image constant
        assert torch.allclose(op(torch.full((1, *SHAPE), 0.3)), torch.tensor(0.3), atol=1e-6)
    else:
        assert int((op.matrix(SHAPE).abs().sum(1) > 0).sum()) == 64 - 16


def test_operator_errors_name_the_argument_and_the_app_names_the_config_key():
    with pytest.raises(ValueError, match="unknown task 'colorization'") as info:
        make_operator("colorization")
    assert not isinstance(info.value, ConfigError)  # the library knows no config key
    with pytest.raises(ValueError, match="kernel_size must be odd, got 4"):
        make_operator("deblurring", kernel_size=4, sigma=1.0)
    with pytest.raises(TypeError, match="'super_resolution': bad parameters"):
        make_operator("super_resolution", factr=2)
    # the job translates them into the config key and the fix
    with pytest.raises(ConfigError, match=r"config key 'inverse.tasks' names 'colorization'; known tasks: .*Remove it"):
        task_operator("colorization", {})
    with pytest.raises(ConfigError, match=r"config key 'inverse.tasks.deblurring': deblurring: kernel_size must be odd"):
        task_operator("deblurring", {"kernel_size": 4, "sigma": 1.0})
    with pytest.raises(ConfigError, match=r"config key 'inverse.tasks.super_resolution': .*bad parameters"):
        task_operator("super_resolution", {"factr": 2})
    assert task_operator("super_resolution", {"factor": 2}).params == {"factor": 2}


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda c: c["inverse"].update(samples=5), r"config key 'inverse.samples' must be an even number >= 4 .*got 5"),
        (lambda c: c["inverse"].update(samples=2), r"config key 'inverse.samples' must be an even number >= 4 .*got 2"),
        (lambda c: c["inverse"]["tasks"]["deblurring"].update(kernel_size=4),
         r"config key 'inverse.tasks.deblurring.kernel_size' must be odd, got 4; use e.g. 5"),
    ],
)
def test_the_config_check_names_the_inverse_key_at_dag_build(mutate, message):
    from pathlib import Path

    import yaml

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())
    check_references(config)
    mutate(config)
    with pytest.raises(ConfigError, match=message):
        check_references(config)
    config["inverse"].pop("model")  # the stage is off: nothing to check
    check_references(config)


@pytest.mark.parametrize("sigma_y", [0.3, 2.5])
@pytest.mark.parametrize("task,params", TASKS)
def test_measurement_noise_is_sigma_y_times_the_given_noise(task, params, sigma_y):
    # sigma_y away from 0 and 1, where sigma_y, sigma_y ** 2 and sqrt(sigma_y) coincide
    op = make_operator(task, **params)
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(2, *SHAPE, generator=g, dtype=torch.float64)
    n = torch.randn(op(x0).shape, generator=g, dtype=torch.float64)
    expected = sigma_y * (op(n) if task == "inpainting" else n)  # unmeasured pixels carry no noise
    torch.testing.assert_close(measure(op, x0, sigma_y=sigma_y, noise=n) - op(x0), expected, rtol=0, atol=1e-12)


class _Measured(Exception):
    """Stops the experiment once its measurements exist."""


@pytest.mark.parametrize("sigma_y", [0.05, 0.3])  # 0.05: the configured value (config.yaml, inverse.sigma_y)
@pytest.mark.parametrize("task,params", TASKS)
def test_the_experiment_measures_with_noise_of_sd_sigma_y(task, params, sigma_y, monkeypatch):
    """The measurements the DPS stage makes (``inverse_experiment``) minus ``A x`` have SD ``sigma_y``: over at
    least 1536 measured entries the sample SD has a relative standard error under 2%; tolerance 8%."""
    op, made, original = make_operator(task, **params), [], inverse.measure

    def spy(*args, **kwargs):
        made.append(original(*args, **kwargs))
        raise _Measured

    monkeypatch.setattr(inverse, "measure", spy)
    truths = torch.rand(96, *SHAPE, generator=torch.Generator().manual_seed(4)) * 2 - 1
    with pytest.raises(_Measured):
        inverse_experiment(gaussian_model(mean=0.0, std=0.5), op, truths, mc_design=IIDNoise(seed=0),
                           amc_design=AntitheticNoise(seed=1), measurement_design=IIDNoise(seed=2), sigma_y=sigma_y, samples=4,
                           num_steps=2, eta=1.0, step_size=1.0, seed=0)
    noise = (made[0] - op(truths)).reshape(-1)
    if task == "inpainting":
        noise = noise[op(torch.ones(1, *SHAPE)).reshape(-1).repeat(len(truths)) > 0]
    assert len(noise) >= 1536
    assert float(noise.std()) == pytest.approx(sigma_y, rel=0.08)
    assert abs(float(noise.mean())) < 4 * sigma_y / len(noise) ** 0.5


def test_dps_gradient_matches_the_closed_form_of_the_gaussian_model():
    # eps_t(x) = a_t x + c_t, so x0_hat = J x + const with the scalar J = (1 - sqrt(1 - abar) a_t) / sqrt(abar)
    mu, s = 0.2, 0.5
    model = gaussian_model(mean=mu, std=s)
    op = make_operator("super_resolution", factor=2)
    t = 400
    abar = model.scheduler.alphas_cumprod[t].float()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(2, *SHAPE, generator=g), torch.randn(2, 1, 4, 4, generator=g)
    grad, eps, residual = dps_gradient(model, x, t, abar, y=y, operator=op)
    a_t = torch.sqrt(1 - abar) / (abar * s**2 + 1 - abar)
    jac = (1 - torch.sqrt(1 - abar) * a_t) / torch.sqrt(abar)
    x0_hat = (x - torch.sqrt(1 - abar) * eps) / torch.sqrt(abar)
    r = (y - op(x0_hat)).reshape(2, -1)
    expected = -jac * (op.matrix(SHAPE).T.float() @ (r / r.norm(dim=1, keepdim=True)).T).T.reshape(2, *SHAPE)
    assert torch.allclose(grad, expected, atol=1e-5)
    assert torch.allclose(residual, r.norm(dim=1), atol=1e-6)
    assert not grad.requires_grad and not eps.requires_grad


@pytest.mark.parametrize(
    "eta,sampler,options",
    [(1.0, "ddpm", {"num_steps": 10}), (0.5, "ddim", {"num_steps": 10, "eta": 0.5}), (0.0, "ddim", {"num_steps": 10, "eta": 0.0})],
)
def test_dps_at_step_size_zero_is_plain_generation(eta, sampler, options):
    """The one generation loop with the DPS hook at zero step equals plain generation, bit for bit: the same
    noise of the same sample indices, the same model output (through the differentiable call) and the same
    update (eta = 1 is DDPM's, with its clipped model output)."""
    model = gaussian_mixture_model(means=torch.randn(3, *SHAPE, generator=torch.Generator().manual_seed(0)), std=0.3)
    op = make_operator("super_resolution", factor=2)
    ys = op(torch.randn(3, *SHAPE, generator=torch.Generator().manual_seed(1)))
    design = AntitheticNoise(seed=3)
    x, _ = solve_measurements(model, op, ys, design=design, samples=4, num_steps=10, eta=eta, step_size=0.0, batch_size=8)
    plain = generate(model, design=design, num_samples=12, sampler=sampler, sampler_options=options, batch_size=8, progress=False)
    assert torch.equal(x.reshape(12, *SHAPE), torch.from_numpy(plain.samples))


def test_dps_moves_the_state_against_the_residual_gradient_after_each_sampler_step():
    # replay every step: the plain DDIM update from the state the step started at, minus zeta times the
    # DPS gradient at that state, is the state the next step starts at
    model = gaussian_mixture_model(means=torch.randn(3, *SHAPE, generator=torch.Generator().manual_seed(0)), std=0.3)
    op = make_operator("inpainting", box=[2, 2, 4, 4])
    y = op(torch.randn(3, *SHAPE, generator=torch.Generator().manual_seed(1)))
    x_T = IIDNoise(seed=2).initial_noise(range(3), SHAPE)
    steps = []
    x = sample_dps(model, x_T, y=y, operator=op, num_steps=4, eta=0.0, step_size=0.7, callback=steps.append)
    scheduler = DDIMScheduler.from_config(model.scheduler.config)
    scheduler.set_timesteps(4)
    assert [s["t"] for s in steps] == [int(t) for t in scheduler.timesteps] and torch.equal(steps[0]["x"], x_T)
    for i, s in enumerate(steps):
        grad, eps, residual = dps_gradient(model, s["x"], s["t"], scheduler.alphas_cumprod[s["t"]], y=y, operator=op)
        expected = scheduler.step(eps, s["t"], s["x"], eta=0.0).prev_sample - 0.7 * grad
        after = steps[i + 1]["x"] if i + 1 < len(steps) else x
        assert torch.allclose(after, expected, atol=1e-6)
        assert torch.equal(s["residual"], residual) and grad.abs().max() > 0.01
    with pytest.raises(ValueError, match="y holds 3 measurements for 2 samples"):
        sample_dps(model, x_T[:2], y=y, operator=op, num_steps=4, eta=0.0)


def test_gradients_flow_only_through_the_model_call(tiny_unet_dir):
    from diffusers import DDPMPipeline

    from antithetic.models.base import DiffusionModel

    pipe = DDPMPipeline.from_pretrained(tiny_unet_dir)
    calls = []

    def eps(x, t, cond=None):
        calls.append(x.requires_grad)
        return pipe.unet(x, t).sample

    model = DiffusionModel(eps=eps, scheduler=pipe.scheduler, sample_shape=SHAPE, name="tiny", module=pipe.unet)
    design = AntitheticNoise(seed=0)
    x = sample_dps(model, design.initial_noise(range(2), SHAPE), y=torch.zeros(2, 1, 4, 4),
                   operator=make_operator("super_resolution", factor=2), num_steps=3, step_noise=design.step_noise(range(2), SHAPE))
    assert calls == [True, True, True]  # every model call sees a state that requires grad
    assert not x.requires_grad
    assert all(p.grad is None for p in pipe.unet.parameters())  # no gradient reaches the weights


def test_the_antithetic_twin_receives_negated_initial_and_step_noises(monkeypatch):
    received = {}

    def recorder(model, x_T, *, step_noise, num_steps, guidance, **kwargs):
        received["x_T"] = x_T.clone()
        received["steps"] = [step_noise(i).clone() for i in range(num_steps)]
        received["y"] = guidance.y
        return x_T

    monkeypatch.setitem(samplers.SAMPLERS, "ddim", recorder)
    model = gaussian_model(mean=0.0, std=0.5)
    ys = torch.arange(3.0).view(3, 1, 1, 1).expand(3, *SHAPE)
    x, _ = solve_measurements(model, make_operator("inpainting", box=[2, 2, 4, 4]), ys, design=AntitheticNoise(seed=5),
                              samples=4, num_steps=6, eta=1.0, step_size=1.0)
    assert x.shape == (3, 4, *SHAPE)
    assert torch.equal(received["y"], ys.repeat_interleave(4, dim=0))  # sample k reconstructs measurement k // 4
    for noise in [received["x_T"], *received["steps"]]:
        assert torch.equal(noise[1::2], -noise[0::2])  # exact negation, every pair
        assert not torch.equal(noise[0], noise[2])  # distinct pairs
    assert len(received["steps"]) == 6


def test_reconstructions_do_not_depend_on_the_batch_size():
    model = gaussian_model(mean=0.0, std=0.5)
    operator = make_operator("super_resolution", factor=2)
    ys = operator(torch.randn(5, *SHAPE, generator=torch.Generator().manual_seed(0)))
    kwargs = dict(design=AntitheticNoise(seed=3), samples=4, num_steps=5, eta=1.0, step_size=1.0)
    whole, _ = solve_measurements(model, operator, ys, **kwargs)
    chunked, _ = solve_measurements(model, operator, ys, batch_size=8, **kwargs)  # 2 measurements per chunk
    tiny, _ = solve_measurements(model, operator, ys, batch_size=1, **kwargs)  # still one measurement per chunk
    assert torch.allclose(whole, chunked, atol=1e-5) and torch.allclose(whole, tiny, atol=1e-5)


def test_dps_on_the_gaussian_model_against_the_closed_form_posterior():
    """x0 ~ N(mu, s^2 I), y = A x0 + sigma_y n with A = keep the pixels outside a box: the posterior is
    Gaussian with covariance (I / s^2 + A^T A / sigma_y^2)^-1. DPS approximates p(y | x_t) by
    p(y | x0_hat(x_t)); measured here with 50 steps and zeta = 1: the mean of the observed pixels is
    within 0.03 of the posterior mean (the posterior SD is 0.098) while DPS under-disperses, its SD being
    about 0.76 of the posterior's. Unobserved pixels receive no gradient (the prior factorises), so they
    follow the plain sampler's prior law."""
    mu, s, sigma_y, n = 0.2, 0.5, 0.1, 400
    model = gaussian_model(mean=mu, std=s)
    op = make_operator("inpainting", box=[2, 2, 4, 4])
    a = op.matrix(SHAPE)
    y = measure(op, torch.full((1, *SHAPE), 0.6), sigma_y=sigma_y, noise=torch.zeros(1, *SHAPE))
    cov = torch.linalg.inv(torch.eye(64, dtype=torch.float64) / s**2 + a.T @ a / sigma_y**2)
    mean = cov @ (torch.full((64,), mu, dtype=torch.float64) / s**2 + a.T @ y.double().reshape(-1) / sigma_y**2)
    design = IIDNoise(seed=0)
    x = sample_dps(model, design.initial_noise(range(n), SHAPE), y=y.expand(n, -1, -1, -1), operator=op, num_steps=50,
                   eta=1.0, step_size=1.0, step_noise=design.step_noise(range(n), SHAPE)).double().reshape(n, -1)
    observed = a.abs().sum(0) > 0
    bias = (x[:, observed].mean(0) - mean[observed]).abs().mean()
    spread = x[:, observed].std(0).mean() / cov.diagonal()[observed].sqrt().mean()
    assert bias < 0.03
    assert 0.6 < spread < 0.95
    assert abs(x[:, ~observed].mean() - mu) < 0.03
    assert abs(x[:, ~observed].std(0).mean() / s - 1) < 0.12  # 50 respaced steps: the prior's SD within 12%


def test_inverse_experiment_reports_mc_and_amc_per_measurement():
    model = gaussian_model(mean=0.0, std=0.5)
    truths = torch.linspace(-1, 1, 64).reshape(1, *SHAPE).repeat(4, 1, 1, 1) * torch.tensor([1.0, -1.0, 0.5, 0.2]).view(4, 1, 1, 1)
    designs = dict(mc_design=IIDNoise(seed=0), amc_design=AntitheticNoise(seed=1), measurement_design=IIDNoise(seed=2))
    frame, summary = inverse_experiment(model, make_operator("deblurring", kernel_size=3, sigma=1.0), truths, sigma_y=0.05,
                                        samples=6, num_steps=8, eta=1.0, step_size=1.0, seed=0, num_bootstrap=50, **designs)
    assert len(frame) == 4 * 2 and set(frame["statistic"]) == {"l1", "psnr"}
    assert [row["statistic"] for row in summary] == ["l1", "psnr"]
    for row in summary:
        assert row["efficiency_ci_low"] <= row["efficiency"] <= row["efficiency_ci_high"]
        assert -1 <= row["rho_mean"] <= 1 and row["amc_seconds_per_sample"] > 0
    assert np.all(frame.loc[frame["statistic"] == "l1", "mc_estimate"] > 0)
    kwargs = dict(sigma_y=0.05, num_steps=2, eta=1.0, step_size=1.0, seed=0)
    with pytest.raises(ValueError, match="samples must be an even number >= 4"):
        inverse_experiment(model, make_operator("super_resolution", factor=2), truths, samples=5, **kwargs, **designs)
    with pytest.raises(ValueError, match="amc_design must couple samples in pairs"):
        inverse_experiment(model, make_operator("super_resolution", factor=2), truths, samples=4, **kwargs,
                           **{**designs, "amc_design": IIDNoise(seed=1)})
    with pytest.raises(ValueError, match="mc_design must draw independent samples"):
        inverse_experiment(model, make_operator("super_resolution", factor=2), truths, samples=4, **kwargs,
                           **{**designs, "mc_design": AntitheticNoise(seed=0)})


def _write_images(folder, sizes):
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    (folder / "notes.txt").write_text("not an image")


def test_image_folder_gives_model_shaped_truths(tmp_path):
    from antithetic.data import load_image_folder

    _write_images(tmp_path / "imgs", [(20, 12), (8, 8), (9, 30)])
    rgb = load_image_folder(tmp_path / "imgs", (3, 8, 8), 3)
    grey = load_image_folder(tmp_path / "imgs", (1, 4, 4), 2)
    assert rgb.shape == (3, 3, 8, 8) and grey.shape == (2, 1, 4, 4)
    assert rgb.min() >= -1 and rgb.max() <= 1 and rgb.std() > 0.1
    assert torch.equal(load_image_folder(tmp_path / "imgs", (3, 8, 8), 2), rgb[:2])  # first files by name
    with pytest.raises(ValueError, match="holds 3 images, fewer than count=4"):
        load_image_folder(tmp_path / "imgs", (3, 8, 8), 4)
    with pytest.raises(FileNotFoundError, match="missing. is no folder"):
        load_image_folder(tmp_path / "missing", (3, 8, 8), 1)


def test_dps_stage_on_a_saved_pipeline_and_an_image_folder(tmp_path, tiny_unet_dir):
    """The paper-scale path (a hub-format checkpoint, ground truths from a folder) end to end on a tiny UNet."""
    import json

    from antithetic.workflow.jobs.inverse import run_inverse

    _write_images(tmp_path / "imgs", [(16, 16)] * 3)
    rows = run_inverse(
        model="tiny", model_spec={"kind": "unet", "pretrained": str(tiny_unet_dir)}, task="super_resolution",
        task_params={"factor": 2}, split={}, images=tmp_path / "imgs", batch_size=4,
        settings={"sigma_y": 0.05, "measurements": 3, "samples": 4, "num_steps": 3, "eta": 1.0, "step_size": 1.0,
                  "seed": 0, "level": 0.95, "bootstrap": 20},
        out_csv=tmp_path / "m.csv", out_summary=tmp_path / "s.json", device="cpu",
    )
    assert {r["statistic"] for r in rows} == {"l1", "psnr"} and all(np.isfinite(r["efficiency"]) for r in rows)
    assert json.loads((tmp_path / "s.json").read_text())["truths"] == str(tmp_path / "imgs")
