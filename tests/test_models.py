import time

import pytest
import torch

from antithetic.models import (
    ModelNotAvailableError,
    build_model,
    default_schedule,
    gaussian_mixture_model,
    gaussian_model,
    load_unet_model,
)
from antithetic.workflow.config import ConfigError
from antithetic.workflow.jobs.sampling import load_model


def _abar(model, t):
    return model.scheduler.alphas_cumprod.double()[t].view(-1, 1, 1, 1)


def test_gaussian_model_is_exactly_affine_antisymmetric():
    model = gaussian_model(mean=0.3, std=0.5, sample_shape=(1, 4, 4))
    x = torch.randn(16, 1, 4, 4)
    for t in (0, 10, 500, 999):
        s = model.eps(x, t) + model.eps(-x, t)
        c = model.eps(torch.zeros_like(x), t)
        torch.testing.assert_close(s, 2 * c, rtol=0, atol=1e-6)  # float32 model, float32 rounding


def test_gaussian_model_equals_one_component_mixture():
    # two independent closed forms of the same exact noise predictor must agree
    mean = torch.full((1, 1, 4, 4), 0.3)
    affine = gaussian_model(mean=0.3, std=0.5, sample_shape=(1, 4, 4))
    mixture = gaussian_mixture_model(means=mean, std=0.5)
    x = torch.randn(8, 1, 4, 4)
    for t in (5, 300, 900):
        torch.testing.assert_close(affine.eps(x, t), mixture.eps(x, t), rtol=1e-5, atol=1e-6)


def test_mixture_score_is_the_gradient_of_its_log_density():
    gen = torch.Generator().manual_seed(0)
    means = torch.randn(3, 1, 2, 2, generator=gen)
    model = gaussian_mixture_model(means=means, std=0.4, weights=torch.tensor([0.2, 0.5, 0.3]))
    x = torch.randn(5, 1, 2, 2, generator=gen, dtype=torch.float64).requires_grad_(True)
    t = torch.tensor([0, 100, 400, 700, 999])
    abar = _abar(model, t)
    log_p = model.mixture.log_density(x, abar).sum()
    (grad,) = torch.autograd.grad(log_p, x)
    torch.testing.assert_close(model.mixture.score(x.detach(), abar), grad, rtol=1e-8, atol=1e-10)
    # and the noise predictor is -sqrt(1 - abar) times the score
    expected = (-torch.sqrt(1 - abar) * grad).float()
    torch.testing.assert_close(model.eps(x.detach().float(), t), expected, rtol=1e-5, atol=1e-6)


def test_analytic_schedule_does_not_clip():
    assert default_schedule().config.clip_sample is False


def test_eps_checks_sample_shape():
    with pytest.raises(ValueError, match="expects samples of shape"):
        gaussian_model(sample_shape=(1, 4, 4)).eps(torch.zeros(2, 1, 8, 8), 10)


def test_local_pipeline_loads_through_the_hub_code_path(tiny_unet_dir):
    model = build_model("tiny", {"kind": "unet", "pretrained": str(tiny_unet_dir)})
    assert model.sample_shape == (1, 8, 8)
    eps = model.eps(torch.randn(3, 1, 8, 8), 50)
    assert eps.shape == (3, 1, 8, 8) and torch.isfinite(eps).all()
    # the weights hash is a property of the weights, not of the file: reloading gives the same
    assert model.weights_sha256() == load_unet_model(tiny_unet_dir, name="again").weights_sha256()


def test_missing_local_directory_names_the_key_and_fix(tmp_path):
    spec = {"kind": "unet", "pretrained": str(tmp_path / "nope")}
    with pytest.raises(ModelNotAvailableError, match=r"source=.*nope.*does not exist"):
        build_model("m", spec)
    with pytest.raises(ModelNotAvailableError, match=r"config key 'models.m': .*does not exist"):
        load_model("m", spec, device="cpu")


def test_hub_id_offline_fails_fast_with_instructions():
    began = time.perf_counter()
    with pytest.raises(ModelNotAvailableError) as info:
        build_model("cifar10", {"kind": "unet", "pretrained": "google/ddpm-cifar10-32"})
    assert time.perf_counter() - began < 30
    message = str(info.value)
    assert "google/ddpm-cifar10-32" in message
    assert "local directory" in message


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown model kind 'gan'; known model kinds"):
        build_model("x", {"kind": "gan"})
    with pytest.raises(ConfigError, match="config key 'models.x': unknown model kind 'gan'"):
        load_model("x", {"kind": "gan"}, device="cpu")
