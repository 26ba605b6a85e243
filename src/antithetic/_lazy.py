"""Lazy package attributes: a package names which submodule defines each public name, and the submodule
is imported on first access. Table, figure and claim jobs import ``antithetic`` packages without paying
for torch or diffusers; a sampling job pays only for the model kinds it builds."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def attach(package: str, names: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` whose public name ``n`` lives in submodule ``names[n]``.

    Use in a package's ``__init__``: ``__getattr__, __dir__ = attach(__name__, {"build_model": "registry"})``.
    """

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(import_module(f".{names[name]}", package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(import_module(package))) | set(names))

    return __getattr__, __dir__
