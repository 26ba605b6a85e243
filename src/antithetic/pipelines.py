"""Antithetic initial latents for diffusers pipelines that take ``latents=``.

:func:`antithetic_latents` returns the initial noise of samples ``start .. start + N - 1`` of a noise
design, shaped as the pipeline's ``prepare_latents`` shapes its own noise, so that
``pipe(..., latents=antithetic_latents(pipe, N))`` samples antithetic pairs ``(z, -z)`` (or K-antithetic
groups, or RQMC replicates) with any pipeline that accepts ``latents``: Stable Diffusion 1.x/2.x, SDXL,
SD3, PixArt, Flux (whose latents are packed into a sequence of 2x2 patches), ...

**Scale.** The latents are standard normal, *not* multiplied by the scheduler's ``init_noise_sigma``:
the UNet pipelines' ``prepare_latents`` multiply given latents by it themselves
(``latents = latents * self.scheduler.init_noise_sigma``, also for user latents), and the flow-matching
pipelines (SD3, Flux) use the latents as they are (their ``init_noise_sigma`` is 1). Multiplying here
as well would scale twice.

**Addressing.** Sample ``k`` depends only on ``(seed, k)`` (:mod:`antithetic.noise`): batches of
``start = 0, N, 2N, ...`` continue one sequence exactly, whatever the batch size, and the values can be
passed to :func:`antithetic.estimate` with the same design. The noise is drawn on the CPU in float32
and then moved to the pipeline's device and dtype, so it does not depend on the device either.

**When the pairing is exact.** The twin of ``z`` must see ``-z`` *and* the negation of every noise the
sampler injects afterwards. A deterministic scheduler (DDIM with ``eta=0``, Euler, Heun, DPM-Solver++
multistep, UniPC, flow-matching Euler) injects none, so negating ``latents`` is enough. Schedulers that
inject noise from the pipeline's ``generator`` (DDPM, Euler ancestral, KDPM2 ancestral, the SDE variants
of DPM-Solver, LCM, TCD, consistency models, DDIM with ``eta > 0``) draw that noise independently of the
latents, so the two samples of a pair are still exact samples but no longer an antithetic pair;
:func:`antithetic_latents` warns (:class:`InexactPairingWarning`) when it sees such a scheduler. Use
the library's samplers there (:func:`antithetic.generate.generate`), which negate the per-step noise too.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import torch

from .noise import NoiseDesign, make_design

__all__ = ["InexactPairingWarning", "antithetic_latents", "injects_noise", "latent_shape"]

#: scheduler classes that inject fresh noise from the pipeline's generator at every step
NOISE_INJECTING_SCHEDULERS = frozenset({
    "DDPMScheduler", "DDPMParallelScheduler", "DDPMWuerstchenScheduler", "EulerAncestralDiscreteScheduler",
    "KDPM2AncestralDiscreteScheduler", "DPMSolverSDEScheduler", "LCMScheduler", "TCDScheduler",
    "CMStochasticIterativeScheduler", "ScoreSdeVeScheduler", "KarrasVeScheduler", "DDIMParallelScheduler",
})
#: ``algorithm_type`` values of the DPM-Solver schedulers that inject noise
SDE_ALGORITHMS = frozenset({"sde-dpmsolver", "sde-dpmsolver++"})


class InexactPairingWarning(UserWarning):
    """The pipeline's scheduler injects noise of its own: negating ``latents`` alone does not pair the samples."""


def injects_noise(scheduler: Any) -> bool:
    """Whether ``scheduler`` injects noise from the pipeline's generator during sampling.

    True for DDPM, the ancestral and SDE schedulers, LCM, TCD, consistency models, SDE variants of
    DPM-Solver, and flow-matching Euler with ``stochastic_sampling``. DDIM is deterministic here: its
    ``eta`` is an argument of the pipeline call, not of the scheduler (``eta > 0`` injects noise too).
    """
    name = type(scheduler).__name__
    if name in NOISE_INJECTING_SCHEDULERS:
        return True
    config = getattr(scheduler, "config", {}) or {}
    if config.get("algorithm_type") in SDE_ALGORITHMS:
        return True
    if config.get("stochastic_sampling"):
        return True
    return False


def _denoiser(pipe: Any) -> Any:
    for attr in ("unet", "transformer", "prior"):
        module = getattr(pipe, attr, None)
        if module is not None and hasattr(module, "config"):
            return module
    raise TypeError(
        f"pipe_or_shape is a {type(pipe).__name__} with neither a unet nor a transformer; pass the latent shape "
        "as a tuple (channels, height, width) instead"
    )


