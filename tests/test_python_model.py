"""`kind: python`: the user's own model from `factory: package.module:function`, by config alone."""

import copy
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from antithetic.correlation import pair_correlations, pn_pairs
from antithetic.generate import generate
from antithetic.models import VPSDEModel, build_model, gaussian_mixture_model
from antithetic.models.registry import _gaussian_mixture
from antithetic.noise import AntitheticNoise
from antithetic.workflow.config import ConfigError, check_references
from antithetic.workflow.jobs.sampling import load_model

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

USER_PACKAGE = '''
"""A user's package: an EDM denoiser of Gaussian data N(mu, s^2 I) and some broken factories."""
import torch
from antithetic.models import DiffusionModel, EDMModel


class GaussianDenoiser(torch.nn.Module):
    def __init__(self, mu, s):
        super().__init__()
        self.register_buffer("mu", torch.tensor(float(mu)))
        self.s = s

    def forward(self, x, sigma, cond=None):
        sigma = sigma.view(-1, 1, 1, 1)
        return self.mu + self.s**2 / (self.s**2 + sigma**2) * (x - self.mu)


def build(*, mu=0.0, s=0.5, size=4):
    net = GaussianDenoiser(mu, s)
    return EDMModel(denoiser=net, sigma_min=0.002, sigma_max=80.0, sigma_data=s, sample_shape=(1, size, size),
                    name="user-edm", module=net)


def discrete(*, size=4):
    from antithetic.models import default_schedule
    return DiffusionModel(eps=lambda x, t, cond: 0.1 * x, scheduler=default_schedule(), sample_shape=(1, size, size),
                          name="user-ddpm")


def not_a_model():
    return torch.nn.Linear(2, 2)


def wrong_shape():
    return EDMModel(denoiser=lambda x, sigma, cond: x[:, :, :2], sample_shape=(1, 4, 4), name="bad")


NOT_CALLABLE = 3
'''


@pytest.fixture()
def user_package(tmp_path, monkeypatch):
    pkg = tmp_path / "userpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text(textwrap.dedent(USER_PACKAGE))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "userpkg.nets"


