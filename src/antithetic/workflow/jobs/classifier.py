"""Job of the classifier stage: train the digits classifier, check its held-out accuracy, save it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ...artifacts import environment_info
from ..config import ConfigError

__all__ = ["run_classifier_training"]


def run_classifier_training(*, settings: dict[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """Train the classifier of the resolved ``classifier:`` section ``settings``; save it into ``out_dir``.

    Stops (nothing is written) when the held-out accuracy falls below ``settings["min_accuracy"]``:
    the feature space of the quality and diversity stages is only trusted on a classifier that works.
    """
    from ...classifier import ClassifierTrainConfig, train_classifier
    from ...training import save_pipeline_atomically

    settings = dict(settings)
    min_accuracy = float(settings.pop("min_accuracy", 0.95))
    model, record = train_classifier(ClassifierTrainConfig(**settings))
    if record["test_accuracy"] < min_accuracy:
        raise ConfigError(
            f"the digits classifier reaches {record['test_accuracy']:.3f} held-out accuracy, below "
            f"classifier.min_accuracy = {min_accuracy}; train longer (classifier.epochs) or wider (classifier.channels)"
        )
    from ...models.base import state_dict_sha256

    record.update(
        min_accuracy=min_accuracy,
        weights_sha256=state_dict_sha256(model),
        threads=torch.get_num_threads(),
        **environment_info(),
    )
    save_pipeline_atomically(model, out_dir, extra_json={"training.json": record})
    return record
