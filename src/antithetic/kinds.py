"""The registry of model, sampler and noise-design kinds: one place that says what each kind can do.

Every fact about a kind lives here and nowhere else: the library (which networks run in half
precision on CUDA, which models are one-shot generators, which estimator the samples of a noise
design feed) and whatever validates a description of models, samplers and designs read it. The
module imports only the standard library, so it is cheap to import without torch or diffusers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DESIGN_KINDS",
    "DIFFUSION",
    "GENERATOR",
    "MODEL_KINDS",
    "PARAMETRIZATIONS",
    "SAMPLER_KINDS",
    "DesignKind",
    "ModelKind",
    "Parametrization",
    "SamplerKind",
    "UnknownKindError",
    "design_kind",
    "is_hub_id",
    "fitting_samplers",
    "kinds_where",
    "model_kind",
    "parametrization",
    "sampler_kind",
]

#: a model ``x_0 = DM(z)`` obtained by integrating a noise predictor ``eps_t`` (paper, "Preliminaries")
DIFFUSION = "diffusion"
#: a one-shot generator ``x = G(z)`` (VAE decoder, normalizing flow)
GENERATOR = "generator"


class UnknownKindError(ValueError):
    """A kind name that is not registered."""


@dataclass(frozen=True)
class SamplerKind:
    """What a sampler kind is.

    Attributes:
        name: the name a sampler's ``kind`` gives.
        family: the model family it integrates (:data:`DIFFUSION` or :data:`GENERATOR`).
        stochastic: whether it always injects noise at every step (DDIM is stochastic only for eta > 0).
    """

    name: str
    family: str
    stochastic: bool = False


@dataclass(frozen=True)
class ModelKind:
    """What a model kind can do.

    Attributes:
        name: the name a model's ``kind`` gives.
        family: :data:`DIFFUSION` or :data:`GENERATOR`.
        samplers: the sampler kinds that can sample it.
        guided: has classifier-free guidance (a ``guidance_scale``), so the guidance sweep applies.
        fetchable: its weights may come from a hub id (downloaded once, then loaded offline).
        half_precision: its network runs in float16 on CUDA under ``dtype: auto``.
        trainable: it can be trained from scratch on a packaged data set (:mod:`antithetic.training`,
            :mod:`antithetic.generator_training`).
        analytic: its noise predictor is exact and closed-form (no weights).
        parametrization: what its network predicts and on which noise scale (a key of
            :data:`PARAMETRIZATIONS`); ``None`` for kinds whose model object states it (``python``) or
            that have none (one-shot generators, consistency models).
    """

    name: str
    family: str
    samplers: frozenset[str]
    guided: bool = False
    fetchable: bool = False
    half_precision: bool = False
    trainable: bool = False
    analytic: bool = False
    parametrization: str | None = None


@dataclass(frozen=True)
class Parametrization:
    """What a diffusion network predicts and on which noise scale (conversions: :mod:`antithetic.parametrization`).

    Attributes:
        name: the value of a model object's ``parametrization``.
        predicts: ``eps`` (the noise), ``score`` (``grad log p_t``), ``x0`` (the clean sample) or
            ``denoiser`` (EDM's ``D(x; sigma)``, an x0 prediction in variance-exploding coordinates).
        noise_scale: ``ddpm`` (integer timesteps of a discrete alpha-bar table), ``vp_sde`` (continuous
            ``t`` of a VP-SDE with linear or constant beta) or ``edm`` (the noise level ``sigma`` of
            ``x = x_0 + sigma n``).
        samplers: the sampler kinds that can integrate it.
    """

    name: str
    predicts: str
    noise_scale: str
    samplers: frozenset[str]


@dataclass(frozen=True)
class DesignKind:
    """What a noise design kind is (implementations: :mod:`antithetic.noise`, :mod:`antithetic.rqmc`).

    Attributes:
        name: the name a design's ``kind`` gives, and the ``name`` of its :class:`~antithetic.noise.NoiseDesign`.
        estimator: the group-mean estimator its samples feed (:func:`antithetic.estimators.estimate_groups`);
            ``None`` for designs that feed none (the partial-antithetic ablation).
    """

    name: str
    estimator: str | None = None


DESIGN_KINDS: dict[str, DesignKind] = {
    d.name: d
    for d in (
        DesignKind("iid", estimator="mc"),
        DesignKind("antithetic", estimator="amc"),
        DesignKind("k_antithetic", estimator="k_amc"),
        DesignKind("partial"),
        DesignKind("rqmc", estimator="rqmc"),
    )
}

SAMPLER_KINDS: dict[str, SamplerKind] = {
    s.name: s
    for s in (
        SamplerKind("ddim", DIFFUSION),
        SamplerKind("ddpm", DIFFUSION, stochastic=True),
        SamplerKind("consistency", DIFFUSION, stochastic=True),
        SamplerKind("decode", GENERATOR),
        # sigma-space samplers of Karras et al. (2022), Algorithms 1 and 2 (NVlabs/edm `edm_sampler`)
        SamplerKind("edm_heun", DIFFUSION),
        SamplerKind("edm_stochastic", DIFFUSION, stochastic=True),
    )
}

_EPS_SAMPLERS = frozenset({"ddim", "ddpm"})
_SIGMA_SAMPLERS = frozenset({"edm_heun", "edm_stochastic"})

#: every parametrization the samplers understand. A discrete DDPM table has no noise level between its
#: timesteps, so only the DDIM/DDPM samplers fit it; continuous noise scales fit every diffusion sampler
#: (DDIM/DDPM on a fine grid of their own, whose alpha-bars map exactly onto the continuous scale).
PARAMETRIZATIONS: dict[str, Parametrization] = {
    p.name: p
    for p in (
        Parametrization("ddpm_eps", "eps", "ddpm", _EPS_SAMPLERS),
        Parametrization("vp_sde_eps", "eps", "vp_sde", _EPS_SAMPLERS | _SIGMA_SAMPLERS),
        Parametrization("vp_sde_score", "score", "vp_sde", _EPS_SAMPLERS | _SIGMA_SAMPLERS),
        Parametrization("vp_sde_x0", "x0", "vp_sde", _EPS_SAMPLERS | _SIGMA_SAMPLERS),
        Parametrization("edm_denoiser", "denoiser", "edm", _EPS_SAMPLERS | _SIGMA_SAMPLERS),
    )
}

MODEL_KINDS: dict[str, ModelKind] = {
    k.name: k
    for k in (
        ModelKind("unet", DIFFUSION, _EPS_SAMPLERS, fetchable=True, half_precision=True, trainable=True, parametrization="ddpm_eps"),
        # a class-conditional UNet2DModel (class embedding with a null class) under classifier-free guidance
        ModelKind(
            "conditional_unet", DIFFUSION, _EPS_SAMPLERS, guided=True, fetchable=True, half_precision=True, trainable=True,
            parametrization="ddpm_eps",
        ),
        ModelKind("stable_diffusion", DIFFUSION, _EPS_SAMPLERS, guided=True, fetchable=True, half_precision=True, parametrization="ddpm_eps"),
        ModelKind("dit", DIFFUSION, _EPS_SAMPLERS, guided=True, fetchable=True, half_precision=True, parametrization="ddpm_eps"),
        ModelKind("consistency", DIFFUSION, frozenset({"consistency"}), fetchable=True, half_precision=True),
        ModelKind("affine_odd", DIFFUSION, _EPS_SAMPLERS, analytic=True, parametrization="ddpm_eps"),
        ModelKind("gaussian_mixture", DIFFUSION, _EPS_SAMPLERS, analytic=True, parametrization="ddpm_eps"),
        ModelKind("class_gaussian_mixture", DIFFUSION, _EPS_SAMPLERS, guided=True, analytic=True, parametrization="ddpm_eps"),
        # a model object built by the user's `factory: package.module:function`; it states its own
        # parametrization (optionally declared up front, so the samplers can be checked before it is built)
        ModelKind("python", DIFFUSION, _EPS_SAMPLERS | _SIGMA_SAMPLERS),
        ModelKind("vae", GENERATOR, frozenset({"decode"}), trainable=True),
        ModelKind("flow", GENERATOR, frozenset({"decode"}), trainable=True),
    )
}


def _lookup(registry: dict, name: str | None, what: str):
    if name not in registry:
        raise UnknownKindError(f"unknown {what} {name!r}; known {what}s: {sorted(registry)}")
    return registry[name]


def model_kind(name: str | None) -> ModelKind:
    """The registered :class:`ModelKind` ``name``.

    Raises:
        UnknownKindError: ``name`` is not a key of :data:`MODEL_KINDS`; the message lists the known ones.
    """
    return _lookup(MODEL_KINDS, name, "model kind")


def sampler_kind(name: str | None) -> SamplerKind:
    """The registered :class:`SamplerKind` ``name``.

    Raises:
        UnknownKindError: ``name`` is not a key of :data:`SAMPLER_KINDS`; the message lists the known ones.
    """
    return _lookup(SAMPLER_KINDS, name, "sampler kind")


def design_kind(name: str | None) -> DesignKind:
    """The registered :class:`DesignKind` ``name``.

    Raises:
        UnknownKindError: ``name`` is not a key of :data:`DESIGN_KINDS`; the message lists the known ones.
    """
    return _lookup(DESIGN_KINDS, name, "noise design kind")


def parametrization(name: str | None) -> Parametrization:
    """The registered :class:`Parametrization` ``name``.

    Raises:
        UnknownKindError: ``name`` is not a key of :data:`PARAMETRIZATIONS`; the message lists the known ones.
    """
    return _lookup(PARAMETRIZATIONS, name, "parametrization")


def fitting_samplers(kind: ModelKind, declared: str | None = None) -> frozenset[str]:
    """Sampler kinds that can sample a model of ``kind`` whose parametrization is ``declared`` (or the kind's own)."""
    name = declared or kind.parametrization
    return kind.samplers if name is None else kind.samplers & parametrization(name).samplers


def kinds_where(**capabilities: object) -> list[str]:
    """Names of the model kinds with the given capabilities, e.g. ``kinds_where(guided=True)``."""
    return sorted(k.name for k in MODEL_KINDS.values() if all(getattr(k, c) == v for c, v in capabilities.items()))


def is_hub_id(source: str | None) -> bool:
    """``owner/name`` that is not an existing local path (local folders are used in place)."""
    if not source or source.startswith((".", "/", "~")) or Path(source).expanduser().exists():
        return False
    parts = source.split("/")
    return len(parts) == 2 and all(parts)
