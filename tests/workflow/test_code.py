"""Code digests (antithetic.workflow.code): the package files a script imports, to the imported name."""

import os
import textwrap
from pathlib import Path

import pytest

from antithetic.workflow import code


def _package(root: Path) -> Path:
    """A small ``antithetic`` package: ``stats.mean`` uses ``core`` only, ``stats.plot`` imports ``drawing``;
    ``lazy`` exports ``deep`` from ``lazy.impl`` through ``attach``."""
    files = {
        "antithetic/__init__.py": "",
        "antithetic/core.py": "def helper():\n    return 1\n",
        "antithetic/drawing.py": "def draw():\n    return 2\n",
        "antithetic/unused.py": "X = 3\n",
        "antithetic/stats.py": textwrap.dedent("""
            from .core import helper

            def mean():
                return _inner()

            def _inner():
                from . import core
                return core.helper()

            def plot():
                from .drawing import draw
                return draw()
            """),
        "antithetic/lazy/__init__.py": "from .._lazy import attach\n_EXPORTS = {'deep': 'impl'}\n__getattr__, __dir__ = attach(__name__, _EXPORTS)\n",
        "antithetic/lazy/impl.py": "def deep():\n    from ..unused import X\n    return X\n",
        "antithetic/_lazy.py": "def attach(package, names):\n    return None, None\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def names(files, src):
    return sorted(p.relative_to(src).as_posix() for p in files)


def test_the_closure_follows_the_imported_name_not_the_whole_module(tmp_path):
    src = _package(tmp_path / "src")
    mean = _script(tmp_path / "mean.py", "from _job import start\nfrom antithetic.stats import mean\n")
    plot = _script(tmp_path / "plot.py", "from antithetic.stats import plot\n")
    whole = _script(tmp_path / "whole.py", "import antithetic.stats\n")
    assert names(code.import_closure(mean, src=src), src) == ["antithetic/__init__.py", "antithetic/core.py", "antithetic/stats.py"]
    assert "antithetic/drawing.py" in names(code.import_closure(plot, src=src), src)
    assert "antithetic/drawing.py" in names(code.import_closure(whole, src=src), src)  # `import m` takes all of m


def test_a_lazy_export_is_followed_to_the_submodule_that_defines_it(tmp_path):
    src = _package(tmp_path / "src")
    script = _script(tmp_path / "s.py", "from antithetic.lazy import deep\n")
    assert {"antithetic/lazy/impl.py", "antithetic/unused.py"} <= set(names(code.import_closure(script, src=src), src))


def test_the_digest_changes_with_a_file_of_the_closure_and_only_with_it(tmp_path):
    src = _package(tmp_path / "src")
    script = _script(tmp_path / "mean.py", "from antithetic.stats import mean\n")
    before = code.code_digest(script, src=src)
    with open(src / "antithetic" / "drawing.py", "a") as f:  # imported only by stats.plot
        f.write("# edit\n")
    assert code.code_digest(script, src=src) == before
    with open(src / "antithetic" / "core.py", "a") as f:
        f.write("# edit\n")
    assert code.code_digest(script, src=src) != before


def test_the_cache_reuses_a_digest_until_a_stamp_or_the_file_list_changes(tmp_path, monkeypatch):
    src = _package(tmp_path / "src")
    script = _script(tmp_path / "mean.py", "from antithetic.stats import mean\n")
    cache = tmp_path / "cache.json"
    monkeypatch.setattr(code._DigestCache, "_open", {})
    first = code.code_digest(script, src=src, cache=cache)
    code._DigestCache._open[(cache.resolve(), src.resolve())].save()
    assert cache.is_file()

    monkeypatch.setattr(code._DigestCache, "_open", {})  # a new process: reads the file
    calls = []
    monkeypatch.setattr(code, "import_closure", lambda *a, **k: calls.append(a) or pytest.fail("a cached digest was recomputed"))
    assert code.code_digest(script, src=src, cache=cache) == first
    monkeypatch.undo()

    core = src / "antithetic" / "core.py"
    core.write_text(core.read_text() + "# edit\n")
    os.utime(core, ns=(core.stat().st_atime_ns, core.stat().st_mtime_ns + 10**9))
    monkeypatch.setattr(code._DigestCache, "_open", {})
    edited = code.code_digest(script, src=src, cache=cache)
    assert edited != first and edited == code.code_digest(script, src=src)
    (src / "antithetic" / "new.py").write_text("")  # a new module may change what an import resolves to
    monkeypatch.setattr(code._DigestCache, "_open", {})
    store = code._DigestCache.of(cache, src)
    assert store.get(script) is None
