"""Semantic statistics of generated digits: what a classifier sees in them, not their pixels.

Pixel statistics such as brightness are nearly odd functions of the output, so they favour antithetic
pairs almost by construction (paper, "Definitions": the AMC efficiency is ``1 / (1 + rho)`` with
``rho`` the correlation of the statistic over a pair). A classifier's output is far from odd in the
image, so these statistics are the harder test of whether antithetic noise tightens Monte Carlo
estimates of what a practitioner measures. With the softmax ``p(x) = softmax(f(x))`` of a classifier
``f`` (:class:`antithetic.classifier.DigitsClassifier`) and ``C`` classes:

* ``class_probabilities``: ``p(x)``, a vector of ``C`` values; its expectation is the model's class law
  as the classifier sees it.
* ``predicted_class``: the one-hot vector of ``argmax p(x)``; its expectation is the frequency of each
  predicted class.
* ``confidence``: ``max_c p_c(x)``, the classifier's confidence.
* ``requested_class_probability``: ``p_{c(k)}(x)`` of sample ``k`` with requested class ``c(k)`` (the
  class label the conditional model was given, :class:`antithetic.models.conditional.ClassLabels`):
  prompt adherence of a class-conditional model. It needs the sample's index, so it is an
  :class:`IndexedStatistic`.

The statistics take images in this library's model range: NCHW in [-1, 1], the classifier's input
(see :mod:`antithetic.image_statistics` for converting pipeline outputs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch is imported where a classifier runs: the names above serve torch-free table jobs
    import torch

__all__ = ["SEMANTIC_STATISTICS", "ClassifierStatistics", "IndexedStatistic"]

#: the statistics :class:`ClassifierStatistics` provides (the last needs the requested class labels)
SEMANTIC_STATISTICS = ("class_probabilities", "predicted_class", "confidence", "requested_class_probability")


class IndexedStatistic:
    """A statistic ``S(x, indices)`` that also needs the sample indices of ``x`` (e.g. to look up each
    sample's requested class). :func:`antithetic.image_statistics.evaluate_statistic` passes them."""

    takes_indices = True

    def __init__(self, fn: Callable[..., np.ndarray], name: str) -> None:
        self.fn = fn
        self.__name__ = name

    def __call__(self, x: Any, *, indices: Sequence[int]) -> np.ndarray:
        return self.fn(x, indices=indices)


class ClassifierStatistics:
    """The semantic statistics of the module docstring for one classifier.

    Args:
        classifier: a module mapping images ``(B, C, H, W)`` in [-1, 1] to class logits ``(B, num_classes)``.
        labels: the requested class of each sample index (``labels(indices) -> (B,)`` integer tensor),
            for ``requested_class_probability``; ``None`` for an unconditional model.
        batch_size: images per classifier forward pass; changes no number.
    """

    def __init__(self, classifier: torch.nn.Module, *, labels: Callable[[Sequence[int]], torch.Tensor] | None = None,
                 batch_size: int = 1024) -> None:
        self.classifier = classifier.eval()
        self.labels = labels
        self.batch_size = int(batch_size)

    def probabilities(self, x: Any) -> np.ndarray:
        """Softmax class probabilities ``(N, num_classes)`` of images ``x`` (NCHW, [-1, 1]; clamped like the
        pixel statistics, since a sampler's last step can overshoot)."""
        arr = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
        if arr.ndim != 4:
            raise ValueError(f"semantic statistics take NCHW images in [-1, 1], got shape {arr.shape}")
        import torch

        param = next(self.classifier.parameters())
        out = []
        with torch.no_grad():
            for lo in range(0, len(arr), self.batch_size):
                batch = torch.from_numpy(np.clip(arr[lo : lo + self.batch_size], -1.0, 1.0)).to(param.device, param.dtype)
                out.append(torch.softmax(self.classifier(batch).double(), dim=1).cpu().numpy())
        if not out:
            return np.zeros((0, 0))
        return np.concatenate(out)

    def class_probabilities(self, x: Any) -> np.ndarray:
        """``p(x)``: ``(N, num_classes)``."""
        return self.probabilities(x)

    def predicted_class(self, x: Any) -> np.ndarray:
        """One-hot ``argmax p(x)``: ``(N, num_classes)``."""
        p = self.probabilities(x)
        return np.eye(p.shape[1])[p.argmax(axis=1)]

    def confidence(self, x: Any) -> np.ndarray:
        """``max_c p_c(x)``: ``(N,)``."""
        return self.probabilities(x).max(axis=1)

    def requested_class_probability(self, x: Any, *, indices: Sequence[int]) -> np.ndarray:
        """``p_{c(k)}(x_k)`` for sample ``k`` of requested class ``c(k)``: ``(N,)``."""
        if self.labels is None:
            raise ValueError("requested_class_probability needs the requested class labels of a class-conditional model (labels=)")
        p = self.probabilities(x)
        requested = np.asarray(self.labels([int(k) for k in indices])).astype(np.int64)
        if requested.shape != (len(p),):
            raise ValueError(f"labels gave {requested.shape[0] if requested.ndim else 0} classes for {len(p)} samples")
        if requested.min(initial=0) < 0 or requested.max(initial=0) >= p.shape[1]:
            raise ValueError(f"requested classes must lie in [0, {p.shape[1]}), got {sorted(set(requested.tolist()))}")
        return p[np.arange(len(p)), requested]

    def statistics(self, names: Sequence[str] = SEMANTIC_STATISTICS) -> dict[str, Callable[..., np.ndarray]]:
        """``{name: statistic}`` for ``names`` (each in :data:`SEMANTIC_STATISTICS`), ready for the estimators.

        Raises:
            ValueError: an unknown name, or ``requested_class_probability`` without ``labels``.
        """
        out: dict[str, Callable[..., np.ndarray]] = {}
        for name in names:
            if name not in SEMANTIC_STATISTICS:
                raise ValueError(f"unknown semantic statistic {name!r}; known: {list(SEMANTIC_STATISTICS)}")
            if name == "requested_class_probability":
                if self.labels is None:
                    raise ValueError("requested_class_probability needs the requested class labels of a class-conditional model (labels=)")
                out[name] = IndexedStatistic(self.requested_class_probability, name)
            else:
                out[name] = getattr(self, name)
        return out
