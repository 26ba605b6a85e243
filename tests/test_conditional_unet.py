"""The class-conditional UNet under classifier-free guidance (model kind ``conditional_unet``) and its training.

Guidance (Ho & Salimans 2022): ``eps_w(x, t, c) = eps(x, t, null) + w (eps(x, t, c) - eps(x, t, null))`` with the
null class the last row of the UNet's class embedding. The models here are tiny random UNets (no trained weights
needed: the identities hold for any network) and five-step training runs.
"""

import numpy as np
import pytest
import torch
from diffusers import DDPMScheduler, UNet2DModel

import antithetic.generate as generate_module
from antithetic.data import load_dataset
from antithetic.generate import generate
from antithetic.models import ModelNotAvailableError, build_model, load_conditional_unet_model, load_unet_model
from antithetic.models.conditional import ClassLabels
from antithetic.models.pretrained import DEFAULT_GUIDANCE_SCALE, conditional_unet_model
from antithetic.models.tiny import tiny_conditional_ddpm_pipeline
from antithetic.noise import make_design
from antithetic.samplers import get_sampler
from antithetic.training import TrainConfig, config_dict, drop_class_labels, save_pipeline_atomically, train_ddpm

NUM_CLASSES = 10
NULL_CLASS = NUM_CLASSES  # the last of the num_classes + 1 class embeddings

#: losses of TrainConfig(steps=5, batch_size=16, block_out_channels=[8, 16], warmup_steps=2, seed=7), unconditional,
#: recorded on the code before class-conditional training existed (commit ad3713c): the unconditional path draws
#: the same random numbers and trains the same weights as it always did
UNCONDITIONAL_GOLDEN_LOSSES = [0.848657488822937, 0.9117840528488159, 0.8694719076156616, 0.7960615754127502, 0.7284334897994995]


@pytest.fixture(scope="module")
def tiny_cond_dir(tmp_path_factory):
    return tiny_conditional_ddpm_pipeline(tmp_path_factory.mktemp("models") / "tiny-cddpm", num_classes=NUM_CLASSES)


def _model(path, **spec):
    return build_model("cddpm", {"kind": "conditional_unet", "pretrained": str(path), **spec})


def _batch(seed=0, n=6):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 8, 8, generator=gen)
    t = torch.randint(0, 100, (n,), generator=gen)
    c = torch.randint(0, NUM_CLASSES, (n,), generator=gen)
    return x, t, c


# ------------------------------------------------------------------------------------ guidance
def test_scale_one_is_the_conditional_network_and_scale_zero_the_null_class(tiny_cond_dir):
    model = _model(tiny_cond_dir, guidance_scale=1.0)
    x, t, c = _batch()
    with torch.no_grad():
        conditional = model.module(x, t, class_labels=c).sample
        unconditional = model.module(x, t, class_labels=torch.full_like(c, NULL_CLASS)).sample
    assert (conditional - unconditional).abs().max() > 1e-3  # the class reaches the network
    torch.testing.assert_close(model.eps(x, t, c), conditional, rtol=0, atol=0)
    model.guidance_scale = 0.0  # read at every call
    torch.testing.assert_close(model.eps(x, t, c), unconditional, rtol=0, atol=0)


def test_batched_guided_forward_equals_two_separate_forwards(tiny_cond_dir):
    model = _model(tiny_cond_dir, guidance_scale=3.0)
    x, t, c = _batch(seed=1)
    with torch.no_grad():
        conditional = model.module(x, t, class_labels=c).sample
        unconditional = model.module(x, t, class_labels=torch.full_like(c, NULL_CLASS)).sample
    expected = unconditional + 3.0 * (conditional - unconditional)
    # batched and separate convolutions may round differently in the last bits; a swapped branch moves it by ~1
    torch.testing.assert_close(model.eps(x, t, c), expected, rtol=1e-4, atol=1e-5)


def test_default_scale_labels_and_provenance(tiny_cond_dir):
    model = _model(tiny_cond_dir)
    assert model.guidance_scale == DEFAULT_GUIDANCE_SCALE == 4.0
    assert model.info["kind"] == "conditional_unet" and model.info["null_class"] == NULL_CLASS
    assert model.info["num_classes"] == NUM_CLASSES and model.info["class_labels"] == "random"
    listed = _model(tiny_cond_dir, class_labels=[3, 7])
    assert listed.condition(range(8)).tolist() == [3, 3, 7, 7, 3, 3, 7, 7]
    with pytest.raises(ValueError, match="class-conditional: pass class labels"):
        model.eps(torch.zeros(1, 1, 8, 8), 5)


