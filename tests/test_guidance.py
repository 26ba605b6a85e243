"""The classifier-free-guidance sweep: guided sampling jobs, the digits classifier's accuracy on the guided samples
and the PN/RR-vs-scale table.

The default run sweeps the learned class-conditional digits model and the exact class-conditional mixture
(tests/workflow/test_end_to_end.py runs it); these tests run the sweep's job functions on the exact mixture and on
tiny random Stable Diffusion and DiT pipelines.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from tiny_pipelines import tiny_dit, tiny_stable_diffusion

from antithetic.artifacts import load_samples
from antithetic.workflow.jobs import (
    run_guidance_accuracy,
    run_guidance_sweep,
    run_guidance_sweep_figure,
    run_guided_sampling,
)

ROOT = Path(__file__).resolve().parents[1]


def _config(models, steps):
    return {
        "seed": 0,
        "models": models,
        "samplers": {"ddim": {"kind": "ddim", "num_steps": steps, "eta": 0.0}},
        "designs": {"iid": {"kind": "iid", "offset": 1024}, "antithetic": {"kind": "antithetic"}},
    }


def _sweep(tmp_path, config, model, scales, pairs):
    entries = []
    for w in scales:
        entry = {"scale": w}
        for kind, design in (("pn", "antithetic"), ("rr", "iid")):
            out = tmp_path / f"w{w:g}" / f"{design}.npz"
            run_guided_sampling(
                model=model, model_spec=config["models"][model], guidance_scale=w, sampler="ddim",
                sampler_spec=config["samplers"]["ddim"], design=design, design_spec=config["designs"][design],
                seed=config["seed"], num_samples=2 * pairs, out_samples=out, out_provenance=out.with_suffix(".json"), device="cpu", batch_size=64, progress=False,
            )
            entry[kind] = out
        entries.append(entry)
    table = run_guidance_sweep(
        samples=entries, out_csv=tmp_path / "sweep.csv", out_pairs=tmp_path / "pairs.csv",
        out_summary=tmp_path / "sweep.json", labels={"model": model, "sampler": "ddim"},
    )
    run_guidance_sweep_figure(csv=tmp_path / "sweep.csv", title=f"{model}, ddim", out_figure=tmp_path / "sweep.png")
    return table, entries


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    """A small digits classifier (a few seconds), saved as the workflow's rule train_classifier saves it."""
    from antithetic.workflow.jobs.classifier import run_classifier_training

    path = tmp_path_factory.mktemp("classifier") / "digits-classifier"
    run_classifier_training(settings={"epochs": 12, "min_accuracy": 0.9}, out_dir=path)
    return path


def test_the_classifier_reads_the_requested_class_more_often_as_guidance_rises(tmp_path, classifier_dir):
    from scipy import stats

    from antithetic.models.conditional import ClassLabels

    spec = {"kind": "class_gaussian_mixture", "means": "digits", "std": 0.3, "label_seed": 3}
    _, entries = _sweep(tmp_path, _config({"gmm": spec}, steps=10), "gmm", [0.0, 4.0], pairs=32)
    scores = run_guidance_accuracy(samples=entries, classifier_dir=classifier_dir, labels={"label_seed": 3}, pairs=32,
                                   out_csv=tmp_path / "accuracy.csv")
    assert len(scores) == 2 * 2 * 64
    assert scores["label"].tolist() == ClassLabels("random", num_classes=10, seed=3)(scores["sample"].tolist()).tolist()
    scored = scores[scores["scored"]]
    assert (scored["kind"] == "RR").all() and (scored["sample"] % 2 == 0).all() and len(scored) == 2 * 32  # one per slot
    table = run_guidance_sweep(samples=entries, out_csv=tmp_path / "s.csv", out_pairs=tmp_path / "p.csv",
                               out_summary=tmp_path / "s.json", labels={"model": "gmm"}, accuracy=tmp_path / "accuracy.csv")
    unguided, guided = table.to_dict("records")
    assert guided["accuracy"] > unguided["accuracy"] + 0.5  # w = 0 draws the mixture: about 1 in 10 by chance
    hits = int(scored.loc[scored["guidance_scale"] == 4.0, "correct"].sum())
    ci = stats.binomtest(hits, 32).proportion_ci(confidence_level=0.95, method="exact")
    assert (guided["accuracy"], guided["accuracy_low"], guided["accuracy_high"]) == pytest.approx((hits / 32, ci.low, ci.high))
    assert guided["accuracy_samples"] == 32
    run_guidance_sweep_figure(csv=tmp_path / "s.csv", title="gmm, ddim", out_figure=tmp_path / "with_accuracy.png")
    assert (tmp_path / "with_accuracy.png").stat().st_size > 0
    with pytest.raises(ValueError, match="the model has 12 classes but the digits classifier 10"):
        run_guidance_accuracy(samples=entries, classifier_dir=classifier_dir, labels={"num_classes": 12}, pairs=32,
                              out_csv=tmp_path / "bad.csv")


