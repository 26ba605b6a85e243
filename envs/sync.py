"""Write envs/antithetic.yaml (the rules' conda environment) from the pins of requirements.txt.

requirements.txt is the one place where versions are pinned; run ``make envs/antithetic.yaml`` after
editing it. The test suite checks that the committed environment file is up to date.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS_MARKER = "# -- tools:"

HEADER = """\
# Conda environment for `snakemake --sdm conda` (the library itself is imported from src/).
# Generated from requirements.txt by `make envs/antithetic.yaml`: edit the pins there, not here.
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
"""


def library_pins(requirements: str) -> list[str]:
    """The pinned requirements above the tools marker, in file order."""
    pins = []
    for line in requirements.splitlines():
        if line.startswith(TOOLS_MARKER):
            break
        line = line.split("#", 1)[0].strip()
        if line:
            pins.append(line)
    return pins


def render(requirements: str) -> str:
    return HEADER + "".join(f"      - {pin}\n" for pin in library_pins(requirements))


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "envs" / "antithetic.yaml"
    out.write_text(render((ROOT / "requirements.txt").read_text()))
