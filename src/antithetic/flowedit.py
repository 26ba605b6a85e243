"""Antithetic FlowEdit: inversion-free editing with antithetic noise draws (Kulikov et al. 2024).

FlowEdit ("FlowEdit: Inversion-Free Text-Based Editing Using Pre-Trained Flow Models", Kulikov, Kleiner,
Huberman-Spiegelglas and Michaeli, 2024; reference code ``FlowEditSD3`` in ``FlowEdit_utils.py`` of
github.com/fallenshock/FlowEdit) edits a source image ``x_src`` of condition ``c_src`` into condition ``c_tar``
without inverting it. In rectified-flow time ``s`` in ``[0, 1]`` (``z_s = (1 - s) x_0 + s n``, velocity
``v = n - x_0``), on a grid ``s_0 > s_1 > ... > s_{T-1} > s_T = 0`` of ``T = num_steps`` steps, the edit starts
at ``z_FE = x_src``, skips the ``T - n_max`` noisiest steps and, for ``i = T - n_max, ..., T - 1``::

    for j = 1 .. n_avg:   n_j ~ N(0, I)
        Z_src = (1 - s_i) x_src + s_i n_j                       (the source, noised)
        Z_tar = z_FE + Z_src - x_src                            (the edit, noised with the same n_j)
        V_j   = v(Z_tar, s_i, c_tar) - v(Z_src, s_i, c_src)
    z_FE <- z_FE + (s_{i+1} - s_i) mean_j V_j

``n_max`` sets how strong the edit is (the paper's SD3 setting: ``T = 50``, ``n_max = 33``, ``n_avg = 1``;
the reference code's ``n_min = 0``, no plain sampling at the end). The noise enters only through
``mean_j V_j``, a Monte Carlo average over ``n``: **antithetic FlowEdit** draws the ``n_avg`` noises of a step
as ``n_avg / 2`` antithetic pairs ``(n, -n)`` (the paper "Antithetic Noise in Diffusion Models" reports CLIP
and LPIPS win rates of 0.566 and 0.816 over independent draws), at the same number of network calls.

A VP noise predictor (:class:`~antithetic.models.base.DiffusionModel`) is read as a rectified flow by
:func:`antithetic.parametrization.rectified_flow_velocity`; the flow times are those of the model's DDIM
timesteps for ``num_steps`` (:func:`flowedit_grid`), ``s_i = sigma_i / (alpha_i + sigma_i)``, then ``s_T = 0``,
so no alpha-bar between the training timesteps is needed.

Noise addressing (:mod:`antithetic.noise`): draw ``j`` of step ``i`` of source ``k`` is sample index
``(k * num_steps + i) * n_avg + j`` of the design (its initial-noise stream). It depends on the seed, the source
and the step only, never on the batch, on ``n_max`` (edits of one source at two ``n_max`` share their draws on
the steps both take) or on the other sources. Under the ``antithetic`` design draws ``2m`` and ``2m + 1`` of a
step are ``(n, -n)``; under ``iid`` all draws are independent.

:func:`flowedit_experiment` edits held-out images into target classes with independent and with antithetic
draws and scores, per source, target adherence and faithfulness (:data:`FLOWEDIT_MEASURES`) and the win rate of
the antithetic edit over the independent one with exact binomial (Clopper-Pearson) CIs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from .diversity import feature_distance
from .models.base import DiffusionModel
from .noise import derive_seed
from .parametrization import rectified_flow_time, rectified_flow_velocity
from .samplers import _ddim_grid  # the DDIM sampler's timestep grid: FlowEdit steps where DDIM would

if TYPE_CHECKING:
    from .noise import NoiseDesign

__all__ = [
    "FLOWEDIT_MEASURES",
    "TARGET_STREAM",
    "edit_targets",
    "flowedit",
    "flowedit_experiment",
    "flowedit_grid",
    "flowedit_measures",
    "flowedit_noise",
    "noise_index",
    "win_rates",
]

#: measure -> (label, True if larger values are better for the antithetic edit)
FLOWEDIT_MEASURES: dict[str, tuple[str, bool]] = {
    "target_probability": ("target adherence: classifier probability of the target class (higher wins)", True),
    "faithfulness_feature": ("faithfulness: classifier-feature distance to the source (lower wins)", False),
}

#: stream key of the seed-addressed target classes (noise uses streams 0 and 1, random class labels 2)
TARGET_STREAM = 3


# ------------------------------------------------------------------------------------ the edit
def flowedit_grid(model: DiffusionModel, num_steps: int) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """The step grid of a ``num_steps``-step FlowEdit run of ``model``.

    Returns:
        ``(timesteps, abars, times)``: the model's DDIM timesteps (noisiest first), their alpha-bars (float64,
        from the model's own training schedule, the values its ``eps`` uses) and the ``num_steps + 1``
        rectified-flow times ``s_i = sigma_i / (alpha_i + sigma_i)`` followed by ``s_T = 0``.
    """
    timesteps = [int(t) for t in _ddim_grid(model, int(num_steps)).timesteps]
    abars = model.scheduler.alphas_cumprod.to(torch.float64)[torch.as_tensor(timesteps)]
    times = torch.cat([rectified_flow_time(abars), torch.zeros(1, dtype=torch.float64)])
    return timesteps, abars, times


def noise_index(source: int, step: int, draw: int, *, num_steps: int, n_avg: int) -> int:
    """The design's sample index of draw ``draw`` of step ``step`` of source ``source``:
    ``(source * num_steps + step) * n_avg + draw``."""
    return (int(source) * int(num_steps) + int(step)) * int(n_avg) + int(draw)


def flowedit_noise(
    design: NoiseDesign,
    sources: Sequence[int],
    step: int,
    *,
    num_steps: int,
    n_avg: int,
    shape: Sequence[int],
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The ``n_avg`` noise draws of step ``step`` of the sources ``sources`` (their indices): ``(len(sources), n_avg, *shape)``.

    Draw ``j`` of source ``k`` is the design's noise of index :func:`noise_index` ``(k, step, j)``.
    """
    indices = [noise_index(k, step, j, num_steps=num_steps, n_avg=n_avg) for k in sources for j in range(n_avg)]
    noise = design.initial_noise(indices, shape, device=device, dtype=dtype)
    return noise.view(len(sources), n_avg, *shape)


