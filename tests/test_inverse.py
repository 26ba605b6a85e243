"""DPS on linear inverse problems: operators, gradient, exact identities, closed-form Gaussian posterior, antithetic twin."""

import numpy as np
import pytest
import torch

from antithetic import inverse
from antithetic.inverse import (
    dps_gradient,
    inverse_experiment,
    make_operator,
    measure,
    sample_dps,
    solve_measurements,
)
from antithetic.models.analytic import gaussian_model
from antithetic.noise import AntitheticNoise, IIDNoise
from antithetic.samplers import sample_ddpm
from antithetic.workflow.config import ConfigError

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


def test_unknown_task_and_even_blur_kernel_name_the_key():
    with pytest.raises(ConfigError, match="inverse.tasks"):
        make_operator("colorization")
    with pytest.raises(ConfigError, match="kernel_size"):
        make_operator("deblurring", kernel_size=4, sigma=1.0)


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
        inverse_experiment(gaussian_model(mean=0.0, std=0.5), op, truths, sigma_y=sigma_y, samples=4, num_steps=2, eta=1.0,
                           step_size=1.0, seed=0)
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


def test_without_the_measurement_step_dps_is_the_plain_sampler():
    model = gaussian_model(mean=0.2, std=0.5)
    design = IIDNoise(seed=3)
    x_T = design.initial_noise(range(4), SHAPE)
    y = torch.zeros(4, *SHAPE)
    op = make_operator("inpainting", box=[0, 0, 8, 8])
    dps = sample_dps(model, x_T, y=y, operator=op, num_steps=10, eta=1.0, step_size=0.0, step_noise=design.step_noise(range(4), SHAPE))
    plain = sample_ddpm(model, x_T, num_steps=10, step_noise=design.step_noise(range(4), SHAPE))
    assert torch.allclose(dps, plain, atol=1e-6)


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

    def recorder(model, x_T, *, step_noise, num_steps, **kwargs):
        received["x_T"] = x_T.clone()
        received["steps"] = [step_noise(i).clone() for i in range(num_steps)]
        return x_T

    monkeypatch.setattr(inverse, "sample_dps", recorder)
    model = gaussian_model(mean=0.0, std=0.5)
    ys = torch.zeros(3, *SHAPE)
    x, _ = solve_measurements(model, make_operator("inpainting", box=[2, 2, 4, 4]), ys, design=AntitheticNoise(seed=5),
                              samples=4, num_steps=6, eta=1.0, step_size=1.0)
    assert x.shape == (3, 4, *SHAPE)
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
    frame, summary = inverse_experiment(model, make_operator("deblurring", kernel_size=3, sigma=1.0), truths, sigma_y=0.05,
                                        samples=6, num_steps=8, eta=1.0, step_size=1.0, seed=0, num_bootstrap=50)
    assert len(frame) == 4 * 2 and set(frame["statistic"]) == {"l1", "psnr"}
    assert [row["statistic"] for row in summary] == ["l1", "psnr"]
    for row in summary:
        assert row["efficiency_ci_low"] <= row["efficiency"] <= row["efficiency_ci_high"]
        assert -1 <= row["rho_mean"] <= 1 and row["amc_seconds_per_sample"] > 0
    assert np.all(frame.loc[frame["statistic"] == "l1", "mc_estimate"] > 0)
    with pytest.raises(ConfigError, match="inverse.samples"):
        inverse_experiment(model, make_operator("super_resolution", factor=2), truths, sigma_y=0.05, samples=5,
                           num_steps=2, eta=1.0, step_size=1.0, seed=0)


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
    with pytest.raises(ValueError, match="holds 3 images, 4 are needed"):
        load_image_folder(tmp_path / "imgs", (3, 8, 8), 4)
    with pytest.raises(FileNotFoundError, match="inverse.images"):
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
