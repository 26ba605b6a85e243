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
    if runs:
        for design in ("iid", "antithetic"):
            require(config, "designs", design, used_at="correlation (RR and PN pairs)")
    for name, spec in (config.get("samplers") or {}).items():
        if spec.get("kind") == "ddpm" and "eta" in spec:
            raise ConfigError(f"config key 'samplers.{name}.eta': ddpm always has eta = 1; remove the key or use kind: ddim")