def _take(cond: Any, rows: Sequence[int]) -> Any:
    """The conditions of the sources ``rows`` (a tensor indexed on dim 0, a sequence, or ``None``)."""
    if cond is None:
        return None
    if isinstance(cond, torch.Tensor):
        return cond[torch.as_tensor(list(rows), device=cond.device)]
    return [cond[r] for r in rows]


def _repeat_and_join(source: Any, target: Any, n_avg: int) -> Any:
    """One condition per network input ``[Z_src of every draw; Z_tar of every draw]`` (draws of a source adjacent)."""
    if isinstance(source, torch.Tensor):
        return torch.cat([source.repeat_interleave(n_avg, dim=0), target.to(source.device).repeat_interleave(n_avg, dim=0)])
    return [c for c in source for _ in range(n_avg)] + [c for c in target for _ in range(n_avg)]


@contextmanager
def _guidance_scale(model: DiffusionModel, scale: float | None) -> Iterator[None]:
    """``model.guidance_scale`` set to ``scale`` inside the block (``None``: left as it is)."""
    if scale is None:
        yield
        return
    if not hasattr(model, "guidance_scale"):
        raise ValueError(f"model {model.name!r} has no classifier-free guidance (no guidance_scale); leave the source and "
                         "target guidance scales unset")
    kept = model.guidance_scale
    model.guidance_scale = float(scale)
    try:
        yield
    finally:
        model.guidance_scale = kept


def _check_settings(design: NoiseDesign, num_steps: int, n_max: int, n_avg: int) -> None:
    if not 1 <= int(n_max) <= int(num_steps):
        raise ValueError(f"n_max = {n_max} must lie in [1, num_steps = {num_steps}]: FlowEdit takes the n_max least noisy "
                         "of the num_steps steps")
    if int(n_avg) < 1 or int(n_avg) % design.group_size:
        raise ValueError(
            f"n_avg = {n_avg} must be a positive multiple of the group size {design.group_size} of design {design.name!r}: "
            f"its draws of a step come in groups of {design.group_size}"
            + (" (pairs (n, -n)); use an even n_avg" if design.group_size == 2 else "")
        )


