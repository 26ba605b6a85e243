"""The digits classifier: fixed split, held-out accuracy, determinism, save/load round trip."""

import json

import pytest
import torch

from antithetic.classifier import (
    ClassifierTrainConfig,
    DigitsClassifier,
    FeatureExtractor,
    accuracy,
    digits_split,
    load_classifier,
    train_classifier,
)
from antithetic.workflow.config import ConfigError
from antithetic.workflow.jobs.classifier import run_classifier_training


@pytest.fixture(scope="module")
def trained():
    return train_classifier(ClassifierTrainConfig())  # the config.yaml defaults


def test_split_is_fixed_disjoint_stratified_and_in_data_range():
    a, b = digits_split(split_seed=0), digits_split(split_seed=0)
    assert torch.equal(a["test_index"], b["test_index"])
    assert not set(a["train_index"].tolist()) & set(a["test_index"].tolist())
    assert len(a["train_index"]) + len(a["test_index"]) == 1797
    counts = torch.bincount(a["test_labels"], minlength=10).float() / len(a["test_labels"])
    assert counts.min() > 0.09 and counts.max() < 0.11  # each class about 1/10 of the held-out part
    assert a["test_images"].shape[1:] == (1, 8, 8)
    assert a["test_images"].min() >= -1 and a["test_images"].max() <= 1
    assert not torch.equal(digits_split(split_seed=1)["test_index"], a["test_index"])


def test_default_settings_reach_95_percent_on_held_out_digits(trained):
    model, record = trained
    split = digits_split()
    assert record["test_size"] == len(split["test_labels"]) == 450
    assert record["test_accuracy"] == pytest.approx(accuracy(model, split["test_images"], split["test_labels"]))
    assert record["test_accuracy"] >= 0.95
    assert record["epoch_loss"][-1] < record["epoch_loss"][0]


def test_training_is_deterministic_given_the_seed():
    cfg = ClassifierTrainConfig(epochs=1, channels=[4, 8])
    (m1, r1), (m2, r2) = train_classifier(cfg), train_classifier(cfg)
    for (k, v1), v2 in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(v1, v2), k
    assert r1["epoch_loss"] == r2["epoch_loss"]
    m3, _ = train_classifier(ClassifierTrainConfig(epochs=1, channels=[4, 8], seed=1))
    assert not torch.equal(m1.head.weight, m3.head.weight)


def test_feature_extractor_matches_the_penultimate_layer():
    torch.manual_seed(0)
    model = DigitsClassifier(channels=(4, 6)).eval()
    x = torch.rand(5, 1, 8, 8) * 2 - 1
    features = FeatureExtractor(model)(x)
    assert features.shape == (5, 6) and FeatureExtractor(model).num_features == 6
    assert torch.allclose(model.head(features), model(x))


def test_job_saves_a_loadable_classifier_with_its_record(tmp_path):
    settings = {"epochs": 1, "channels": [4, 8], "min_accuracy": 0.0}
    record = run_classifier_training(settings=settings, out_dir=tmp_path / "clf")
    saved = json.loads((tmp_path / "clf" / "training.json").read_text())
    assert saved["test_accuracy"] == pytest.approx(record["test_accuracy"])
    assert len(saved["weights_sha256"]) == 64 and saved["packages"]["torch"]
    model = load_classifier(tmp_path / "clf")
    split = digits_split()
    assert accuracy(model, split["test_images"], split["test_labels"]) == pytest.approx(record["test_accuracy"])
    assert not any(p.requires_grad for p in model.parameters())


def test_job_stops_below_min_accuracy_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match="classifier.min_accuracy"):
        run_classifier_training(settings={"epochs": 1, "channels": [2], "min_accuracy": 0.999}, out_dir=tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_missing_classifier_names_the_rule(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_classifier"):
        load_classifier(tmp_path)