def _vae_scale_factor(pipe: Any) -> int:
    factor = getattr(pipe, "vae_scale_factor", None)
    if factor:
        return int(factor)
    vae = getattr(pipe, "vae", None)
    if vae is not None and hasattr(vae, "config") and "block_out_channels" in vae.config:
        return 2 ** (len(vae.config.block_out_channels) - 1)
    return 1


def _is_packed(pipe: Any) -> bool:
    """Flux-style pipelines pack 2x2 latent patches into a sequence (``FluxPipeline._pack_latents``)."""
    return hasattr(type(pipe), "_pack_latents") and hasattr(type(pipe), "_unpack_latents")


def _pair(value: Any) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def latent_shape(pipe: Any, *, height: int | None = None, width: int | None = None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The shape of one initial latent of ``pipe`` as its ``prepare_latents`` makes it.

    Returns ``(noise_shape, latent_shape)``: the ``(C, h, w)`` grid the noise is drawn on, and the shape the
    pipeline takes (the same, except for packed pipelines such as Flux: ``(h/2 * w/2, 4 C)``).

    * UNet pipelines (Stable Diffusion, SDXL): ``C = unet.config.in_channels``, default
      ``height = unet.config.sample_size * vae_scale_factor``, ``h = height // vae_scale_factor``.
    * Transformer pipelines (DiT, PixArt, SD3): the same with ``pipe.transformer.config`` (and
      ``pipe.default_sample_size`` where the pipeline defines one).
    * Flux: ``C = transformer.config.in_channels // 4``, ``h = 2 * (height // (2 * vae_scale_factor))``,
      default ``height = default_sample_size * vae_scale_factor``; the latents are packed into 2x2 patches.
    """
    denoiser = _denoiser(pipe)
    config = denoiser.config
    factor = _vae_scale_factor(pipe)
    default = getattr(pipe, "default_sample_size", None) or config.get("sample_size")
    if default is None and (height is None or width is None):
        raise ValueError(f"{type(pipe).__name__} states no default sample size; pass height and width")
    default_h, default_w = _pair(default) if default is not None else (0, 0)
    height = int(height if height is not None else default_h * factor)
    width = int(width if width is not None else default_w * factor)
    channels = int(config.in_channels)
    if _is_packed(pipe):
        channels //= 4
        h, w = 2 * (height // (factor * 2)), 2 * (width // (factor * 2))
        if h < 2 or w < 2:
            raise ValueError(f"height={height} and width={width} must be at least {2 * factor} for {type(pipe).__name__}")
        return (channels, h, w), ((h // 2) * (w // 2), channels * 4)
    if height % factor or width % factor:
        raise ValueError(f"height={height} and width={width} must be multiples of the VAE scale factor {factor}")
    shape = (channels, height // factor, width // factor)
    return shape, shape


def pack_latents(latents: torch.Tensor) -> torch.Tensor:
    """``(B, C, h, w)`` -> ``(B, h/2 * w/2, 4 C)``: Flux's packing of 2x2 patches (``FluxPipeline._pack_latents``)."""
    b, c, h, w = latents.shape
    return latents.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(b, (h // 2) * (w // 2), c * 4)


def _resolve_design(design: str | NoiseDesign, seed: int | None, options: dict[str, Any]) -> NoiseDesign:
    if isinstance(design, NoiseDesign):
        if seed is not None and seed != design.seed:
            raise ValueError(f"seed={seed} differs from the design's seed {design.seed}; pass one of them")
        if options:
            raise ValueError(f"options {sorted(options)} apply to a design name, not to a {type(design).__name__}")
        return design
    if not isinstance(design, str):
        raise TypeError(f"design must be a design name or a NoiseDesign, got {type(design).__name__}")
    if design == "k_antithetic":
        options.setdefault("k", 4)
    if design == "rqmc" and "m" not in options:
        raise ValueError("design='rqmc' needs m (2^m points per replicate), e.g. m=3")
    return make_design(design, seed=0 if seed is None else seed, **options)


def _takes_latents(pipe: Any) -> bool:
    try:
        return "latents" in inspect.signature(type(pipe).__call__).parameters
    except (TypeError, ValueError):
        return True


def antithetic_latents(
    pipe_or_shape: Any,
    num_samples: int,
    *,
    design: str | NoiseDesign = "antithetic",
    seed: int | None = None,
    start: int = 0,
    height: int | None = None,
    width: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    k: int | None = None,
    m: int | None = None,
    **design_options: Any,
) -> torch.Tensor:
    """Initial latents of samples ``start .. start + num_samples - 1`` of a noise design, for ``pipe(latents=...)``.

    Args:
        pipe_or_shape: a diffusers pipeline that takes ``latents`` (the shape, device and dtype come from it),
            or the shape of one latent as a tuple.
        num_samples: how many latents; a multiple of the design's group size (2 for pairs, ``k``, ``2^m``).
        design: ``"antithetic"`` (pairs ``(z, -z)``), ``"k_antithetic"`` (``k`` members summing to 0),
            ``"rqmc"`` (scrambled Sobol replicates of ``2^m`` points), ``"iid"``, or a
            :class:`~antithetic.noise.NoiseDesign`.
        seed: base seed of the design (default 0; not with a ``NoiseDesign``, which has its own).
        start: the first sample index (a multiple of the group size): call with ``start = 0, N, 2N, ...``
            to continue one sequence batch by batch.
        height, width: image size in pixels (default: the pipeline's default size).
        device, dtype: where the latents go (default: the pipeline's device and its denoiser's dtype;
            CPU float32 for a tuple).
        k: members per group of ``"k_antithetic"`` (default 4).
        m: ``2^m`` points per replicate of ``"rqmc"`` (required there).
        design_options: further parameters of the design, e.g. ``high_dim="padded"`` for RQMC on latents
            with more than 21,201 coordinates.

    Returns:
        A tensor ``(num_samples, *latent_shape)`` of standard normal latents, not scaled by the
        scheduler's ``init_noise_sigma`` (the pipeline's ``prepare_latents`` scales given latents itself).

    Warns:
        InexactPairingWarning: the pipeline's scheduler injects noise of its own (see :func:`injects_noise`),
            so the twins are exact samples but not an antithetic pair.

    Raises:
        TypeError: the pipeline takes no ``latents`` (DDPMPipeline, DiTPipeline): use
            :func:`antithetic.generate.generate` with :func:`antithetic.load_unet_model` or
            :func:`antithetic.load_dit`, which pair exactly.
        ValueError: ``num_samples`` or ``start`` splits a group, or a design parameter is missing or bad.

    Example:

    ```py
    >>> from antithetic import antithetic_latents
    >>> z = antithetic_latents((4, 8, 8), 4, seed=0)
    >>> bool((z[1] == -z[0]).all()), tuple(z.shape)
    (True, (4, 4, 8, 8))
    ```
    """
    options = dict(design_options)
    if k is not None:
        options["k"] = k
    if m is not None:
        options["m"] = m
    noise_design = _resolve_design(design, seed, options)
    noise_design.check_num_samples(num_samples)
    if start < 0 or start % noise_design.group_size:
        raise ValueError(f"start={start} must be a non-negative multiple of the design's group size {noise_design.group_size}")
    packed = False
    if isinstance(pipe_or_shape, (tuple, list, torch.Size)):
        noise_shape = tuple(int(d) for d in pipe_or_shape)
        if height is not None or width is not None:
            raise ValueError("height and width apply to a pipeline; with a shape tuple, put the size in the tuple")
        device = device or "cpu"
        dtype = dtype or torch.float32
    else:
        pipe = pipe_or_shape
        if not _takes_latents(pipe):
            raise TypeError(
                f"{type(pipe).__name__} takes no latents= argument; sample it with antithetic.generate(...) on "
                "antithetic.load_unet_model(...) (DDPM/DDIM UNet pipelines) or antithetic.load_dit(...) (DiT), which "
                "negate the initial and every per-step noise (docs/library.md, 'Use it on your pipeline')"
            )
        noise_shape, _ = latent_shape(pipe, height=height, width=width)
        packed = _is_packed(pipe)
        denoiser = _denoiser(pipe)
        device = device or getattr(pipe, "device", None) or "cpu"
        dtype = dtype or getattr(denoiser, "dtype", None) or torch.float32
        scheduler = getattr(pipe, "scheduler", None)
        if scheduler is not None and injects_noise(scheduler) and noise_design.group_size > 1:
            warnings.warn(
                f"{type(scheduler).__name__} injects noise from the pipeline's generator at every step; negating only "
                "latents= gives exact samples but not antithetic pairs. Use a deterministic scheduler (DDIM with eta=0, "
                "Euler, DPM-Solver++ multistep, UniPC) or antithetic.generate, which negates the per-step noise too",
                InexactPairingWarning,
                stacklevel=2,
            )
    indices = range(int(start), int(start) + int(num_samples))
    latents = noise_design.initial_noise(indices, noise_shape)  # CPU float32, seed-addressed
    if packed:
        latents = pack_latents(latents)
    return latents.to(device=device, dtype=dtype)