def test_user_package_loads_and_samples_through_build_model(user_package):
    spec = {"kind": "python", "factory": f"{user_package}:build", "options": {"mu": 0.2, "size": 4}}
    model = load_model("mine", spec, device="cpu")
    assert model.name == "mine" and model.parametrization == "edm_denoiser"
    assert model.info["factory"] == f"{user_package}:build" and model.weights_sha256() is not None
    for sampler, options in (("edm_heun", {"num_steps": 10}), ("edm_stochastic", {"num_steps": 10}), ("ddim", {"num_steps": 20})):
        samples = generate(model, design=AntitheticNoise(seed=0), num_samples=16, sampler=sampler,
                           sampler_options=options, progress=False)
        pairs = pn_pairs(samples)
        # Gaussian data: an affine denoiser, so the PN correlation is exactly -1
        np.testing.assert_allclose(pair_correlations(pairs[:, 0], pairs[:, 1]), -1.0, atol=1e-5)
    # probes take eps in DDPM scaling at grid steps: E[eps(x_t)] over x_t of the model's own law is ~0
    abar = float(model.scheduler.alphas_cumprod[500])
    x0 = 0.2 + 0.5 * torch.randn(4000, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
    pred = model.eps(abar**0.5 * x0 + (1 - abar) ** 0.5 * eps, 500)
    assert float(((pred - eps) ** 2).mean()) < float((eps**2).mean())  # the prediction explains the noise


@pytest.mark.parametrize(
    "spec,fragment",
    [
        ({"factory": "no_such_package_xyz.nets:build"}, r"'factory'.*cannot be resolved.*PYTHONPATH"),
        ({"factory": "{pkg}:no_such_function"}, r"'factory'.*cannot be resolved"),
        ({"factory": "{pkg}"}, r"'factory'.*'package.module:function'"),
        ({"factory": "{pkg}:NOT_CALLABLE"}, r"names a int, not a callable"),
        ({"factory": "{pkg}:build", "options": {"colour": 1}}, r"rejected the keyword arguments of 'options'"),
        ({"factory": "{pkg}:not_a_model"}, r"returned a torch.nn.modules.linear.Linear.*must return an antithetic.models"),
        ({"factory": "{pkg}:wrong_shape"}, r"'factory'.*probe batch of shape \(2, 1, 4, 4\).*returned"),
        ({"factory": "{pkg}:build", "options": {"size": 3}, "parametrization": "vp_sde_score"},
         r"'parametrization' is 'vp_sde_score'.*'edm_denoiser'"),
    ],
)
def test_python_kind_errors_name_the_setting_and_the_fix(user_package, spec, fragment):
    spec = {"kind": "python", **{k: v.format(pkg=user_package) if isinstance(v, str) else v for k, v in spec.items()}}
    with pytest.raises(ValueError, match=fragment):
        build_model("mine", spec)
    # the workflow's job names the config key in front
    with pytest.raises(ConfigError, match="config key 'models.mine': .*" + fragment):
        load_model("mine", spec, device="cpu")


def test_a_discrete_user_model_is_refused_by_sigma_samplers_at_sampling(user_package):
    model = build_model("mine", {"kind": "python", "factory": f"{user_package}:discrete"})
    with pytest.raises(ValueError, match="model 'mine' has parametrization 'ddpm_eps'.*use a sampler of kind"):
        generate(model, design=AntitheticNoise(seed=0), num_samples=2, sampler="edm_heun", progress=False)


def test_config_checker_knows_which_parametrizations_fit_which_samplers():
    config = {
        "models": {"mine": {"kind": "python", "factory": "pkg.mod:build"}, "gmm": {"kind": "gaussian_mixture"}},
        "samplers": {"ddim": {"kind": "ddim"}, "heun": {"kind": "edm_heun"}, "churn": {"kind": "edm_stochastic"}},
        "designs": {"iid-disjoint": {"kind": "iid", "offset": 1024}, "antithetic": {"kind": "antithetic"}},
        "correlation": {"runs": {"mine": ["ddim", "heun", "churn"]}},
    }
    check_references(config)  # undeclared: checked when the model is loaded
    declared = copy.deepcopy(config)
    declared["models"]["mine"]["parametrization"] = "ddpm_eps"
    with pytest.raises(ConfigError, match="'correlation.runs.mine'.*parametrization 'ddpm_eps'.*'ddim' or 'ddpm'"):
        check_references(declared)
    declared["models"]["mine"]["parametrization"] = "vp_sde_score"
    check_references(declared)
    other = copy.deepcopy(config)
    other["correlation"]["runs"] = {"gmm": ["heun"]}
    with pytest.raises(ConfigError, match="'correlation.runs.gmm'.*kind 'gaussian_mixture'"):
        check_references(other)
    other["models"]["gmm"]["parametrization"] = "edm_denoiser"
    with pytest.raises(ConfigError, match="'models.gmm.parametrization' applies to kind 'python' only"):
        check_references(other)


def test_example_factory_is_the_digits_mixture_in_vp_sde_form(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    spec = {"kind": "python", "factory": "vpsde_mixture:build", "options": {"std": 0.3}, "parametrization": "vp_sde_score"}
    model = load_model("vpsde-digits-mixture", spec, device="cpu")
    assert isinstance(model, VPSDEModel) and model.parametrization == "vp_sde_score"
    # its eps at every grid step is the library's exact digits-mixture eps on the same alpha-bar table
    exact = _gaussian_mixture("digits-gmm", {"means": "digits", "std": 0.3}, None)
    reference = gaussian_mixture_model(means=exact.mixture.means.float(), std=0.3, scheduler=model.scheduler)
    x = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    for t in (0, 300, 999):
        torch.testing.assert_close(model.eps(x, t), reference.eps(x, t), rtol=1e-4, atol=1e-4)
    for sampler, options in (("ddim", {"num_steps": 20}), ("edm_heun", {"num_steps": 18}),
                             ("edm_stochastic", {"num_steps": 18}), ("ddpm", {"num_steps": 50})):
        samples = generate(model, design=AntitheticNoise(seed=0), num_samples=8, sampler=sampler,
                           sampler_options=options, progress=False)
        assert samples.samples.shape == (8, 1, 8, 8) and np.isfinite(samples.samples).all()
        # samples land near the digit class means (components have s = 0.3 around them)
        dist = ((samples.samples[:, None] - exact.mixture.means.numpy()[None]) ** 2).mean(axis=(2, 3, 4)).min(1)
        assert float(dist.max()) < 0.3**2 * 2.5, sampler


# the models:/samplers: entries of docs/own-model.md, as the schema and the checker see them
README_MODELS = {
    "vpsde-digits-mixture": {
        "kind": "python", "factory": "vpsde_mixture:build", "options": {"std": 0.3, "beta_min": 0.1, "beta_max": 20.0},
        "parametrization": "vp_sde_score", "data": "GMM on digit class means (VP-SDE)",
    }
}
README_SAMPLERS = {"edm-heun": {"kind": "edm_heun", "num_steps": 18}, "edm-churn": {"kind": "edm_stochastic", "num_steps": 18}}


def test_schema_takes_python_models_and_edm_samplers_and_fills_their_defaults():
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate
    from test_config import SCHEMA, default_config

    config = default_config()
    config["models"].update(copy.deepcopy(README_MODELS))
    config["samplers"].update(copy.deepcopy(README_SAMPLERS))
    config["correlation"]["runs"]["vpsde-digits-mixture"] = ["ddim", "ddpm-100", "edm-heun", "edm-churn"]
    validate(config, SCHEMA)
    check_references(config)
    assert config["samplers"]["edm-heun"] == {"kind": "edm_heun", "num_steps": 18, "rho": 7}
    assert config["samplers"]["edm-churn"] == {"kind": "edm_stochastic", "num_steps": 18, "rho": 7, "S_churn": 40,
                                               "S_min": 0.05, "S_max": 50, "S_noise": 1.003}
    assert config["samplers"]["ddim"] == {"kind": "ddim", "num_steps": 50, "eta": 0.0}  # no EDM keys leak in
    for section, name, entry, fragment in [
        ("models", "x", {"kind": "python"}, "'factory' is a required property"),
        ("models", "x", {"kind": "python", "factory": "no-colon"}, "does not match"),
        ("models", "x", {"kind": "affine_odd", "mean": 0, "std": 1, "factory": "a:b"}, "should not be valid"),
        ("samplers", "x", {"kind": "ddim", "rho": 7}, "'rho' is not one of"),
        ("samplers", "x", {"kind": "edm_heun", "S_churn": 1}, "'S_churn' is not one of"),
        ("samplers", "x", {"kind": "edm_stochastic", "num_steps": 1}, "less than the minimum of 2"),
    ]:
        bad = copy.deepcopy(config)
        bad[section][name] = entry
        with pytest.raises(WorkflowError, match=fragment):
            validate(bad, SCHEMA)
