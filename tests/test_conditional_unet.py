"""Class-conditional DDPM training with label dropout (Ho & Salimans 2022), on five- to ten-step runs."""

import numpy as np
import pytest
import torch

from antithetic.data import load_dataset
from antithetic.training import TrainConfig, config_dict, drop_class_labels, train_ddpm

NUM_CLASSES = 10
NULL_CLASS = NUM_CLASSES  # the last of the num_classes + 1 class embeddings

#: losses of TrainConfig(steps=5, batch_size=16, block_out_channels=[8, 16], warmup_steps=2, seed=7), unconditional,
#: recorded on the code before class-conditional training existed (commit ad3713c): the unconditional path draws
#: the same random numbers and trains the same weights as it always did
UNCONDITIONAL_GOLDEN_LOSSES = [0.848657488822937, 0.9117840528488159, 0.8694719076156616, 0.7960615754127502, 0.7284334897994995]


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
