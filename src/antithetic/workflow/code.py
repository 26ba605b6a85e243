"""Code digests: the library source a job runs, so that an edit of it reruns the job and nothing else.

Snakemake reruns a job when its script changes, but a job's real code lives in ``src/antithetic``. Each
rule therefore declares ``params: code=code_digest("<script>.py")``: a digest of the source files in
the script's import closure inside the package. An edit of ``estimators.py`` changes the digest of the
jobs that import it (directly or through other modules) and Snakemake's ``params`` rerun trigger reruns
them; a job that never imports it keeps its digest.

The closure is found statically (:mod:`ast`; nothing is imported, so the DAG build stays fast) and at
the granularity of names: ``from antithetic.x import f`` follows the module ``x``'s top-level imports
and the imports inside ``f`` and inside the module-level functions and classes ``f`` refers to, not
those of every function of ``x``. So a table job that calls ``run_table2`` does not depend on the
plotting modules that ``run_uq_figures``, in the same job module, imports. ``import x`` and
``from package import submodule`` take the whole module. A package that exports names lazily
(:func:`antithetic._lazy.attach` with a literal ``{name: submodule}`` dict) is followed to the
submodule that defines the name. The digest covers whole files: a docstring or comment edit in a file
of the closure reruns its jobs too.

``workflow/scripts/_job.py`` (logging, threads, the fork-server hand-off) is left out on purpose: it
decides how a job runs, not what it computes (samples are bitwise equal with 1 and 2 threads, and in a
fork-server child or not), and it is part of every job.
"""

from __future__ import annotations

import ast
import atexit
import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

__all__ = ["PACKAGE", "code_digest", "import_closure"]

#: the package whose files count; imports of anything else (numpy, torch, ...) are not followed
PACKAGE = "antithetic"
#: script-side modules that are not followed (see the module docstring)
UNFOLLOWED = frozenset({"_job"})


@dataclass
class _Module:
    """What one source file imports, at top level and inside each module-level function or class."""

    path: Path
    name: str
    is_package: bool
    top_imports: list[tuple[str, str | None]] = field(default_factory=list)
    top_names: set[str] = field(default_factory=set)
    defs: dict[str, tuple[list[tuple[str, str | None]], set[str]]] = field(default_factory=dict)
    lazy: dict[str, str] = field(default_factory=dict)


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module of ``from <node.module> import ...`` written in ``module``."""
    if not node.level:
        return node.module or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, str | None]]:
    """``(module, name)`` for ``from module import name`` and ``(module, None)`` for ``import module``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(node, module, is_package)
            found += [(source, alias.name) for alias in node.names]
    return found


def _names(nodes) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}


def _lazy_exports(tree: ast.Module) -> dict[str, str]:
    """``{name: submodule}`` of a package ``__init__`` that calls ``attach(__name__, <dict>)``."""
    literals = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    literals[target.id] = node.value
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "attach" and len(node.args) == 2:
            mapping = node.args[1]
            if isinstance(mapping, ast.Name):
                mapping = literals.get(mapping.id)
            if not isinstance(mapping, ast.Dict):
                raise ValueError("attach() needs a literal {name: submodule} dict (or a module-level name bound to one) "
                                 "for the code digest to follow its lazy names")
            return ast.literal_eval(mapping)
    return {}


@lru_cache(maxsize=None)
def _parse(path: Path, name: str, is_package: bool, mtime_ns: int) -> _Module:
    tree = ast.parse(path.read_bytes(), filename=str(path))
    info = _Module(path=path, name=name, is_package=is_package, lazy=_lazy_exports(tree) if is_package else {})
    rest = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            info.defs[node.name] = (_imports(node, name, is_package), _names([node]))
        else:
            rest.append(node)
    info.top_imports = [item for node in rest for item in _imports(node, name, is_package)]
    info.top_names = _names(rest)
    return info


