"""Conditioning by sample index, classifier-free guidance, and an exact class-conditional model.

Conditions are addressed like the noise (see :mod:`antithetic.noise`): the condition of sample ``k``
depends only on ``k``, never on the batch. Consecutive samples ``2j`` and ``2j + 1`` share condition
slot ``j``, so both members of a PN pair ``(z, -z)`` (antithetic design) *and* both members of an RR
pair (consecutive iid samples, see :func:`antithetic.correlation.rr_pairs`) see the same prompt or
class: PN and RR correlations then differ only in how the noises are coupled.

Classifier-free guidance (Ho & Salimans 2022), in the diffusers convention::

    eps_w(x, t, c) = eps(x, t, null) + w * (eps(x, t, c) - eps(x, t, null))

``w = 1`` is the plain conditional model, ``w = 0`` the unconditional one.

:func:`class_gaussian_mixture_model` is the exact guided noise predictor of a class-conditional
Gaussian mixture (one class per component). Its conditional part is affine (one Gaussian), its
unconditional part is not, so a guidance sweep on it moves from the mixture (``w = 0``) through the
affine class model (``w = 1``) to over-guided predictors (``w > 1``), offline and in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..noise import derive_seed
from .analytic import GaussianMixtureScore, _abar, default_schedule
from .base import DiffusionModel

__all__ = [
    "CONDITION_STREAM",
    "ClassLabels",
    "Prompts",
    "SAMPLES_PER_CONDITION",
    "class_gaussian_mixture_model",
    "condition_slot",
    "guide",
    "read_prompts",
]

#: stream key of the seed-addressed random class labels (noise uses streams 0 and 1)
CONDITION_STREAM = 2
#: consecutive samples that share one condition (a PN or an RR pair)
SAMPLES_PER_CONDITION = 2


def condition_slot(index: int) -> int:
    """Condition slot of sample ``index``: samples ``2j`` and ``2j + 1`` share slot ``j``."""
    if index < 0:
        raise ValueError(f"sample indices must be non-negative, got {index}")
    return int(index) // SAMPLES_PER_CONDITION


def guide(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance ``eps_null + w (eps_c - eps_null)`` (``w = 1``: no guidance)."""
    return eps_uncond + scale * (eps_cond - eps_uncond)


class ClassLabels:
    """Class label of every sample index.

    Args:
        labels: ``"random"`` (slot ``j`` draws a uniform label from the seed-addressed stream
            ``(seed, j, CONDITION_STREAM)``) or a list of labels used in turn (slot ``j`` gets
            ``labels[j % len(labels)]``).
        num_classes: number of classes of the model; labels must lie in ``[0, num_classes)``.
        seed: seed of the random labels.
    """

    def __init__(self, labels: str | Sequence[int] = "random", *, num_classes: int, seed: int = 0) -> None:
        self.num_classes = int(num_classes)
        self.seed = int(seed)
        if isinstance(labels, str):
            if labels != "random":
                raise ValueError(f"class labels must be 'random' or a list of class indices, got labels={labels!r}")
            self.labels = None
        else:
            self.labels = [int(c) for c in labels]
            bad = [c for c in self.labels if not 0 <= c < self.num_classes]
            if not self.labels or bad:
                raise ValueError(f"class labels must be a non-empty list in [0, {self.num_classes}), got labels={list(labels)}")

    def label(self, index: int) -> int:
        slot = condition_slot(index)
        if self.labels is not None:
            return self.labels[slot % len(self.labels)]
        rng = np.random.default_rng(derive_seed(self.seed, slot, CONDITION_STREAM))
        return int(rng.integers(self.num_classes))

    def __call__(self, indices: Sequence[int]) -> torch.Tensor:
        """Labels of ``indices`` as a 1-D int64 tensor (on the CPU)."""
        return torch.tensor([self.label(int(k)) for k in indices], dtype=torch.long)

    def describe(self) -> dict[str, Any]:
        return {"class_labels": "random" if self.labels is None else self.labels, "num_classes": self.num_classes, "label_seed": self.seed}


