"""The registry of model kinds and sampler kinds: one place that says what each kind can do.

Every fact about a kind lives here and nowhere else: the config checks
(:mod:`antithetic.config`), the workflow rules (which models to fetch, which may be guided) and the
library (which networks run in half precision on CUDA, which models are one-shot generators) all read
it. The module imports only the standard library, so the Snakefile can use it while it builds the
DAG without paying for torch or diffusers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DIFFUSION",
    "GENERATOR",
    "MODEL_KINDS",
    "SAMPLER_KINDS",
    "ModelKind",
    "SamplerKind",
    "UnknownKindError",
    "is_hub_id",
    "kinds_where",
    "model_kind",
    "sampler_kind",
]

#: a model ``x_0 = DM(z)`` obtained by integrating a noise predictor ``eps_t`` (paper, "Preliminaries")
DIFFUSION = "diffusion"
#: a one-shot generator ``x = G(z)`` (VAE decoder, normalizing flow)
GENERATOR = "generator"


class UnknownKindError(ValueError):
    """A config names a kind that is not registered."""


@dataclass(frozen=True)
class SamplerKind:
    """What a sampler kind is.

    Attributes:
        name: the config value ``samplers.<name>.kind``.
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
        name: the config value ``models.<name>.kind``.
        family: :data:`DIFFUSION` or :data:`GENERATOR`.
        samplers: the sampler kinds that can sample it.
        guided: has classifier-free guidance (a ``guidance_scale``), so the guidance sweep applies.
        fetchable: its ``pretrained`` may be a hub id that the workflow downloads once (rule ``fetch_model``).
        half_precision: its network runs in float16 on CUDA under ``dtype: auto``.
        trainable: the workflow can train it from a ``train:`` block (rule ``train_model``).
        analytic: its noise predictor is exact and closed-form (no weights).
    """

    name: str
    family: str
    samplers: frozenset[str]
    guided: bool = False
    fetchable: bool = False
    half_precision: bool = False
    trainable: bool = False
    analytic: bool = False


SAMPLER_KINDS: dict[str, SamplerKind] = {
    s.name: s
    for s in (
        SamplerKind("ddim", DIFFUSION),
        SamplerKind("ddpm", DIFFUSION, stochastic=True),
        SamplerKind("consistency", DIFFUSION, stochastic=True),
        SamplerKind("decode", GENERATOR),
    )
}

_EPS_SAMPLERS = frozenset({"ddim", "ddpm"})

MODEL_KINDS: dict[str, ModelKind] = {
    k.name: k
    for k in (
        ModelKind("unet", DIFFUSION, _EPS_SAMPLERS, fetchable=True, half_precision=True, trainable=True),
        ModelKind("stable_diffusion", DIFFUSION, _EPS_SAMPLERS, guided=True, fetchable=True, half_precision=True),
        ModelKind("dit", DIFFUSION, _EPS_SAMPLERS, guided=True, fetchable=True, half_precision=True),
        ModelKind("consistency", DIFFUSION, frozenset({"consistency"}), fetchable=True, half_precision=True),
        ModelKind("affine_odd", DIFFUSION, _EPS_SAMPLERS, analytic=True),
        ModelKind("gaussian_mixture", DIFFUSION, _EPS_SAMPLERS, analytic=True),
        ModelKind("class_gaussian_mixture", DIFFUSION, _EPS_SAMPLERS, guided=True, analytic=True),
        ModelKind("vae", GENERATOR, frozenset({"decode"}), trainable=True),
        ModelKind("flow", GENERATOR, frozenset({"decode"}), trainable=True),
    )
}


def model_kind(name: str | None, *, config_key: str = "models.<name>.kind") -> ModelKind:
    """The registered :class:`ModelKind` ``name``, or an error naming ``config_key`` and the known kinds."""
    if name not in MODEL_KINDS:
        raise UnknownKindError(f"config key {config_key!r} is {name!r}; known model kinds: {sorted(MODEL_KINDS)}")
    return MODEL_KINDS[name]


def sampler_kind(name: str | None, *, config_key: str = "samplers.<name>.kind") -> SamplerKind:
    """The registered :class:`SamplerKind` ``name``, or an error naming ``config_key`` and the known kinds."""
    if name not in SAMPLER_KINDS:
        raise UnknownKindError(f"config key {config_key!r} is {name!r}; known sampler kinds: {sorted(SAMPLER_KINDS)}")
    return SAMPLER_KINDS[name]


def kinds_where(**capabilities: object) -> list[str]:
    """Names of the model kinds with the given capabilities, e.g. ``kinds_where(guided=True)``."""
    return sorted(k.name for k in MODEL_KINDS.values() if all(getattr(k, c) == v for c, v in capabilities.items()))


def is_hub_id(source: str | None) -> bool:
    """``owner/name`` that is not an existing local path (local folders are used in place)."""
    if not source or source.startswith((".", "/", "~")) or Path(source).expanduser().exists():
        return False
    parts = source.split("/")
    return len(parts) == 2 and all(parts)
