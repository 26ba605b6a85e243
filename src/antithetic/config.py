"""Checks of ``config.yaml`` that a JSON schema cannot express (cross references between sections).

Types, defaults and unknown keys are handled by ``workflow/schemas/config.schema.yaml`` (validated by
the Snakefile with :func:`snakemake.utils.validate`); this module checks that every name used in an
experiment section refers to an entry of ``models``, ``samplers`` or ``designs``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ConfigError", "check_references", "require"]


class ConfigError(ValueError):
    """A config value is inconsistent; the message names the key and the fix."""


def require(config: dict[str, Any], section: str, name: str, *, used_at: str) -> dict[str, Any]:
    """Return ``config[section][name]`` or raise a :class:`ConfigError` naming ``used_at``."""
    entries = config.get(section) or {}
    if name not in entries:
        raise ConfigError(
            f"config key {used_at!r} refers to {section[:-1]} {name!r}, which is not defined under "
            f"'{section}:' (defined: {sorted(entries)}). Add it there or fix the name."
        )
    return entries[name]


def check_references(config: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` for dangling model / sampler / design names."""
    runs = (config.get("correlation") or {}).get("runs") or {}
    for model, samplers in runs.items():
        require(config, "models", model, used_at=f"correlation.runs.{model}")
        for sampler in samplers:
            require(config, "samplers", sampler, used_at=f"correlation.runs.{model}")
            check_sampler_fits(config, model, sampler, used_at=f"correlation.runs.{model}")
    if runs:
        for design in ("iid", "antithetic"):
            require(config, "designs", design, used_at="correlation (RR and PN pairs)")
    sweep = config.get("eta_sweep") or {}
    for model in sweep.get("models") or []:
        require(config, "models", model, used_at="eta_sweep.models")
        for sampler in sweep.get("samplers") or []:
            spec = require(config, "samplers", sampler, used_at="eta_sweep.samplers")
            if spec.get("kind") != "ddim":
                raise ConfigError(f"config key 'eta_sweep.samplers' lists {sampler!r} of kind {spec.get('kind')!r}; the eta sweep takes ddim samplers only")
            check_sampler_fits(config, model, sampler, used_at="eta_sweep")
    for name, spec in (config.get("samplers") or {}).items():
        if spec.get("kind") == "ddpm" and "eta" in spec:
            raise ConfigError(f"config key 'samplers.{name}.eta': ddpm always has eta = 1; remove the key or use kind: ddim")


#: model kinds that are one-shot generators x = G(z); they pair with sampler kind ``decode`` only
GENERATOR_KINDS = ("vae", "flow")


def check_sampler_fits(config: dict[str, Any], model: str, sampler: str, *, used_at: str) -> None:
    """Raise :class:`ConfigError` if a one-shot generator meets a diffusion sampler or vice versa."""
    kind = config["models"][model].get("kind")
    sampler_kind = config["samplers"][sampler].get("kind")
    if (kind in GENERATOR_KINDS) != (sampler_kind == "decode"):
        need = "a sampler of kind 'decode'" if kind in GENERATOR_KINDS else "a diffusion sampler (ddim, ddpm, ...)"
        raise ConfigError(
            f"config key {used_at!r} pairs model {model!r} (kind {kind!r}) with sampler {sampler!r} "
            f"(kind {sampler_kind!r}); a {kind!r} model needs {need}"
        )