def read_prompts(path: str | Path) -> list[str]:
    """Prompts from a text file, one per line; blank lines and lines starting with ``#`` are skipped.

    Raises:
        FileNotFoundError: there is no file ``path``.
        ValueError: it holds no prompt.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prompt file path={str(path)!r} not found; write one prompt per line")
    prompts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    prompts = [p for p in prompts if p and not p.startswith("#")]
    if not prompts:
        raise ValueError(f"prompt file path={str(path)!r} holds no prompt")
    return prompts


class Prompts:
    """Prompt of every sample index: slot ``j`` gets ``prompts[j % len(prompts)]``."""

    def __init__(self, prompts: Sequence[str]) -> None:
        if not prompts:
            raise ValueError("need at least one prompt")
        self.prompts = list(prompts)

    def __call__(self, indices: Sequence[int]) -> list[str]:
        return [self.prompts[condition_slot(int(k)) % len(self.prompts)] for k in indices]


class ClassConditionalModel(DiffusionModel):
    """A :class:`DiffusionModel` whose condition is a class label per sample, with guidance scale ``w``.

    ``eps(x, t, labels)`` applies classifier-free guidance with :attr:`guidance_scale`; generation
    picks the labels with :meth:`condition`.
    """

    def __init__(self, *, labels: ClassLabels, guidance_scale: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.labels = labels
        self.guidance_scale = float(guidance_scale)
        self.info.update(labels.describe())

    def condition(self, indices: Sequence[int]) -> torch.Tensor:
        """Class labels of the samples ``indices``, on the model's device."""
        return self.labels(indices).to(self.device)


def class_gaussian_mixture_model(
    *,
    means: torch.Tensor,
    std: float,
    labels: ClassLabels | None = None,
    guidance_scale: float = 1.0,
    scheduler=None,
    name: str = "class-gaussian-mixture",
    data: str = "class-conditional Gaussian mixture",
) -> ClassConditionalModel:
    """Exact guided noise predictor of a class-conditional isotropic Gaussian mixture.

    Class ``c`` is component ``c``: ``x_0 | c ~ N(mu_c, s^2 I)``, and the unconditional law is the
    uniform mixture. With ``v_t = abar_t s^2 + 1 - abar_t``:

    * conditional: ``eps_t(x | c) = sqrt(1 - abar_t) (x - sqrt(abar_t) mu_c) / v_t`` (affine in ``x``),
    * unconditional: ``eps_t(x) = -sqrt(1 - abar_t) grad log p_t(x)`` of the mixture,
    * guided: :func:`guide` of the two with scale ``w``.
    """
    scheduler = scheduler or default_schedule()
    gmm = GaussianMixtureScore(means, std)
    num_classes = int(means.shape[0])
    labels = labels or ClassLabels("random", num_classes=num_classes)
    if labels.num_classes != num_classes:
        raise ValueError(f"labels cover {labels.num_classes} classes but the mixture has {num_classes} components")

    def eps(x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        if cond is None:
            raise ValueError(f"model {name!r} is class-conditional: pass class labels as cond")
        abar = _abar(scheduler, t, x)
        xd = x.double()
        eps_uncond = -torch.sqrt(1 - abar) * gmm.score(xd, abar)
        mu = gmm.means.to(x.device)[cond.long().to(x.device)]
        var = abar * gmm.std**2 + (1 - abar)
        eps_cond = torch.sqrt(1 - abar) * (xd - torch.sqrt(abar) * mu) / var
        return guide(eps_cond, eps_uncond, model.guidance_scale).to(x.dtype)

    model = ClassConditionalModel(
        eps=eps, scheduler=scheduler, sample_shape=tuple(means.shape[1:]), name=name, labels=labels,
        guidance_scale=guidance_scale,
        info={"kind": "class_gaussian_mixture", "data": data, "components": num_classes, "std": std},
    )
    model.mixture = gmm
    return model