class _Closure:
    def __init__(self, src: Path):
        self.src = src
        self.files: set[Path] = set()
        self._seen: set[tuple[str, str | None]] = set()

    def module(self, name: str) -> _Module | None:
        if name != PACKAGE and not name.startswith(PACKAGE + "."):
            return None
        base = self.src.joinpath(*name.split("."))
        for path, is_package in ((base / "__init__.py", True), (base.with_suffix(".py"), False)):
            if path.is_file():
                return _parse(path, name, is_package, path.stat().st_mtime_ns)
        return None

    def add(self, module: str, name: str | None = None) -> None:
        """Follow ``import module`` (``name`` None) or ``from module import name``."""
        if (module, name) in self._seen:
            return
        self._seen.add((module, name))
        parts = module.split(".")
        for i in range(1, len(parts)):  # importing a.b.c runs a/__init__ and a/b/__init__
            self.add_top(".".join(parts[:i]))
        info = self.module(module)
        if info is None:
            return
        if name is None or name == "*":
            self.add_top(module)
            for definition in info.defs:
                self.add_def(info, definition)
        elif info.is_package and self.module(f"{module}.{name}") is not None:
            self.add_top(module)
            self.add(f"{module}.{name}")
        elif name in info.defs:
            self.add_top(module)
            self.add_def(info, name)
        elif name in info.lazy:
            self.add_top(module)
            self.add(f"{module}.{info.lazy[name]}", name)
        else:
            self.add_top(module)

    def add_top(self, module: str) -> None:
        if (module, "<top>") in self._seen:
            return
        self._seen.add((module, "<top>"))
        info = self.module(module)
        if info is None:
            return
        self.files.add(info.path)
        for item in info.top_imports:
            self.add(*item)
        for referenced in info.top_names & info.defs.keys():
            self.add_def(info, referenced)

    def add_def(self, info: _Module, name: str) -> None:
        if (info.name, f"<def>{name}") in self._seen:
            return
        self._seen.add((info.name, f"<def>{name}"))
        imports, names = info.defs[name]
        for item in imports:
            self.add(*item)
        for referenced in names & info.defs.keys():
            self.add_def(info, referenced)


def import_closure(script: str | Path, *, src: str | Path) -> list[Path]:
    """The files of package :data:`PACKAGE` under ``src`` that ``script`` imports, directly or not, sorted.

    Args:
        script: a Python file (a workflow script); all of its imports count, at any depth.
        src: the folder that holds the package (``<repo>/src``).
    """
    script, src = Path(script), Path(src)
    if not script.is_file():
        raise FileNotFoundError(f"script {str(script)!r} does not exist")
    closure = _Closure(src)
    for module, name in _imports(ast.parse(script.read_bytes(), filename=str(script)), "__main__", False):
        if module not in UNFOLLOWED:
            closure.add(module, name)
    return sorted(closure.files)


def code_digest(script: str | Path, *, src: str | Path, cache: str | Path | None = None) -> str:
    """SHA-256 (16 hex digits) of the package source ``script`` imports (:func:`import_closure`).

    The digest covers each file's path relative to ``src`` and its bytes, so a renamed or edited module
    of the closure changes it; the script's own text is Snakemake's to track.

    Args:
        cache: a JSON file that keeps each script's digest with the modification time and size of the
            script and of every file of its closure, and the list of the package's files; a digest is
            reused only while all of these are unchanged (a no-op rerun parses nothing). Written when
            the process exits.
    """
    src = Path(src)
    store = _DigestCache.of(Path(cache), src) if cache is not None else None
    if store is not None and (hit := store.get(Path(script))) is not None:
        return hit
    digest = hashlib.sha256()
    files = import_closure(script, src=src)
    for path in files:
        digest.update(path.relative_to(src).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    value = digest.hexdigest()[:16]
    if store is not None:
        store.put(Path(script), files, value)
    return value


def _stamp(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_mtime_ns, stat.st_size]


class _DigestCache:
    """Digests of scripts, valid while the stamps of their files and the package's file list are unchanged."""

    _open: dict[tuple[Path, Path], _DigestCache] = {}

    def __init__(self, path: Path, src: Path):
        self.path, self.src, self.dirty = path, src, False
        listing = sorted(p.relative_to(src).as_posix() for p in (src / PACKAGE).rglob("*.py"))
        self.listing = hashlib.sha256("\n".join(listing).encode()).hexdigest()
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):
            stored = {}
        self.scripts = stored.get("scripts", {}) if stored.get("listing") == self.listing else {}

    @classmethod
    def of(cls, path: Path, src: Path) -> _DigestCache:
        key = (path.resolve(), src.resolve())
        if key not in cls._open:
            cls._open[key] = cache = cls(path, src)
            atexit.register(cache.save)
        return cls._open[key]

    def get(self, script: Path) -> str | None:
        entry = self.scripts.get(str(script.resolve()))
        if entry is None:
            return None
        try:
            if any(_stamp(Path(name)) != stamp for name, stamp in entry["stamps"].items()):
                return None
        except OSError:
            return None
        return entry["digest"]

    def put(self, script: Path, files: list[Path], digest: str) -> None:
        stamps = {str(p.resolve()): _stamp(p) for p in [script, *files]}
        self.scripts[str(script.resolve())] = {"stamps": stamps, "digest": digest}
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps({"listing": self.listing, "scripts": self.scripts}))
            os.replace(tmp, self.path)
        except OSError:  # a cache: a read-only working directory only costs the next run a parse
            pass