def test_a_unet_without_class_embedding_is_refused(tiny_cond_dir, tiny_unet_dir):
    plain = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16), norm_num_groups=8,
                        down_block_types=("DownBlock2D",) * 2, up_block_types=("UpBlock2D",) * 2, layers_per_block=1)
    with pytest.raises(ValueError, match=r"no class embedding \(num_class_embeds is None\)"):
        conditional_unet_model(plain, DDPMScheduler(), name="m", labels=ClassLabels(num_classes=NUM_CLASSES))
    with pytest.raises(ModelNotAvailableError, match=r"unconditional UNet2DModel .*\(kind unet"):
        load_conditional_unet_model(tiny_unet_dir, name="m")
    # and the other way round: an unconditional loader refuses a class-conditional UNet
    with pytest.raises(ModelNotAvailableError, match=r"class-conditional UNet2DModel .*\(kind conditional_unet"):
        load_unet_model(tiny_cond_dir, name="m")
    with pytest.raises(ValueError, match="labels cover 5 classes but the UNet has 10"):
        conditional_unet_model(load_conditional_unet_model(tiny_cond_dir, name="m").module, DDPMScheduler(), name="m",
                               labels=ClassLabels(num_classes=5))


# ------------------------------------------------------------------------------------ generation
def _spy_sampler(monkeypatch):
    """Record what generate hands the sampler: x_T, the step noises it draws and the class labels of each batch."""
    seen = []

    def spy(kind):
        sampler = get_sampler(kind)

        def run(model, x_T, *, step_noise=None, cond=None, **options):
            record = {"x_T": x_T.clone(), "step_noise": [], "cond": cond.clone()}
            seen.append(record)

            def recorded(step):  # the sampler draws each step's noise once, in order
                noise = step_noise(step)
                record["step_noise"].append(noise.clone())
                return noise

            return sampler(model, x_T, step_noise=None if step_noise is None else recorded, cond=cond, **options)

        return run

    monkeypatch.setattr(generate_module, "get_sampler", spy)
    return seen


def test_labels_are_seed_addressed_and_batch_size_invariant(tiny_cond_dir, monkeypatch):
    model = _model(tiny_cond_dir, label_seed=5)
    seen = _spy_sampler(monkeypatch)
    design = make_design("iid", seed=0)
    options = {"num_steps": 3, "eta": 0.0}
    small = generate(model, design=design, num_samples=10, sampler="ddim", sampler_options=options, batch_size=3, progress=False)
    small_labels = torch.cat([s["cond"] for s in seen])
    seen.clear()
    whole = generate(model, design=design, num_samples=10, sampler="ddim", sampler_options=options, batch_size=10, progress=False)
    # batched convolutions round differently in the last bits (amplified by guidance); a wrong label moves samples by ~1
    np.testing.assert_allclose(small.samples, whole.samples, rtol=0, atol=1e-4)
    expected = ClassLabels("random", num_classes=NUM_CLASSES, seed=5)(range(10))
    assert torch.equal(small_labels, expected) and torch.equal(seen[0]["cond"], expected)
    assert len(set(expected.tolist())) > 1 and torch.equal(expected[0::2], expected[1::2])  # slot j: samples 2j, 2j+1
    assert not torch.equal(expected, ClassLabels("random", num_classes=NUM_CLASSES, seed=6)(range(10)))
    # a later start continues the same addresses
    seen.clear()
    generate(model, design=design, num_samples=4, start=6, sampler="ddim", sampler_options=options, progress=False)
    assert torch.equal(seen[0]["cond"], expected[6:])


def test_the_antithetic_twin_gets_negated_noise_and_the_same_label(tiny_cond_dir, monkeypatch):
    model = _model(tiny_cond_dir, guidance_scale=3.0)
    seen = _spy_sampler(monkeypatch)
    out = generate(model, design=make_design("antithetic", seed=1), num_samples=8, sampler="ddpm",
                   sampler_options={"num_steps": 4}, batch_size=8, progress=False)
    (batch,) = seen
    assert torch.equal(batch["x_T"][1::2], -batch["x_T"][0::2])
    noises = torch.stack(batch["step_noise"])
    assert len(noises) == 4  # one injected noise per step
    assert torch.equal(noises[:, 1::2], -noises[:, 0::2]) and not torch.equal(noises[0], noises[1])
    assert torch.equal(batch["cond"][1::2], batch["cond"][0::2]) and len(set(batch["cond"].tolist())) > 1
    assert np.isfinite(out.samples).all() and (out.members == np.tile([0, 1], 4)).all()


