"""docs/library.md, "Use it on your pipeline": every Python block runs, in order, on tiny pipelines built offline.

The blocks name their settings in capitals (``MODEL, PROMPT, STEPS = ...``); this test replaces exactly
those assignments (a tiny Stable Diffusion, DiT and DDPM folder, 2 steps) and fails on a setting it does
not know, so a new block cannot silently need the network.
"""

import re
from pathlib import Path

import pytest
from tiny_pipelines import tiny_dit, tiny_stable_diffusion

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Use it on your pipeline"
SETTING = re.compile(r"^([A-Z][A-Z0-9_]*(?:\s*,\s*[A-Z][A-Z0-9_]*)*)\s*=\s*(.+?)(\s*#.*)?$")


def section_blocks() -> list[str]:
    text = (ROOT / "docs" / "library.md").read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    body = text[start : end if end >= 0 else None]
    return re.findall(r"```python\n(.*?)```", body, re.S)


def with_settings(block: str, settings: dict[str, object]) -> tuple[str, set[str]]:
    lines, used = [], set()
    for line in block.splitlines():
        match = SETTING.match(line)
        if match:
            names = [n.strip() for n in match.group(1).split(",")]
            unknown = [n for n in names if n not in settings]
            assert not unknown, f"docs block sets {unknown}: add a tiny value for it to this test"
            used.update(names)
            line = f"{', '.join(names)} = {', '.join(repr(settings[n]) for n in names)}"
        lines.append(line)
    return "\n".join(lines) + "\n", used


def test_the_section_has_the_documented_blocks():
    blocks = section_blocks()
    assert len(blocks) >= 4
    text = "\n".join(blocks)
    for name in ("antithetic_latents", "estimate(", "k_antithetic", "rqmc", "sequential_estimate", "load_dit", "load_unet_model"):
        assert name in text, name


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_every_python_block_runs_on_tiny_pipelines(tmp_path, tiny_unet_dir, capsys):
    settings = {
        "MODEL": str(tiny_stable_diffusion(tmp_path)),
        "PROMPT": "a photo of a cat",
        "STEPS": 2,
        "UNET_MODEL": str(tiny_unet_dir),
        "DIT_MODEL": str(tiny_dit(tmp_path)),
        "HALF_WIDTH": 20.0,
        "MAX_SAMPLES": 40,
    }
    namespace: dict[str, object] = {"__name__": "docs_example"}
    used: set[str] = set()
    for number, block in enumerate(section_blocks(), start=1):
        code, names = with_settings(block, settings)
        used |= names
        exec(compile(code, f"docs/library.md (python block {number})", "exec"), namespace)
    assert used == set(settings)
    out = capsys.readouterr().out
    for method in ("amc:", "k_amc:", "rqmc:", "Stein two-stage"):
        assert method in out, out
    result = namespace["result"]
    assert result.num_samples <= 40 and (result.budget_binding or result.half_width <= 20.0)
