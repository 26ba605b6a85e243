"""The two layers: the library (``src/antithetic`` outside ``workflow/``) knows nothing of the workflow app.

The library never imports :mod:`antithetic.workflow` (absolute or relative, at top level or inside a
function) and its source never speaks of config keys: its errors name its own arguments, and the app
(:mod:`antithetic.workflow`) puts the config key and the fix in front.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "antithetic"
APP = "antithetic.workflow"
FORBIDDEN_TEXT = ("config key", "ConfigError")


def library_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if (PACKAGE / "workflow") not in p.parents)


def module_package(path: Path) -> list[str]:
    """The dotted package of ``path`` as a list, e.g. ``["antithetic", "models"]`` for models/base.py."""
    return list(path.relative_to(PACKAGE.parent).parts[:-1])  # a package's __init__ lies in the package itself


def imported_modules(node: ast.AST, package: list[str]) -> list[str]:
    """The absolute names an import statement imports (``from . import x`` also yields ``package.x``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = package[: len(package) - node.level + 1]
        if node.module:
            base = [*base, *node.module.split(".")]
    else:
        base = node.module.split(".")
    stem = ".".join(base)
    return [stem, *(f"{stem}.{alias.name}" for alias in node.names)]


def imports_app(name: str) -> bool:
    return name == APP or name.startswith(APP + ".")


def test_module_package_resolves_relative_imports():
    assert module_package(PACKAGE / "noise.py") == ["antithetic"]
    assert module_package(PACKAGE / "models" / "base.py") == ["antithetic", "models"]
    assert module_package(PACKAGE / "models" / "__init__.py") == ["antithetic", "models"]
    relative = ast.parse("from ..workflow.config import ConfigError\nfrom .. import workflow").body
    assert imported_modules(relative[0], ["antithetic", "models"])[0] == "antithetic.workflow.config"
    assert "antithetic.workflow" in imported_modules(relative[1], ["antithetic", "models"])


def test_no_library_module_imports_the_workflow_app():
    offenders = []
    for path in library_modules():
        package = module_package(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and any(imports_app(n) for n in imported_modules(node, package)):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, "library modules import the workflow app:\n" + "\n".join(offenders)


def test_no_library_module_speaks_of_config_keys():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in library_modules()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if any(text in line for text in FORBIDDEN_TEXT)
    ]
    assert not offenders, f"library modules mention {FORBIDDEN_TEXT}:\n" + "\n".join(offenders)