def test_a_sweep_reads_the_first_pairs_of_a_larger_samples_file(tmp_path):
    config = _config({"gmm": {"kind": "class_gaussian_mixture", "means": "digits", "std": 0.3}}, steps=5)
    small, small_entries = _sweep(tmp_path / "small", config, "gmm", [2.0], pairs=8)
    _, large_entries = _sweep(tmp_path / "large", config, "gmm", [2.0], pairs=20)
    shared = run_guidance_sweep(samples=large_entries, out_csv=tmp_path / "s.csv", out_pairs=tmp_path / "p.csv",
                                out_summary=tmp_path / "s.json", labels={"model": "gmm", "sampler": "ddim"}, pairs=8)
    pd.testing.assert_frame_equal(shared, small, rtol=1e-5)
    first = load_samples(large_entries[0]["pn"]).first(16)
    assert first.indices.tolist() == list(range(16)) and first.design == load_samples(small_entries[0]["pn"]).design
    np.testing.assert_allclose(first.samples, load_samples(small_entries[0]["pn"]).samples, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="first 15 of 40 samples of a design of group size 2"):
        load_samples(large_entries[0]["pn"]).first(15)


def test_sweep_on_the_exact_class_conditional_mixture(tmp_path):
    config = _config({"gmm": {"kind": "class_gaussian_mixture", "means": "digits", "std": 0.3}}, steps=10)
    table, entries = _sweep(tmp_path, config, "gmm", [0.0, 1.0, 4.0], pairs=32)
    assert table["guidance_scale"].tolist() == [0.0, 1.0, 4.0]
    assert (table["pn_pairs"] == 32).all() and (table["rr_pairs"] == 32).all()
    # PN pairs stay below RR pairs at every scale (centered: the shared class layout removed)
    assert (table["pn_centered_mean"] < table["rr_centered_mean"]).all()
    provenance = json.loads(Path(entries[2]["pn"]).with_suffix(".json").read_text())
    assert provenance["model"]["guidance_scale"] == 4.0 and provenance["dtype"] == "torch.float32"
    pairs = pd.read_csv(tmp_path / "pairs.csv")
    assert set(pairs["guidance_scale"]) == {0.0, 1.0, 4.0} and len(pairs) == 3 * 2 * 32
    assert (tmp_path / "sweep.png").stat().st_size > 0 and (tmp_path / "sweep.json").is_file()
    # the ledger's C4 reads the per-pair file: three rows per sweep, each with its interval
    from antithetic.workflow.claims import evaluate

    c4 = next(c for c in yaml.safe_load((ROOT / "config" / "claims.yaml").read_text())["claims"] if c["id"] == "C4")
    rows = evaluate(c4, [{"model": "gmm", "sampler": "ddim", "files": {"pairs": str(tmp_path / "pairs.csv")}}])
    assert [r.sampler for r in rows] == ["ddim RR - PN (every scale)", "ddim PN rise (w 0 to 4)", "ddim RR rise (w 0 to 4)"]
    assert all(np.isfinite([r.value, r.ci_low, r.ci_high]).all() and r.ci_low <= r.value <= r.ci_high for r in rows)
    assert rows[0].verdict == "reproduced"  # PN below RR at every scale, as the table's means above


