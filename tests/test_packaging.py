"""`pip install antithetic` is the library: its requirements name none of the workflow's packages, and
importing it and running its documented example imports none of them."""

import email
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = {"torch", "diffusers", "numpy", "scipy", "tqdm"}
WORKFLOW = {"snakemake", "pandas", "matplotlib", "scikit-learn", "threadpoolctl", "torchmetrics", "torchvision", "prdc",
            "tabulate", "jinja2", "pyyaml", "seaborn"}
#: modules the library must not import (the workflow's, by their import names)
FORBIDDEN_MODULES = ("snakemake", "matplotlib", "seaborn", "pandas", "prdc", "tabulate", "sklearn", "torchmetrics")
# (jinja2 is not among them: torch itself requires and imports it)


def _name(requirement: str) -> str:
    for sep in "<>=!~;[ ":
        requirement = requirement.split(sep)[0]
    return requirement.strip().lower()


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_pyproject_core_requirements_are_the_librarys_and_the_workflow_is_an_extra():
    project = _pyproject()["project"]
    core = {_name(r) for r in project["dependencies"]}
    assert core == CORE
    assert {_name(r) for r in project["optional-dependencies"]["workflow"]} >= WORKFLOW - {"seaborn"}
    assert project["scripts"] == {"antithetic": "antithetic.cli:main"}
    assert (ROOT / "src" / "antithetic" / "py.typed").is_file()


def test_built_wheel_metadata(tmp_path):
    pytest.importorskip("setuptools")
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"),
                    str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("antithetic-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = email.message_from_bytes(archive.read(meta_name))
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "antithetic/py.typed" in names
    assert "antithetic = antithetic.cli:main" in entry_points
    requires = metadata.get_all("Requires-Dist")
    core = {_name(r) for r in requires if "extra ==" not in r}
    assert core == CORE and not core & WORKFLOW
    workflow = {_name(r) for r in requires if 'extra == "workflow"' in r}
    assert workflow >= WORKFLOW - {"seaborn"}


EXAMPLE = r'''
import sys, warnings
import numpy as np
import antithetic
from antithetic import (AntitheticNoise, antithetic_latents, brightness, estimate, load_unet_model, make_design,
                        sequential_estimate, to_model_range)
from antithetic.generate import generate

model = load_unet_model(sys.argv[1], name="tiny")
design = AntitheticNoise(seed=0)
samples = generate(model, design=design, num_samples=8, sampler="ddpm", sampler_options={"num_steps": 3}, progress=False)
print(estimate(brightness(samples.samples), design))
z = antithetic_latents((1, 8, 8), 8, design=make_design("k_antithetic", k=4, seed=0))
images = (np.clip(z.numpy(), -1, 1) + 1) / 2
print(estimate(brightness(images, value_range=(0, 1)), make_design("k_antithetic", k=4, seed=0)))
print(sequential_estimate(lambda s, c: brightness(to_model_range(np.full((c, 2, 2, 3), 0.5) + 0.01 * np.arange(s, s + c)[:, None, None, None] % 7 / 7 - 0.005)),
                          design, half_width=5.0, n0=4))
forbidden = sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN})
print("FORBIDDEN:", forbidden)
'''


def test_importing_the_library_and_running_its_example_imports_no_workflow_package(tiny_unet_dir):
    code = "import sys, antithetic; print(sorted(m for m in sys.modules if m.split('.')[0] in %r))" % (set(FORBIDDEN_MODULES),)
    bare = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert bare.stdout.strip() == "[]"
    script = EXAMPLE.replace("{FORBIDDEN}", repr(set(FORBIDDEN_MODULES)))
    run = subprocess.run([sys.executable, "-c", script, str(tiny_unet_dir)], capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "FORBIDDEN: []" in run.stdout, run.stdout
    assert "amc" in run.stdout and "k_amc" in run.stdout and "Stein two-stage" in run.stdout
