"""Captions, table titles and claim notes describe the config that runs, never one config in particular."""

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from snakemake.utils import validate

from antithetic.workflow.captions import stage_labels, table3_caption, table4_caption
from antithetic.workflow.claims import _paper_text, resolve_claim
from antithetic.workflow.plan import Plan

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "workflow" / "report"
#: wording that belongs to the digits models alone
DIGITS_WORDING = re.compile(r"digit|classifier[- ]feature|classifier's feature", re.IGNORECASE)
#: report captions of stages that run only on digits (their real data are the classifier's held-out digits):
#: rendered only where the config runs the stage
STAGE_OF_CAPTION = {"quality.rst": "quality.runs", "editing.rst": "editing.model", "flowedit.rst": "flowedit.model",
                    "flowedit_grid.rst": "flowedit.model"}


def _config(name):
    config = yaml.safe_load((ROOT / name).read_text())
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    return config


def _report_captions(config):
    """Every report caption the config's run writes, rendered as Snakemake renders it (Jinja2, with the
    rule's params, the config and the wildcards of a run) and then as reStructuredText."""
    from docutils.core import publish_parts
    from jinja2 import Environment, StrictUndefined

    plan = Plan(config)
    labels = stage_labels(config)
    model, sampler = (plan.table1_runs[0][:2]) if plan.table1_runs else ("m", "s")
    guided = plan.guidance_runs[0][0] if plan.guidance_runs else None
    env = Environment(trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined)
    out = {}
    for path in sorted(REPORT.glob("*.rst")):
        if path.name in STAGE_OF_CAPTION and not plan.runs_stage(STAGE_OF_CAPTION[path.name]):
            continue
        params = {"inverse.rst": {"labels": labels["table3"]}, "diversity.rst": {"labels": labels["table4"]},
                  "guidance_sweep.rst": {"accuracy": guided is not None and plan.guidance_classified(guided)}}.get(path.name, {})
        snakemake = SimpleNamespace(config=config, params=SimpleNamespace(**params),
                                    wildcards=SimpleNamespace(model=model, sampler=sampler, pairs=10))
        text = env.from_string(path.read_text()).render(snakemake=snakemake)
        publish_parts(text, writer="html", settings_overrides={"halt_level": 2, "report_level": 5})  # valid rst
        out[path.name] = text
    return out


def _claim_texts(config):
    plan = Plan(config)
    claims = yaml.safe_load((ROOT / "config" / "claims.yaml").read_text())["claims"]
    return {c["id"]: f"{c['claim']} | {_paper_text(c.get('paper'))}" for c in (resolve_claim(c, plan) for c in claims)}


def _captions(config):
    labels = stage_labels(config)
    texts = {"table3": table3_caption(labels["table3"]), "table4": table4_caption(labels["table4"])}
    texts.update(_report_captions(config))
    texts.update(_claim_texts(config))
    return texts


def test_the_paper_configs_captions_and_claim_notes_have_no_digits_wording():
    default, paper = _captions(_config("config.yaml")), _captions(_config("config/paper.yaml"))
    # the check can see digits wording: the default run's captions have it
    assert {"table3", "table4", "inverse.rst", "diversity.rst", "quality.rst", "editing.rst", "flowedit.rst", "flowedit_grid.rst",
            "guidance_sweep.rst", "C21", "C22", "C23", "C24", "C26", "C27"} <= {name for name, text in default.items() if DIGITS_WORDING.search(text)}
    assert not {"quality.rst", "editing.rst", "flowedit.rst", "flowedit_grid.rst"} & set(paper)
    leaks = {name: DIGITS_WORDING.findall(text) for name, text in paper.items() if DIGITS_WORDING.search(text)}
    assert not leaks
    assert "LPIPS with the AlexNet backbone" in paper["table4"] and "LPIPS with the AlexNet backbone" in paper["diversity.rst"]
    assert "the ground-truth images of data/celebahq-val (CelebA-HQ 256x256)" in paper["table3"]
    assert "model\ncelebahq on the ground-truth images" in paper["inverse.rst"] and "4x super-resolution" in paper["inverse.rst"]
    assert "61x61 kernel, sigma 3.0" in paper["inverse.rst"] and "11x11" in paper["diversity.rst"]
    assert "the perceptual distance here is LPIPS (AlexNet), as in the paper" in paper["C21"]


def test_the_default_runs_table_captions_are_the_committed_ones():
    """The default run's captions are generated, not changed: docs/results.md holds them as the run wrote them."""
    results = (ROOT / "docs" / "results.md").read_text()
    texts = _captions(_config("config.yaml"))
    for name in ("table3", "table4"):
        assert f"**{name}** (`results/tables/{name}.md`): {texts[name]}\n" in results
    readme = (ROOT / "README.md").read_text()
    for cid in ("C21", "C22", "C23"):  # the ledger block of the README shows claim and paper note
        claim, paper = texts[cid].split(" | ")
        assert f"| {cid} | {claim} |" in readme and (not paper or f"| {paper} |" in readme)


@pytest.mark.parametrize("perceptual,expected", [
    ([], "of SSIM (lower = more diverse); average"),
    (["classifier", "lpips"], "features (not LPIPS; higher = more diverse) and of LPIPS with the AlexNet backbone (higher"),
])
def test_table4_caption_names_every_perceptual_distance_it_measures(perceptual, expected):
    config = _config("config.yaml")
    config["diversity"]["perceptual"] = perceptual
    assert expected in table4_caption(stage_labels(config)["table4"])