@pytest.mark.parametrize("kind", ["stable_diffusion", "dit"])
def test_sweep_runs_on_tiny_latent_pipelines(tmp_path, kind):
    if kind == "stable_diffusion":
        (tmp_path / "prompts.txt").write_text("a cat at the window\nthe red house\n")
        spec = {"kind": kind, "pretrained": str(tiny_stable_diffusion(tmp_path)), "prompts": str(tmp_path / "prompts.txt")}
    else:
        spec = {"kind": kind, "pretrained": str(tiny_dit(tmp_path)), "class_labels": "random"}
    table, entries = _sweep(tmp_path / "out", _config({"m": spec}, steps=3), "m", [1.0, 5.0], pairs=3)
    assert len(table) == 2 and np.isfinite(table[["pn_standard_mean", "rr_standard_mean"]].to_numpy()).all()
    # the scale reaches the network: same noise, different images
    a, b = (load_samples(e["pn"]).samples for e in entries)
    assert a.shape == (6, 3, 16, 16) and np.abs(a - b).max() > 1e-4


def test_guided_sampling_needs_a_model_with_guidance(tmp_path):
    config = _config({"plain": {"kind": "affine_odd", "mean": 0.0, "std": 0.5}}, steps=2)
    with pytest.raises(ValueError, match="guidance.runs.plain"):
        run_guided_sampling(model="plain", model_spec=config["models"]["plain"], guidance_scale=2.0, sampler="ddim",
                            sampler_spec=config["samplers"]["ddim"], design="iid", design_spec=config["designs"]["iid"], seed=0,
                            num_samples=2, out_samples=tmp_path / "x.npz", out_provenance=tmp_path / "x.json")


@pytest.mark.slow
def test_paper_config_plans_a_job_for_every_paper_table_and_figure(tmp_path):
    """The paper-scale config's DAG, built offline (dry run): a job for each table and figure of the paper."""
    import re
    import shutil

    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"models": {}, "samplers": {}}))  # replaced below
    shutil.copytree(ROOT / "config", tmp_path / "config")  # the prompt file is relative to the working directory
    (tmp_path / "data" / "celebahq-val").mkdir(parents=True)  # inverse.images: the user's CelebA-HQ images
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)  # diversity.perceptual [lpips]: AlexNet weights cached
    (tmp_path / "torch" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth").write_bytes(b"")
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path), "--cores", "1",
           "--configfile", str(ROOT / "config" / "paper.yaml"), "--replace-workflow-config", "--dry-run"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TORCH_HOME": str(tmp_path / "torch")}
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    planned = dict(re.findall(r"^(\w+)\s+(\d+)$", out[out.index("Job stats:"):], re.MULTILINE))
    paper = {
        "table1": "Table 1 (and Table 5's ddpm-1000 row)", "pair_figures": "Figure 1", "table2": "Table 2",
        "uq_estimates": "Table 2", "inverse_dps": "Table 3", "table3": "Table 3", "diversity": "Table 4", "table4": "Table 4",
        "trajectory_correlations": "Figure 3", "symmetry_probe": "Figure 4 / Table 10", "symmetry_table": "Table 10",
        "partial_map": "partial-negation ablation", "guidance_sweep": "guidance ablation", "theorem1_fisher": "Theorem 1",
        # the figures, each drawn by a rule of its own from the files of the jobs above
        "table3_figure": "Table 3", "table4_figure": "Table 4", "trajectory_figure": "Figure 3", "symmetry_slices_figure": "Figure 4",
        "as_vs_noise_figure": "Table 10", "partial_map_figure": "partial-negation ablation", "guidance_sweep_figure": "guidance ablation",
        "fisher_figure": "Theorem 1",
    }
    missing = {rule: what for rule, what in paper.items() if int(planned.get(rule, 0)) == 0}
    assert not missing, missing
    # guided_sample: 2 models x 5 scales x 2 designs, less each model's own scale (7.5, 4), read from its Table 1 samples
    for rule, count in (("fetch_model", 9), ("guided_sample", 16), ("uq_estimates", 4), ("inverse_dps", 3), ("diversity", 9)):
        assert int(planned[rule]) == count, (rule, planned[rule])
    # the default experiment set is replaced, not merged in: no digits model is trained or sampled
    assert "train_model" not in planned and "train_classifier" not in planned and "digits-" not in out
    # without the user's images the DPS jobs stop with the key and the fix named
    (tmp_path / "data" / "celebahq-val").rmdir()
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode != 0 and "config key 'inverse.images': no folder 'data/celebahq-val'" in out, out[-3000:]
