"""Non-diffusion generators (VAE, RealNVP flow) and the one-shot sampler `decode`; the DDIM eta sweep."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from antithetic.correlation import pair_correlations, pn_pairs
from antithetic.generate import generate
from antithetic.generator_training import FlowTrainConfig, VAETrainConfig, train_config, train_generator
from antithetic.models import GeneratorModel, build_model, gaussian_model, load_generator
from antithetic.models.flow import DigitsFlow, channel_mask, checkerboard_mask
from antithetic.models.vae import DigitsVAE
from antithetic.noise import AntitheticNoise
from antithetic.samplers import get_sampler, sample_ddim
from antithetic.workflow.config import ConfigError, check_references
from antithetic.workflow.jobs.eta_sweep import eta_sweep_frame, run_eta_sweep, run_eta_sweep_figure
from antithetic.workflow.jobs.generators import run_generator_training
from antithetic.workflow.jobs.sampling import load_model

TINY_VAE = dict(steps=15, batch_size=16, latent_dim=3, hidden_dims=[16])
TINY_FLOW = dict(steps=15, batch_size=16, hidden_features=16, coupling_layers=2)


def _linear_generator(bias=None, seed=0):
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(64, 5, generator=gen)
    b = torch.zeros(64) if bias is None else bias

    def decode(z):
        return (z @ a.T + b).view(len(z), 1, 8, 8)

    return GeneratorModel(decode=decode, sample_shape=(5,), image_shape=(1, 8, 8), name="linear", info={"kind": "test"})


# ------------------------------------------------------------------ the decode path
def test_linear_odd_generator_gives_pn_correlation_minus_one():
    # G(-z) = -G(z) for a linear G, so each PN pair is exactly (x, -x): correlation -1 (paper, Definitions)
    samples = generate(_linear_generator(), design=AntitheticNoise(seed=0), num_samples=40, sampler="decode", progress=False)
    assert samples.samples.shape == (40, 1, 8, 8)
    pairs = pn_pairs(samples)
    np.testing.assert_allclose(pair_correlations(pairs[:, 0], pairs[:, 1]), -1.0, atol=1e-6)


def test_affine_generator_is_antithetic_around_its_offset():
    # G(z) = A z + b: the pair is (b + v, b - v); around b the correlation is exactly -1
    bias = torch.linspace(-1, 1, 64)
    samples = generate(_linear_generator(bias), design=AntitheticNoise(seed=1), num_samples=20, sampler="decode", progress=False)
    pairs = pn_pairs(samples) - bias.view(1, 1, 8, 8).numpy()
    np.testing.assert_allclose(pair_correlations(pairs[:, 0], pairs[:, 1]), -1.0, atol=1e-5)


def test_decode_receives_exactly_the_negated_latent():
    seen = []
    model = _linear_generator()
    inner = model._decode
    model._decode = lambda z: (seen.append(z.clone()), inner(z))[1]
    generate(model, design=AntitheticNoise(seed=2), num_samples=8, sampler="decode", batch_size=8, progress=False)
    z = seen[0]
    assert torch.equal(z[1::2], -z[0::2])


def test_decode_and_diffusion_samplers_refuse_each_other():
    with pytest.raises(TypeError, match="one-shot generator"):
        get_sampler("decode")(gaussian_model(sample_shape=(1, 8, 8)), torch.zeros(2, 1, 8, 8))
    with pytest.raises(TypeError, match="kind 'decode'"):
        sample_ddim(_linear_generator(), torch.zeros(2, 5), num_steps=3)
    with pytest.raises(ValueError, match="exactly one step"):
        get_sampler("decode")(_linear_generator(), torch.zeros(2, 5), num_steps=5)


def test_config_rejects_generator_with_diffusion_sampler():
    config = {
        "models": {"v": {"kind": "vae", "train": {}}, "a": {"kind": "affine_odd"}},
        "samplers": {"ddim": {"kind": "ddim"}, "decode": {"kind": "decode"}},
        "designs": {"iid-disjoint": {"kind": "iid", "offset": 1024}, "antithetic": {"kind": "antithetic"}},
        "correlation": {"runs": {"v": ["ddim"]}},
    }
    with pytest.raises(ConfigError, match="needs a sampler of kind 'decode'"):
        check_references(config)
    config["correlation"]["runs"] = {"a": ["decode"]}
    with pytest.raises(ConfigError, match="model needs a sampler of kind .ddim. or .ddpm."):
        check_references(config)
    config["correlation"]["runs"] = {"v": ["decode"], "a": ["ddim"]}
    check_references(config)


# ------------------------------------------------------------------ training, saving, loading
@pytest.mark.parametrize("kind,options", [("vae", TINY_VAE), ("flow", TINY_FLOW)])
def test_training_is_deterministic_from_the_seed(kind, options):
    first, history = train_generator(kind, train_config(kind, options), progress=False)
    second, _ = train_generator(kind, train_config(kind, options), progress=False)
    other, _ = train_generator(kind, train_config(kind, {**options, "seed": 1}), progress=False)
    a, b, c = first.state_dict(), second.state_dict(), other.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert len(history["loss"]) == options["steps"] and np.isfinite(history["loss"]).all()


def test_train_config_names_a_wrong_key():
    with pytest.raises(ValueError, match=r"block: keys \['block_out_channels'\] do not apply to a 'vae'"):
        train_config("vae", {"block_out_channels": [8]})
    with pytest.raises(ConfigError, match=r"config key 'models.x.train': block: keys \['block_out_channels'\]"):
        run_generator_training("x", {"kind": "vae", "train": {"block_out_channels": [8]}}, out_dir="unused")
    assert isinstance(train_config("flow", {}), FlowTrainConfig) and isinstance(train_config("vae", {}), VAETrainConfig)


@pytest.mark.parametrize("kind,options", [("vae", TINY_VAE), ("flow", TINY_FLOW)])
def test_saved_generator_loads_through_build_model(tmp_path, kind, options):
    module, _ = train_generator(kind, train_config(kind, options), progress=False)
    module.save_pretrained(tmp_path / kind)
    model = build_model("g", {"kind": kind, "train": {}}, weights_dir=tmp_path / kind)
    assert model.weights_sha256() and model.info["kind"] == kind
    z = torch.randn(6, *model.sample_shape, generator=torch.Generator().manual_seed(0))
    x = model.decode(z)
    assert x.shape == (6, 1, 8, 8) and x.min() >= -1 and x.max() <= 1
    torch.testing.assert_close(x, module.generate(z), rtol=0, atol=0)


def test_missing_generator_folder_names_the_fix(tmp_path):
    from antithetic.models import ModelNotAvailableError

    with pytest.raises(ModelNotAvailableError, match="has no config.json; train the model first"):
        load_generator("flow", tmp_path / "nothing", name="f")
    with pytest.raises(ModelNotAvailableError, match="config key 'models.f': .*has no config.json") as info:
        load_model("f", {"kind": "flow", "pretrained": str(tmp_path / "nothing")}, device="cpu")
    assert any("train_model" in note for note in info.value.__notes__)


def test_vae_generator_is_the_decoder_mean():
    torch.manual_seed(0)
    vae = DigitsVAE(latent_dim=4, hidden_dims=(8,))
    z = torch.randn(3, 4)
    torch.testing.assert_close(vae.generate(z), torch.tanh(vae.decoder(z)).view(3, 1, 8, 8))


# ------------------------------------------------------------------ the flow is invertible
def _random_flow(shape=(1, 4, 4)):
    torch.manual_seed(0)
    flow = DigitsFlow(sample_shape=shape, hidden_features=8, coupling_layers=2).double()
    with torch.no_grad():
        for p in flow.parameters():  # leave the identity start: random weights everywhere
            p.normal_(0, 0.3)
    return flow


def test_masks_partition_the_pixels():
    for parity in (0, 1):
        assert checkerboard_mask((1, 4, 4), parity).sum() == 8
    assert torch.equal(checkerboard_mask((1, 4, 4), 0) + checkerboard_mask((1, 4, 4), 1), torch.ones(1, 1, 4, 4))
    assert torch.equal(channel_mask((4, 2, 2), 0) + channel_mask((4, 2, 2), 1), torch.ones(1, 4, 2, 2))
    assert torch.equal(channel_mask((4, 2, 2), 2) + channel_mask((4, 2, 2), 3), torch.ones(1, 4, 2, 2))


def test_flow_inverse_and_log_det_match_autograd():
    flow = _random_flow()
    y = torch.randn(3, 1, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    z, logdet = flow(y)
    torch.testing.assert_close(flow.inverse(z), y, rtol=1e-9, atol=1e-9)
    for i in range(len(y)):
        jac = torch.autograd.functional.jacobian(lambda v: flow(v.view(1, 1, 4, 4))[0].flatten(), y[i].flatten())
        sign, logabsdet = torch.linalg.slogdet(jac)
        assert sign != 0
        torch.testing.assert_close(logdet[i], logabsdet, rtol=1e-8, atol=1e-8)


def test_flow_pre_and_postprocessing_round_trip_levels():
    flow = DigitsFlow(levels=17)
    x = (torch.arange(64) % 17).float().view(1, 1, 8, 8) / 16 * 2 - 1  # every level 0..16 appears
    y, logdet = flow.preprocess(x, torch.full_like(x, 0.5))  # the centre of each level's bin
    torch.testing.assert_close(flow.postprocess(y), x, rtol=0, atol=1e-5)
    assert torch.isfinite(logdet).all()


# ------------------------------------------------------------------ the eta sweep
def _summary(model, sampler, eta, pn):
    row = {"model": model, "data": "", "sampler": sampler, "kind": "ddim", "num_steps": 5, "eta": eta, "pn_pairs": 4, "rr_pairs": 4}
    for kind, mean in (("pn", pn), ("rr", 0.1)):
        for variant in ("standard", "centered"):
            row[f"{kind}_{variant}_mean"], row[f"{kind}_{variant}_sd"] = mean, 0.05
    return row


def test_eta_sweep_collects_summaries_and_plots(tmp_path):
    rows = [_summary("m", "ddim-eta1", 1.0, -0.5), _summary("m", "ddim", 0.0, -0.9), _summary("n", "ddim", 0.0, -1.0)]
    paths = []
    for i, row in enumerate(rows):
        paths.append(tmp_path / f"s{i}.json")
        paths[-1].write_text(json.dumps(row))
    frame = run_eta_sweep(summaries=paths, out_csv=tmp_path / "sweep.csv")
    assert list(zip(frame["model"], frame["eta"])) == [("m", 0.0), ("m", 1.0), ("n", 0.0)]
    assert pd.read_csv(tmp_path / "sweep.csv")["pn_standard_mean"].tolist() == [-0.9, -0.5, -1.0]
    run_eta_sweep_figure(csv=tmp_path / "sweep.csv", out_figure=tmp_path / "sweep.png")  # the figure from the CSV alone
    assert (tmp_path / "sweep.png").stat().st_size > 0
    with pytest.raises(ValueError, match="same eta"):
        eta_sweep_frame([rows[1], {**rows[1], "sampler": "other"}])
    with pytest.raises(ValueError, match="ddim samplers only"):
        eta_sweep_frame([{**rows[0], "kind": "ddpm"}])
