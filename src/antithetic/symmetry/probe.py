"""On-distribution antisymmetry of ``eps_t`` at noised data, and the noise level where it breaks.

Lemma 1 (paper) says: if ``Corr(f(Z), f(-Z)) = -1`` for ``Z ~ N(0, I)``, then ``f(x) + f(-x) = 2c``.
Its proof needs ``Z`` and ``-Z`` to have the same law (then ``f(Z)`` and ``f(-Z)`` have equal variances
and a correlation of -1 forces a slope of exactly -1). The noised data ``x_t`` have no symmetric law,
and on a one-sided sample the correlation can be exactly -1 for a map that is not affine
antisymmetric (e.g. ``eps(x) = x`` for ``x_1 > 0`` and ``x / 2`` otherwise, with data far on one side:
``eps(-x) = -eps(x) / 2`` is an exact linear function of ``eps(x)``). :func:`antisymmetry_probe`
therefore correlates over the *symmetrised* sample ``{x_t} u {-x_t}``, where the lemma applies: there
the correlation is -1 for every coordinate iff ``eps_t`` is affine antisymmetric on that sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..models.analytic import GaussianMixtureScore
from ..models.base import DiffusionModel
from ..noise import IIDNoise, derive_seed
from ..pearson import pearson
from ._common import DATA_STREAM, PROBE_STREAM, batched_eps, schedule_row
from .scores import break_level

__all__ = ["MIN_PROBE_SAMPLES", "antisymmetry_probe", "break_level", "noised_data", "reference_data", "sample_mixture"]

#: data samples of the on-distribution probe at the least: its shift is cross-fitted on two halves of 2 or more
MIN_PROBE_SAMPLES = 4


def sample_mixture(mixture: GaussianMixtureScore, num: int, *, generator: torch.Generator) -> torch.Tensor:
    """``num`` exact draws of ``sum_k pi_k N(mu_k, s^2 I)`` (float64)."""
    k = torch.multinomial(mixture.log_weights.exp(), num, replacement=True, generator=generator)
    noise = torch.randn((num, *mixture.means.shape[1:]), generator=generator, dtype=torch.float64)
    return mixture.means[k] + mixture.std * noise


def reference_data(
    model: DiffusionModel,
    spec: dict[str, Any],
    *,
    num: int,
    seed: int,
    sampler: str | None = None,
    sampler_options: dict[str, Any] | None = None,
    batch_size: int = 256,
    progress: bool = False,
) -> tuple[torch.Tensor, GaussianMixtureScore | None, str]:
    """Data ``x_0`` to noise for the on-distribution probes, and the exact data law if known.

    ``spec`` is the model's resolved ``models.<name>`` entry.

    * ``gaussian_mixture``: exact draws of the mixture (returned as the exact law);
    * ``affine_odd``: exact draws of ``N(mean, std^2 I)`` (a one-component mixture);
    * a model trained by the workflow (``train:`` block): ``num`` real training images drawn without
      replacement;
    * any other model (e.g. a pretrained hub checkpoint, whose training data are not available offline):
      ``num`` of the model's own samples ``DM(z)``, iid ``z``, drawn with ``sampler`` (a sampler kind,
      ``sampler_options`` its options). They follow the model's learned law, the law its score is the
      score of, which is the law Theorem 1 and the probe are about.
    """
    gen = torch.Generator().manual_seed(derive_seed(seed, DATA_STREAM))
    kind = spec.get("kind")
    if kind == "gaussian_mixture":
        exact = model.mixture
        return sample_mixture(exact, num, generator=gen).float(), exact, "exact mixture draws"
    if kind == "affine_odd":
        mean = torch.full((1, *model.sample_shape), float(spec["mean"]), dtype=torch.float64)
        exact = GaussianMixtureScore(mean, float(spec["std"]))
        return sample_mixture(exact, num, generator=gen).float(), exact, "exact Gaussian draws"
    if "train" in spec:
        from ..data import load_dataset

        dataset = spec["train"].get("dataset", "digits")
        images, _ = load_dataset(dataset)
        if num > len(images):
            raise ValueError(f"{num} probe samples exceed the {len(images)} images of {dataset!r}; lower symmetry.probe_samples")
        pick = torch.randperm(len(images), generator=gen)[:num]
        return images[pick].float(), None, f"real {dataset} images"
    if hasattr(model, "decode_latents"):
        raise ValueError(
            f"model {model.name!r} samples in a latent space; its own samples are decoded images, not x_0 of its "
            "noise predictor, so it cannot be probed on-distribution: remove it from symmetry.models / symmetry.fisher.models"
        )
    if sampler is None:
        raise ValueError(f"model {model.name!r} has no data to noise; name a sampler (symmetry.data_sampler) to draw its own samples")
    from ..generate import generate

    design = IIDNoise(seed=derive_seed(seed, DATA_STREAM))
    out = generate(
        model, design=design, num_samples=num, sampler=sampler, sampler_options=sampler_options or {},
        batch_size=batch_size, progress=progress,
    )
    x0 = torch.from_numpy(out.samples[np.argsort(out.indices)])
    return x0.float(), None, f"the model's own samples ({sampler})"


def noised_data(model: DiffusionModel, data: torch.Tensor, t: int, *, seed: int) -> torch.Tensor:
    """``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) z`` for the rows ``x_0`` of ``data``, ``z`` seed-addressed
    (the same ``z`` at every ``t``: common random numbers across noise levels)."""
    gen = torch.Generator().manual_seed(derive_seed(seed, PROBE_STREAM))
    z = torch.randn(data.shape, generator=gen, dtype=torch.float32)
    abar = float(model.scheduler.alphas_cumprod[int(t)])
    return math.sqrt(abar) * data.to(torch.float32) + math.sqrt(1 - abar) * z


def antisymmetry_probe(
    model: DiffusionModel,
    *,
    data: torch.Tensor,
    timesteps: Sequence[int],
    seed: int,
    batch_size: int = 1024,
    progress: bool = True,
) -> pd.DataFrame:
    """On-distribution antisymmetry of ``eps_t`` at ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) z``.

    For each ``t`` (``x_0`` = the rows of ``data``, ``z`` seed-addressed):

    * ``corr_mean`` / ``corr_max``: per output coordinate ``i`` the Pearson correlation of
      ``eps_t(X)_i`` and ``eps_t(-X)_i`` with ``X`` running over the symmetrised sample
      ``{x_t} u {-x_t}``, averaged / worst over ``i``. The symmetrised sample has a symmetric law, so
      Lemma 1 applies: the correlation is -1 for every ``i`` iff ``eps_t(x) + eps_t(-x)`` is constant on
      the sample (affine antisymmetry), whatever ``c_t``. It needs no extra model evaluations.
    * ``corr_onesided_mean``: the same correlation over ``{x_t}`` alone, for comparison only: it can be
      exactly -1 for a map that is not affine antisymmetric (see the module docstring).
    * ``residual_median`` / ``residual_mean``: ``||eps_t(x) + eps_t(-x) - 2 c_t|| / ||eps_t(x) - eps_t(-x)||``
      per sample (0 = exactly affine antisymmetric), with ``c_t`` the mean of ``(eps_t(x) + eps_t(-x)) / 2``,
      the least-squares constant, *cross-fitted*: estimated on one half of the samples and applied to
      the other (and vice versa), so that it is not fitted to the samples it is scored on.
    * ``c_norm``: ``||c_t|| / sqrt(D)`` (RMS of the estimated shift).
    """
    n = len(data)
    if n < MIN_PROBE_SAMPLES:
        raise ValueError(f"the on-distribution probe needs at least {MIN_PROBE_SAMPLES} data samples, got {n}")
    half = np.arange(n) < n // 2
    rows = []
    for t in tqdm(list(timesteps), desc=f"probe {model.name}", disable=not progress):
        # 1. noise the data to x_t and evaluate eps_t at x_t and -x_t
        xt = noised_data(model, data, t, seed=seed)
        both = batched_eps(model, torch.cat([xt, -xt]), t, batch_size).reshape(2, n, -1).numpy()
        plus, minus = both[0], both[1]
        # 2. correlation per coordinate over the symmetrised sample {x_t, -x_t} (Lemma 1), and one-sided
        corr = pearson(np.concatenate([plus, minus]), np.concatenate([minus, plus]))
        onesided = pearson(plus, minus)
        # 3. cross-fitted shift c_t and the residual ratio
        mid = 0.5 * (plus + minus)
        c_a, c_b = mid[half].mean(0), mid[~half].mean(0)
        c = np.where(half[:, None], c_b, c_a)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.linalg.norm(plus + minus - 2 * c, axis=1) / np.linalg.norm(plus - minus, axis=1)
        rows.append(
            {
                **schedule_row(model, t),
                "corr_mean": float(np.nanmean(corr)),
                "corr_max": float(np.nanmax(corr)),
                "corr_onesided_mean": float(np.nanmean(onesided)),
                "residual_median": float(np.nanmedian(ratio)),
                "residual_mean": float(np.nanmean(ratio)),
                "c_norm": float(np.linalg.norm(mid.mean(0)) / math.sqrt(mid.shape[1])),
                "samples": n,
            }
        )
    return pd.DataFrame(rows)