@torch.no_grad()
def flowedit(
    model: DiffusionModel,
    sources: torch.Tensor,
    *,
    source_cond: Any,
    target_cond: Any,
    design: NoiseDesign,
    num_steps: int = 50,
    n_max: int = 33,
    n_avg: int = 1,
    source_guidance_scale: float | None = None,
    target_guidance_scale: float | None = None,
    start_index: int = 0,
    batch_size: int | None = None,
    callback: Callable[[dict[str, Any]], None] | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Edit ``sources`` ``(N, *sample_shape)`` from ``source_cond`` to ``target_cond`` with FlowEdit (module docstring).

    Args:
        model: a noise predictor ``model.eps(x_t, t, cond)``, read as a rectified flow.
        sources: the images to edit, in the model's data space.
        source_cond, target_cond: the condition of each source and of its edit, as ``model.eps`` takes them
            (e.g. class labels ``(N,)``; a list of prompts); both ``None`` for an unconditional model (no edit).
        design: the noise design of the draws; ``antithetic`` pairs draws ``2m, 2m + 1`` of a step as ``(n, -n)``.
        num_steps: steps of the whole grid (the DDIM timesteps of the model).
        n_max: the edit takes the ``n_max`` least noisy steps (from step ``num_steps - n_max``).
        n_avg: noise draws averaged per step (a multiple of the design's group size).
        source_guidance_scale, target_guidance_scale: the classifier-free guidance scales of the source and of
            the target velocity (FlowEdit's ``src_guidance_scale`` and ``tar_guidance_scale``, 3.5 and 13.5 for
            SD3); ``None`` keeps the model's own ``guidance_scale``. Unequal scales take two network calls per step.
        start_index: the source index of ``sources[0]`` in the noise addressing (source ``k`` is ``start_index + k``).
        batch_size: sources per batch (default: all); a network call takes ``2 n_avg batch_size`` inputs. It
            changes no noise draw.
        callback: called after every step's velocity with ``{"step", "t", "s", "s_next", "z", "noise", "v_delta",
            "sources"}``: ``z`` the edit the step starts from, ``noise`` the draws ``(B, n_avg, ...)``, ``v_delta``
            their mean velocity difference, ``sources`` the batch's source indices.

    Returns:
        the edits, ``(N, *sample_shape)``, in the state dtype (float32 for a half-precision network).
    """
    _check_settings(design, num_steps, n_max, n_avg)
    if (source_cond is None) != (target_cond is None):
        raise ValueError("source_cond and target_cond must both be given (a conditional model) or both be None")
    count = len(sources)
    batch_size = int(batch_size or count)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    timesteps, abars, times = flowedit_grid(model, num_steps)
    shape = tuple(model.sample_shape)
    # half-precision networks keep the state (noise, z_FE) in float32, as the samplers do
    dtype = torch.float32 if model.dtype in (torch.float16, torch.bfloat16) else model.dtype
    x_src_all = sources.to(device=model.device, dtype=dtype)
    first = int(num_steps) - int(n_max)
    edits = []
    batches = [list(range(lo, min(count, lo + batch_size))) for lo in range(0, count, batch_size)]
    for rows in tqdm(batches, desc=f"{model.name} flowedit {design.name}", disable=not progress):
        index = [int(start_index) + r for r in rows]
        x_src = x_src_all[rows].unsqueeze(1)  # (B, 1, ...): broadcasts over the draws
        cond = None if source_cond is None else _repeat_and_join(_take(source_cond, rows), _take(target_cond, rows), n_avg)
        half = len(rows) * int(n_avg)
        z_fe = x_src[:, 0].clone()
        for i in range(first, int(num_steps)):
            t, s, s_next = timesteps[i], float(times[i]), float(times[i + 1])
            noise = flowedit_noise(design, index, i, num_steps=num_steps, n_avg=n_avg, shape=shape, device=model.device, dtype=dtype)
            z_src = (1 - s) * x_src + s * noise  # (B, n_avg, ...)
            z_tar = z_fe.unsqueeze(1) + z_src - x_src
            inputs = torch.cat([z_src.flatten(0, 1), z_tar.flatten(0, 1)])
            if source_guidance_scale == target_guidance_scale:
                # one network call for the noised sources and the noised edits of every draw
                with _guidance_scale(model, source_guidance_scale):
                    v = rectified_flow_velocity(lambda x, t=t: model.eps(x, t, cond), inputs, abars[i])
                v_src, v_tar = v.chunk(2)
            else:
                v_src, v_tar = (
                    _velocity(model, inputs[part], t, None if cond is None else cond[part], abars[i], scale)
                    for part, scale in ((slice(0, half), source_guidance_scale), (slice(half, None), target_guidance_scale))
                )
            v_delta = (v_tar - v_src).view(len(rows), int(n_avg), *shape).mean(dim=1)
            if callback is not None:
                callback({"step": i, "t": t, "s": s, "s_next": s_next, "z": z_fe, "noise": noise, "v_delta": v_delta,
                          "sources": index})
            z_fe = z_fe + (s_next - s) * v_delta
        edits.append(z_fe)
    return torch.cat(edits)


def _velocity(model: DiffusionModel, z: torch.Tensor, t: int, cond: Any, abar: torch.Tensor, scale: float | None) -> torch.Tensor:
    with _guidance_scale(model, scale):
        return rectified_flow_velocity(lambda x: model.eps(x, t, cond), z, abar)


# ------------------------------------------------------------------------------------ targets and measures
def edit_targets(source_labels: Sequence[int] | torch.Tensor, *, num_classes: int, seed: int) -> torch.Tensor:
    """A target class for each source, uniform over the classes other than its own.

    The target of source ``k`` is drawn from the seed-addressed stream ``(seed, k, TARGET_STREAM)``, so it
    depends on ``seed`` and ``k`` only: ``(label + 1 + u) mod num_classes`` with ``u`` uniform in ``[0, num_classes - 1)``.
    """
    if int(num_classes) < 2:
        raise ValueError(f"an edit to another class needs at least 2 classes, got num_classes={num_classes}")
    labels = [int(c) for c in (source_labels.tolist() if isinstance(source_labels, torch.Tensor) else source_labels)]
    bad = [c for c in labels if not 0 <= c < int(num_classes)]
    if bad:
        raise ValueError(f"source labels must lie in [0, {num_classes}), got {sorted(set(bad))}")
    targets = []
    for k, label in enumerate(labels):
        rng = np.random.default_rng(derive_seed(int(seed), k, TARGET_STREAM))
        targets.append((label + 1 + int(rng.integers(int(num_classes) - 1))) % int(num_classes))
    return torch.tensor(targets, dtype=torch.long)


@torch.no_grad()
def flowedit_measures(
    sources: torch.Tensor, edits: torch.Tensor, targets: torch.Tensor, *, classifier: nn.Module, extractor: nn.Module
) -> pd.DataFrame:
    """Per-source measures of ``edits`` of ``sources`` (both ``(N, C, H, W)``) into ``targets`` ``(N,)``.

    * ``target_probability``: the classifier's softmax probability of the target class (target adherence);
    * ``hit``: 1 where the classifier's arg-max class is the target;
    * ``faithfulness_feature``: the distance of the L2-normalised classifier features of edit and source
      (:func:`antithetic.diversity.feature_distance`; lower = more faithful).

    Edits are scored in the data range [-1, 1], clamped like every sample the classifier reads
    (:mod:`antithetic.semantic_statistics`): an edit overshoots it where the velocity difference extrapolates.
    """
    edits = edits.clamp(-1.0, 1.0)
    probabilities = torch.softmax(classifier(edits.float()).double(), dim=1)
    targets = targets.long().to(probabilities.device)
    return pd.DataFrame({
        "source": np.arange(len(sources)),
        "target": targets.cpu().numpy(),
        "target_probability": probabilities.gather(1, targets[:, None])[:, 0].cpu().numpy(),
        "hit": (probabilities.argmax(1) == targets).long().cpu().numpy(),
        "faithfulness_feature": feature_distance(edits, sources, extractor),
    })


def win_rates(antithetic: pd.DataFrame, iid: pd.DataFrame, *, level: float = 0.95) -> list[dict[str, Any]]:
    """Win rate of the antithetic edit over the independent one per measure of :data:`FLOWEDIT_MEASURES`.

    Source by source, the antithetic edit wins a measure when it is better (higher target probability, smaller
    feature distance to the source); exact ties are left out. The CI is the exact binomial (Clopper-Pearson)
    interval of :func:`scipy.stats.binomtest`; 0.5 means no difference.
    """
    from scipy.stats import binomtest

    if not np.array_equal(antithetic["source"].to_numpy(), iid["source"].to_numpy()):
        raise ValueError("antithetic and iid measures must list the same sources in the same order")
    rows = []
    for measure, (label, higher) in FLOWEDIT_MEASURES.items():
        a, b = antithetic[measure].to_numpy(), iid[measure].to_numpy()
        wins = int(np.sum(a > b) if higher else np.sum(a < b))
        ties = int(np.sum(a == b))
        n = len(a) - ties
        if n == 0:
            rate = low = high = pvalue = float("nan")
        else:
            test = binomtest(wins, n, 0.5)
            ci = test.proportion_ci(confidence_level=level, method="exact")
            rate, low, high, pvalue = wins / n, float(ci.low), float(ci.high), float(test.pvalue)
        rows.append({
            "measure": measure, "label": label, "wins": wins, "ties": ties, "n": n, "win_rate": rate, "ci_low": low,
            "ci_high": high, "p_value": pvalue, "antithetic_mean": float(np.mean(a)), "iid_mean": float(np.mean(b)),
            "antithetic_hit_rate": float(antithetic["hit"].mean()), "iid_hit_rate": float(iid["hit"].mean()), "level": level,
        })
    return rows


# ------------------------------------------------------------------------------------ the experiment
def flowedit_experiment(
    model: DiffusionModel,
    sources: torch.Tensor,
    *,
    source_labels: torch.Tensor,
    target_labels: torch.Tensor,
    classifier: nn.Module,
    extractor: nn.Module,
    n_max_values: Sequence[int],
    num_steps: int,
    n_avg: int,
    antithetic_design: NoiseDesign,
    iid_design: NoiseDesign,
    source_guidance_scale: float | None = None,
    target_guidance_scale: float | None = None,
    level: float = 0.95,
    batch_size: int | None = None,
    progress: bool = False,
) -> tuple[pd.DataFrame, list[dict[str, Any]], dict[int, dict[str, np.ndarray]]]:
    """Antithetic against independent FlowEdit of every source at every ``n_max``: measures, win rates and edits.

    Source ``k`` is edited from class ``source_labels[k]`` to ``target_labels[k]`` twice per ``n_max``: with the
    ``n_avg`` draws per step of ``iid_design`` and with the ``n_avg / 2`` antithetic pairs of ``antithetic_design``
    (equal network calls), with the source and target guidance scales of :func:`flowedit`. Give the two designs
    independent streams (different seeds).

    Returns:
        ``(frame, rows, edits)``: per-source measures (:func:`flowedit_measures`, with ``design`` and ``n_max``),
        the win rates per ``n_max`` (:func:`win_rates`, with ``n_max``, ``start_step``, ``start_t`` and ``start_s``),
        and the edits ``{n_max: {"iid": (N, ...), "antithetic": (N, ...)}}`` as float32 arrays.
    """
    if antithetic_design.group_size != 2:
        raise ValueError(f"antithetic_design must pair draws (group size 2), got {antithetic_design.name!r} "
                         f"with group size {antithetic_design.group_size}")
    if iid_design.group_size != 1:
        raise ValueError(f"iid_design must draw independent noises (group size 1), got {iid_design.name!r} "
                         f"with group size {iid_design.group_size}")
    for n_max in n_max_values:
        _check_settings(antithetic_design, num_steps, n_max, n_avg)
    if not len(sources) == len(source_labels) == len(target_labels):
        raise ValueError(f"sources ({len(sources)}), source_labels ({len(source_labels)}) and target_labels "
                         f"({len(target_labels)}) must have one entry per source")
    timesteps, _, times = flowedit_grid(model, num_steps)
    src = sources.to(torch.float32).cpu()
    conditions = {"source_cond": source_labels.to(model.device), "target_cond": target_labels.to(model.device),
                  "source_guidance_scale": source_guidance_scale, "target_guidance_scale": target_guidance_scale}
    frames, rows, edits = [], [], {}
    for n_max in n_max_values:
        n_max = int(n_max)
        measures, edits[n_max] = {}, {}
        for name, design in (("antithetic", antithetic_design), ("iid", iid_design)):
            edited = flowedit(model, sources, design=design, num_steps=num_steps, n_max=n_max, n_avg=n_avg,
                              batch_size=batch_size, progress=progress, **conditions).float().cpu()
            edits[n_max][name] = edited.numpy()
            measures[name] = flowedit_measures(src, edited, target_labels.cpu(), classifier=classifier, extractor=extractor)
            frames.append(measures[name].assign(design=name, n_max=n_max))
        first = int(num_steps) - n_max
        where = {"n_max": n_max, "start_step": first, "start_t": timesteps[first], "start_s": float(times[first])}
        rows += [{**where, **row} for row in win_rates(measures["antithetic"], measures["iid"], level=level)]
    return pd.concat(frames, ignore_index=True), rows, edits