# ------------------------------------------------------------------------------------ training
def test_label_dropout_replaces_labels_by_the_null_class_at_its_rate():
    labels = torch.arange(200_000) % NUM_CLASSES
    for p in (0.1, 0.5):
        dropped = drop_class_labels(labels, null_class=NULL_CLASS, probability=p, generator=torch.Generator().manual_seed(0))
        is_null = dropped == NULL_CLASS
        assert abs(is_null.float().mean().item() - p) < 0.005  # binomial SD about 0.001
        assert torch.equal(dropped[~is_null], labels[~is_null])  # the kept labels are untouched
        again = drop_class_labels(labels, null_class=NULL_CLASS, probability=p, generator=torch.Generator().manual_seed(0))
        assert torch.equal(dropped, again)
    none = drop_class_labels(labels, null_class=NULL_CLASS, probability=0.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(none, labels)


def _tiny_train(**overrides):
    settings = {"steps": 5, "batch_size": 16, "block_out_channels": [8, 16], "warmup_steps": 2, "seed": 7}
    return TrainConfig(**{**settings, **overrides})


def test_unconditional_training_is_unchanged_by_the_conditional_option():
    cfg = _tiny_train()
    _, losses = train_ddpm(cfg, progress=False)
    np.testing.assert_allclose(losses, UNCONDITIONAL_GOLDEN_LOSSES, rtol=1e-5)
    # its record reads as before: no class settings
    assert "num_classes" not in config_dict(cfg) and "label_dropout" not in config_dict(cfg)


def test_conditional_training_is_seeded_and_feeds_labels_with_dropout(monkeypatch):
    import antithetic.training as training

    fed = []
    build = training.build_unet

    def build_spying(cfg, **kwargs):
        unet = build(cfg, **kwargs)
        unet.register_forward_pre_hook(lambda module, args, kwargs: fed.append(kwargs["class_labels"].clone()), with_kwargs=True)
        return unet

    monkeypatch.setattr(training, "build_unet", build_spying)
    cfg = TrainConfig(steps=10, batch_size=64, block_out_channels=[8, 16], warmup_steps=2, seed=3, num_classes=NUM_CLASSES,
                      label_dropout=0.25)
    pipe, losses = train_ddpm(cfg, progress=False)
    labels = torch.cat(fed)
    assert len(labels) == 10 * 64 and int(labels.min()) >= 0 and int(labels.max()) == NULL_CLASS
    null_share = (labels == NULL_CLASS).float().mean().item()
    assert abs(null_share - 0.25) < 0.06  # 640 draws: binomial SD 0.017
    # each step's labels are those of its minibatch's images, dropped by the mask drawn after the step's noise
    images, data_labels = load_dataset("digits")
    gen = torch.Generator().manual_seed(cfg.seed)
    for step_labels in fed:
        rows = torch.randint(0, len(images), (64,), generator=gen)
        torch.randint(0, cfg.num_train_timesteps, (64,), generator=gen)
        torch.randn((64, *images.shape[1:]), generator=gen)
        expected = drop_class_labels(data_labels[rows], null_class=NULL_CLASS, probability=0.25, generator=gen)
        assert torch.equal(step_labels, expected)
    assert pipe.unet.config.num_class_embeds == NUM_CLASSES + 1
    assert config_dict(cfg)["num_classes"] == NUM_CLASSES and config_dict(cfg)["label_dropout"] == 0.25
    # seeded: the same config trains the same weights, step for step
    fed.clear()
    pipe2, losses2 = train_ddpm(cfg, progress=False)
    assert losses == losses2
    for a, b in zip(pipe.unet.parameters(), pipe2.unet.parameters()):
        assert torch.equal(a, b)


def test_conditional_training_saves_a_model_the_conditional_loader_reads(tmp_path):
    pipe, _ = train_ddpm(_tiny_train(steps=3, num_classes=NUM_CLASSES), progress=False)
    save_pipeline_atomically(pipe, tmp_path / "cddpm")
    model = load_conditional_unet_model(tmp_path / "cddpm", name="cddpm", class_labels=[4], guidance_scale=4.0)
    assert model.sample_shape == (1, 8, 8) and model.labels.num_classes == NUM_CLASSES
    x, t, _ = _batch()
    assert torch.isfinite(model.eps(x, t, model.condition(range(6)))).all()


@pytest.mark.parametrize(("setting", "match"), [
    ({"label_dropout": 1.0}, r"label_dropout must lie in \[0, 1\), got 1.0"),
    ({"label_dropout": -0.1}, r"label_dropout must lie in \[0, 1\)"),
    ({"num_classes": 0}, "num_classes must be a positive number of classes"),
])
def test_bad_class_settings_are_named(setting, match):
    with pytest.raises(ValueError, match=match):
        _tiny_train(**setting)


def test_too_few_classes_for_the_data_set_is_named():
    with pytest.raises(ValueError, match="num_classes=5 does not cover the labels of dataset 'digits' .*set num_classes to 10"):
        train_ddpm(_tiny_train(num_classes=5), progress=False)


def test_the_estimate_command_samples_a_class_conditional_pipeline(tiny_cond_dir, tmp_path, monkeypatch, capsys):
    from antithetic import cli

    loaded = []
    monkeypatch.setattr(cli, "load_model", lambda args, parser, load=cli.load_model: loaded.append(load(args, parser)) or loaded[-1])
    out_file = tmp_path / "estimate.json"
    argv = ["estimate", "--model", str(tiny_cond_dir), "--steps", "2", "--num-samples", "4", "--guidance-scale", "3",
            "--class-label", "7", "--output", str(out_file), "--no-progress"]
    assert cli.main(argv) == 0
    (model,) = loaded
    assert model.info["kind"] == "conditional_unet" and model.guidance_scale == 3.0 and model.condition(range(4)).tolist() == [7] * 4
    assert out_file.is_file()
