"""The claims ledger: decision rules, measures on files with known answers, and the CI guard."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from snakemake.utils import validate

from antithetic.workflow.claims import claim_targets, compare_verdicts, evaluate, main, resolve_claim, verdict
from antithetic.workflow.plan import Plan

ROOT = Path(__file__).resolve().parents[2]


def _claim(**kw):
    return {"id": "X1", "claim": "a claim", "source": "Table 1", **kw}


@pytest.mark.parametrize(
    "test,value,low,high,expected",
    [
        ({"ci_below": 0}, -0.5, -0.6, -0.4, "reproduced"),
        ({"ci_below": 0}, -0.5, -0.6, 0.1, "not reproduced"),  # the point is below, the CI is not
        ({"ci_above": 1}, 3.0, 2.0, 4.0, "reproduced"),
        ({"ci_above": 1}, 3.0, float("nan"), float("nan"), "not reproduced"),  # no CI, no verdict of significance
        ({"ci_not_above": 1}, 1.02, 0.98, 1.06, "reproduced"),  # a bound that the data do not show violated
        ({"ci_not_above": 1}, 1.3, 1.1, 1.5, "not reproduced"),
        ({"at_most": 1.1}, 1.05, float("nan"), float("nan"), "reproduced"),
    ],
)
def test_decision_rules(test, value, low, high, expected):
    assert verdict(_claim(test=test), value, low, high, {}) == expected


def test_ci_contains_target():
    claim = _claim(test={"ci_contains_target": True})
    assert verdict(claim, 2.0, 1.8, 2.2, {"target": 2.1}) == "reproduced"
    assert verdict(claim, 2.0, 1.8, 2.2, {"target": 2.5}) == "not reproduced"


def test_weaker_than_the_paper_depends_on_which_side_is_strong():
    lower = _claim(test={"ci_below": 0}, paper={"range": [-0.9, -0.4]}, stronger="lower")
    assert verdict(lower, -0.58, -0.6, -0.56, {}) == "reproduced"  # inside the paper's range
    assert verdict(lower, -0.2, -0.3, -0.1, {}) == "reproduced, weaker than the paper"
    higher = _claim(test={"ci_above": 1}, paper={"range": [26, 131]}, stronger="higher")
    assert verdict(higher, 4.6, 4.0, 5.2, {}) == "reproduced, weaker than the paper"
    assert verdict(higher, 40, 35, 45, {}) == "reproduced"


def _pairs_csv(path, pn, rr):
    frame = pd.concat([
        pd.DataFrame({"pair": range(len(pn)), "kind": "PN", "standard": pn, "centered": pn}),
        pd.DataFrame({"pair": range(len(rr)), "kind": "RR", "standard": rr, "centered": rr}),
    ])
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def test_pair_measures_have_t_and_welch_intervals(tmp_path):
    rng = np.random.default_rng(0)
    pn, rr = rng.normal(-0.5, 0.1, 400), rng.normal(0.0, 0.3, 300)
    path = tmp_path / "pairs.csv"
    _pairs_csv(path, pn, rr)
    target = [{"model": "m", "sampler": "s", "files": {"pairs": str(path)}}]
    (row,) = evaluate(_claim(measure={"kind": "pair_mean", "pair": "PN", "variant": "centered"}, test={"ci_below": 0}), target)
    half = 1.9659 * pn.std(ddof=1) / np.sqrt(400)  # t quantile, 399 dof
    assert row.value == pytest.approx(pn.mean()) and row.ci_high - row.value == pytest.approx(half, rel=1e-3)
    (diff,) = evaluate(_claim(measure={"kind": "pair_difference", "variant": "centered"}, test={"ci_below": 0}), target)
    se = np.sqrt(pn.var(ddof=1) / 400 + rr.var(ddof=1) / 300)
    assert diff.value == pytest.approx(pn.mean() - rr.mean()) and (diff.ci_high - diff.value) / se == pytest.approx(1.966, abs=0.01)
    assert diff.verdict == "reproduced" and diff.file == str(path)


def test_welch_interval_covers_at_the_nominal_rate():
    from antithetic.workflow.claims import _welch_ci

    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(2000):
        lo_hi = _welch_ci(rng.normal(0.3, 1.0, 12), rng.normal(0.0, 3.0, 30))
        hits += lo_hi[1] <= 0.3 <= lo_hi[2]
    assert 0.935 <= hits / 2000 <= 0.965


def _t_closed_form(v, level):
    from scipy import stats

    half = stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return v.mean(), v.mean() - half, v.mean() + half


def _welch_closed_form(a, b, level):
    from scipy import stats

    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(0.5 + level / 2, dof) * np.sqrt(va + vb)
    diff = a.mean() - b.mean()
    return diff, diff - half, diff + half


def test_t_and_welch_intervals_are_the_closed_forms():
    from antithetic.workflow.claims import _t_ci, _t_ci_from_summary, _welch_ci

    rng = np.random.default_rng(3)
    for level in (0.9, 0.95, 0.99):
        for n, m in ((2, 3), (7, 40), (500, 120)):
            a, b = rng.normal(0.3, 1.0, n) * 5, rng.standard_t(3, m)
            np.testing.assert_allclose(_t_ci(a, level), _t_closed_form(a, level), rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(_welch_ci(a, b, level), _welch_closed_form(a, b, level), rtol=1e-12, atol=1e-12)
            # the summary form used for the trajectories is the same interval
            np.testing.assert_allclose(_t_ci_from_summary(a.mean(), a.std(ddof=1), n, level), _t_ci(a, level)[1:], rtol=1e-12, atol=1e-12)


def test_t_and_welch_intervals_drop_nan_and_need_two_values():
    from antithetic.workflow.claims import _t_ci, _t_ci_from_summary, _welch_ci

    v = np.array([1.0, np.nan, 2.0, np.inf, 4.0])
    np.testing.assert_allclose(_t_ci(v), _t_closed_form(np.array([1.0, 2.0, 4.0]), 0.95), rtol=1e-12)
    np.testing.assert_allclose(_welch_ci(v, v[::-1] * 2), _welch_closed_form(np.array([1.0, 2.0, 4.0]), np.array([8.0, 4.0, 2.0]), 0.95),
                               rtol=1e-12)
    mean, low, high = _t_ci([1.5, np.nan])
    assert mean == 1.5 and np.isnan(low) and np.isnan(high)
    assert all(np.isnan(_t_ci([])))
    assert _t_ci([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)  # no spread: a zero-width interval
    diff, low, high = _welch_ci([1.0], [1.0, 2.0, 3.0])
    assert diff == -1.0 and np.isnan(low) and np.isnan(high)
    diff, low, high = _welch_ci([2.0, 2.0], [1.0, 1.0, 1.0])  # Welch's degrees of freedom 0 / 0
    assert diff == 1.0 and np.isnan(low) and np.isnan(high)
    assert all(np.isnan(_t_ci_from_summary(0.5, 0.1, 1)))


def test_partial_region_on_an_exactly_linear_generator(tmp_path):
    # x = z (a linear, odd generator): negated pixels give correlation -1, kept ones +1
    from antithetic.artifacts import save_samples
    from antithetic.noise import PartialAntitheticNoise
    from antithetic.sample_set import SampleSet

    design = PartialAntitheticNoise(region="top_half", seed=0)
    z = design.initial_noise(range(64), (1, 4, 4)).numpy()
    groups, members = np.arange(64) // 2, np.arange(64) % 2
    samples = SampleSet(samples=z, indices=np.arange(64), groups=groups, members=members, design=design.describe(), sampler={"kind": "decode"})
    save_samples(tmp_path / "partial.npz", samples)
    target = [{"model": "lin", "sampler": "decode", "files": {"samples": str(tmp_path / "partial.npz")}, "region": "top_half"}]
    (neg,) = evaluate(_claim(measure={"kind": "partial_region", "part": "negated"}, test={"ci_below": 0}), target)
    (kept,) = evaluate(_claim(measure={"kind": "partial_region", "part": "kept"}, test={"ci_above": 0}), target)
    assert neg.value == pytest.approx(-1.0) and kept.value == pytest.approx(1.0)
    assert neg.verdict == kept.verdict == "reproduced"


def _ledger_and_plan(config_file):
    """The claims file and the plan of a config, each validated against its schema (defaults filled)."""
    claims = yaml.safe_load((ROOT / "config" / "claims.yaml").read_text())
    validate(claims, str(ROOT / "workflow" / "schemas" / "claims.schema.yaml"))
    config = yaml.safe_load((ROOT / config_file).read_text())
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    plan = Plan(config)
    return [resolve_claim(c, plan) for c in claims["claims"]], plan


def test_the_ledger_file_is_valid_and_plans_the_committed_verdict_set_on_the_default_config():
    import csv

    claims, plan = _ledger_and_plan("config.yaml")
    expected = list(csv.DictReader(open(ROOT / "config" / "expected_verdicts.csv")))
    not_run = {r["id"] for r in expected if r["verdict"].startswith("not run here")}
    assert not_run == {"P1", "P2", "P3"}
    for claim in claims:
        targets = claim_targets(claim, plan)
        assert all(Path(p).parts[0] == "results" for t in targets for p in t["files"].values())
        if claim["id"] in not_run:  # checkpoints are not in the default run: listed with their command
            assert targets == [] and claim["command"]
            (row,) = evaluate(claim, targets)
            assert row.verdict == next(r["verdict"] for r in expected if r["id"] == claim["id"])
            assert row.detail["command"] == claim["command"]
            continue
        assert targets, f"{claim['id']} has no target in config.yaml"
        if claim["measure"]["kind"] != "table_rows" and not claim.get("volatile"):  # table rows come from the table
            keys = {(t["model"], t["sampler"]) for t in targets}
            rows = {(r["model"], r["sampler"]) for r in expected if r["id"] == claim["id"]}
            # a target may give several labelled rows (C4: three per guidance sweep, "<sampler> <label>")
            owners = {(m, next((s for tm, s in keys if tm == m and (rs == s or rs.startswith(f"{s} "))), None)) for m, rs in rows}
            assert owners == keys, claim["id"]
    table1 = claim_targets(next(c for c in claims if c["id"] == "C1"), plan)
    assert ("digits-vae", "decode") in {(t["model"], t["sampler"]) for t in table1}  # generators are Table 1 rows too


def test_the_paper_config_measures_the_paper_rows_the_sampler_gap_and_the_guidance_sweep():
    claims, plan = _ledger_and_plan("config/paper.yaml")
    targets = {c["id"]: claim_targets(c, plan) for c in claims}
    checkpoints = plan.models_where({"pretrained": True})
    assert checkpoints == set(plan.config["models"]) and len(checkpoints) == 9
    # P1-P3: the Table 1, Table 2 and Table 10 measures on the checkpoints, the same runs as C1, C13 and C7
    for pid, cid in (("P1", "C1"), ("P2", "C13"), ("P3", "C7")):
        assert targets[pid] and targets[pid] == targets[cid], pid
    assert {t["model"] for t in targets["P3"]} == {"cifar10", "church"}
    # C3 from the sampler specs: DDPM (1000 steps) against deterministic DDIM (50) on CIFAR-10, Table 5
    assert [(t["model"], t["sampler"]) for t in targets["C3"]] == [("cifar10", "ddpm-1000 vs ddim-50")]
    assert [(t["model"], t["sampler"]) for t in targets["C4"]] == [("sd15", "ddim-50"), ("dit-xl-2-256", "ddim-50")]
    assert targets["C4"][0]["files"]["pairs"] == "results/guidance/sd15/ddim-50/sweep_50_pairs.csv"
    # the default config's checkpoint-free models are no checkpoints: P1-P3 are not run there
    _, default = _ledger_and_plan("config.yaml")
    assert default.models_where({"pretrained": True}) == set()
    assert default.models_where({"pretrained": False, "kinds": ["unet"]}) == {"digits-ddpm"}


def test_the_guidance_config_measures_the_guidance_claims_alone():
    claims, plan = _ledger_and_plan("config/guidance-digits.yaml")
    measured = {c["id"] for c in claims if claim_targets(c, plan)}
    assert measured == {"C4", "C28"}


def test_the_default_config_measures_the_guidance_claims_on_the_learned_and_the_exact_model():
    claims, plan = _ledger_and_plan("config.yaml")
    targets = {c["id"]: claim_targets(c, plan) for c in claims}
    runs = [("digits-cddpm", "ddim-clipped"), ("digits-gmm-cond", "ddim")]
    assert [(t["model"], t["sampler"]) for t in targets["C4"]] == runs
    assert [(t["model"], t["sampler"]) for t in targets["C28"]] == runs
    assert targets["C28"][0]["files"]["accuracy"] == "results/guidance/digits-cddpm/ddim-clipped/accuracy_200.csv"
    # the class-conditional digits model is a Table 1 row too (at its own scale), like the paper's DiT row
    assert ("digits-cddpm", "ddim-clipped") in {(t["model"], t["sampler"]) for t in targets["C1"]}
    # only models of the digit classes are scored by the digits classifier
    assert plan.guidance_classified("digits-cddpm") and plan.guidance_classified("digits-gmm-cond")
    assert not plan.guidance_classified("digits-ddpm") and not Plan({"models": {"sd": {"kind": "stable_diffusion"}}}).guidance_classified("sd")


def test_the_sweep_reads_the_table1_samples_at_the_models_own_scale():
    _, plan = _ledger_and_plan("config.yaml")
    assert plan.guided_samples("digits-cddpm", "ddim-clipped", 4.0, "antithetic") == "results/samples/digits-cddpm/ddim-clipped/antithetic_n1000_seed0.npz"
    assert plan.guided_samples("digits-cddpm", "ddim-clipped", 2.0, "antithetic") == "results/guidance/digits-cddpm/ddim-clipped/w2/antithetic_n400_seed0.npz"
    # a sweep of more pairs than Table 1 drew samples its own, as does a model without a Table 1 row
    assert plan.guided_samples("digits-cddpm", "ddim-clipped", 4.0, "antithetic", pairs=600).startswith("results/guidance/")
    assert plan.guided_samples("digits-gmm-cond", "ddim", 1.0, "iid-disjoint") == "results/guidance/digits-gmm-cond/ddim/w1/iid-disjoint_n400_seed0.npz"


def _accuracy_csv(path, scales, accuracy, slots=200, seed=0):
    """A guidance_accuracy table: every scale's RR sample 2j of each slot j, correct with probability accuracy(w)."""
    rng = np.random.default_rng(seed)
    base = rng.random(slots)  # slot j keeps its noise across scales: a slot right at one scale tends to stay right
    rows = []
    for w in scales:
        rows.append(pd.DataFrame({"guidance_scale": w, "kind": "RR", "sample": 2 * np.arange(slots), "slot": np.arange(slots),
                                  "label": 0, "predicted": 0, "correct": base < accuracy(w), "scored": True}))
        rows.append(pd.DataFrame({"guidance_scale": w, "kind": "PN", "sample": 2 * np.arange(slots), "slot": np.arange(slots),
                                  "label": 0, "predicted": 1, "correct": False, "scored": False}))  # not counted
    pd.concat(rows).to_csv(path, index=False)


def test_guidance_accuracy_rise_and_its_decision_rule(tmp_path):
    from antithetic.workflow.claims import _t_ci

    claims, _ = _ledger_and_plan("config.yaml")
    c28 = next(c for c in claims if c["id"] == "C28")
    path = tmp_path / "accuracy.csv"
    target = [{"model": "m", "sampler": "ddim", "files": {"accuracy": str(path)}}]
    _accuracy_csv(path, [0.0, 1.0, 8.0], accuracy=lambda w: {0.0: 0.1, 1.0: 0.7, 8.0: 0.95}[w])
    (row,) = evaluate(c28, target)
    assert row.sampler == "ddim accuracy rise (w 0 to 8)" and row.verdict == "reproduced"
    frame = pd.read_csv(path)
    rr = frame[frame["scored"]].pivot(index="slot", columns="guidance_scale", values="correct").astype(float)
    assert (row.value, row.ci_low, row.ci_high) == pytest.approx(_t_ci(rr[8.0] - rr[0.0]))
    assert row.detail["accuracy"] == pytest.approx([rr[w].mean() for w in (0.0, 1.0, 8.0)])
    # no rise: not reproduced
    _accuracy_csv(path, [0.0, 8.0], accuracy=lambda w: 0.5)
    (row,) = evaluate(c28, target)
    assert row.value == 0 and row.verdict == "not reproduced"


def test_sampler_gap_runs_come_from_the_sampler_specs():
    config = {
        "samplers": {
            "det": {"kind": "ddim", "num_steps": 20},  # eta absent: 0, deterministic
            "half": {"kind": "ddim", "num_steps": 20, "eta": 0.5},
            "anc": {"kind": "ddpm", "num_steps": 100},
            "full": {"kind": "ddim", "num_steps": 20, "eta": 1.0},
            "heun": {"kind": "edm_heun", "num_steps": 18},
            "churn": {"kind": "edm_stochastic", "num_steps": 18},
        },
        "correlation": {"pairs": 10, "runs": {"a": ["anc", "det", "full", "heun", "churn"], "b": ["half", "anc"], "c": ["det", "half"]}},
    }
    plan = Plan(config)
    # by the noise injected (DDIM by eta, then DDPM), then Table 1's order; b has no deterministic DDIM
    assert plan.sampler_gap_runs == [("c", "det", "half"), ("a", "det", "full"), ("a", "det", "anc")]
    assert plan.injected_noise("heun") is None and plan.injected_noise("det") == 0.0


def _sweep_csv(path, scales, pn_mean, rr_mean, pairs=200, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 0.05, (2, pairs))  # pair j keeps its noise across scales
    rows = []
    for w in scales:
        for kind, mean, b in (("PN", pn_mean, base[0]), ("RR", rr_mean, base[1])):
            values = mean(w) + b + rng.normal(0, 0.02, pairs)
            rows.append(pd.DataFrame({"guidance_scale": w, "pair": range(pairs), "kind": kind, "standard": values, "centered": values}))
    pd.concat(rows).to_csv(path, index=False)


def test_guidance_sweep_rows_and_their_decision_rule(tmp_path):
    from antithetic.workflow.claims import _t_ci, _welch_ci

    claims, _ = _ledger_and_plan("config/guidance-digits.yaml")
    c4 = next(c for c in claims if c["id"] == "C4")
    path = tmp_path / "sweep_pairs.csv"
    target = [{"model": "m", "sampler": "ddim", "files": {"pairs": str(path)}}]
    scales = [0.0, 1.0, 4.0]
    _sweep_csv(path, scales, pn_mean=lambda w: -0.6 + 0.05 * w, rr_mean=lambda w: 0.05 * w)
    rows = evaluate(c4, target)
    assert [r.sampler for r in rows] == ["ddim RR - PN (every scale)", "ddim PN rise (w 0 to 4)", "ddim RR rise (w 0 to 4)"]
    assert [r.verdict for r in rows] == ["reproduced"] * 3
    frame = pd.read_csv(path)

    def v(kind, w):
        return frame[(frame["kind"] == kind) & (frame["guidance_scale"] == w)].sort_values("pair")["centered"].to_numpy()

    gaps = [_welch_ci(v("RR", w), v("PN", w)) for w in scales]
    assert rows[0].ci_low == pytest.approx(min(g[1] for g in gaps)) and rows[0].ci_high == pytest.approx(min(g[2] for g in gaps))
    assert (rows[1].value, rows[1].ci_low, rows[1].ci_high) == pytest.approx(_t_ci(v("PN", 4.0) - v("PN", 0.0)))
    # PN reaches RR at one scale: "below at every scale" fails; RR flat: "RR rises" fails
    _sweep_csv(path, scales, pn_mean=lambda w: -0.6 + 0.15 * w, rr_mean=lambda w: 0.0)
    rows = evaluate(c4, target)
    assert [r.verdict for r in rows] == ["not reproduced", "reproduced", "not reproduced"]
    assert rows[0].detail["worst_scale"] == 4.0


def test_paper_table10_rows_test_each_statistic_against_its_own_threshold(tmp_path):
    claims, _ = _ledger_and_plan("config/paper.yaml")
    p3 = next(c for c in claims if c["id"] == "P3")
    rng = np.random.default_rng(0)
    frames = []
    for sigma, t, low in ((0.99, 999, 0.985), (0.1, 10, 0.5)):
        for d in range(24):
            frames.append(pd.DataFrame({"t": t, "sigma": sigma, "direction": d, "as_score": rng.uniform(low, 1.0, 16)}))
    path = tmp_path / "as_scores.csv"
    pd.concat(frames).to_csv(path, index=False)
    rows = evaluate(p3, [{"model": "cifar10", "sampler": "", "files": {"scores": str(path)}}])
    assert [(r.sampler, r.test, r.detail["target"]) for r in rows] == [("as_mean", "CI > target", 0.99), ("as_q10", "CI > target", 0.97)]
    # scores uniform on [0.985, 1]: mean 0.9925 above 0.99, 10% quantile 0.9865 above 0.97
    assert [r.verdict for r in rows] == ["reproduced", "reproduced"]
    assert verdict(p3, 0.985, 0.98, 0.99, {"target": 0.99}) == "not reproduced"


def test_ci_guard_fails_on_a_changed_verdict_and_names_the_numbers(tmp_path):
    """Perturb one input: the PN correlations turn positive, the verdict flips, the guard names it."""
    rng = np.random.default_rng(2)
    path = tmp_path / "pairs.csv"
    claim = _claim(measure={"kind": "pair_mean", "pair": "PN", "variant": "centered"}, test={"ci_below": 0})
    target = [{"model": "m", "sampler": "s", "files": {"pairs": str(path)}}]

    _pairs_csv(path, rng.normal(-0.5, 0.1, 100), rng.normal(0, 0.3, 100))
    ledger = tmp_path / "claims.json"
    ledger.write_text(json.dumps({"rows": [r.to_dict() for r in evaluate(claim, target)]}))
    expected = tmp_path / "expected.csv"
    assert main(["expect", str(ledger), str(expected)]) == 0
    assert main(["check", str(ledger), str(expected)]) == 0

    _pairs_csv(path, rng.normal(0.2, 0.1, 100), rng.normal(0, 0.3, 100))  # the perturbed input
    rows = [r.to_dict() for r in evaluate(claim, target)]
    ledger.write_text(json.dumps({"rows": rows}))
    assert main(["check", str(ledger), str(expected)]) == 1
    import csv

    (message,) = compare_verdicts(rows, list(csv.DictReader(open(expected))))
    assert message.startswith("X1 (m s): verdict changed from 'reproduced' at -0.")
    assert "to 'not reproduced' at 0.1" in message


def test_readme_block_is_spliced_between_markers_and_checked(tmp_path):
    from antithetic.workflow.readme import BEGIN, END, claims_summary, splice
    from antithetic.workflow.readme import main as readme_main

    records = [
        {"id": "C1", "claim": "PN < 0", "source": "Table 1", "value": -0.58, "paper": "-0.91 to -0.41", "verdict": "reproduced"},
        {"id": "C1", "claim": "PN < 0", "source": "Table 1", "value": -0.46, "paper": "-0.91 to -0.41", "verdict": "reproduced, weaker than the paper"},
    ]
    summary = claims_summary(records)
    assert "| C1 | PN < 0 | Table 1 | -0.58 to -0.46 | -0.91 to -0.41 | reproduced: 1/2; reproduced, weaker than the paper: 1/2 |" in summary
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{BEGIN}\nold numbers\n{END}\n\nmore text\n")
    block = tmp_path / "block.md"
    block.write_text(summary + "\n")
    assert readme_main(["check", str(readme), str(block)]) == 1  # stale block
    assert readme_main(["write", str(readme), str(block)]) == 0
    assert readme_main(["check", str(readme), str(block)]) == 0
    text = readme.read_text()
    assert text.startswith("# title\n") and text.endswith("more text\n") and "old numbers" not in text
    assert splice(text, summary) == text


def _results_block(tmp_path, platform, *, value=-0.58, verdict="reproduced", efficiency="1.82", task="inpainting"):
    from antithetic.workflow.readme import results_block

    claims = tmp_path / "claims.json"  # the block names its files: the same paths, rewritten for each block
    claims.write_text(json.dumps({"rows": [
        {"id": "C1", "claim": "PN < 0", "source": "Table 1", "value": value, "paper": "-0.91", "verdict": verdict},
        {"id": "C1", "claim": "PN < 0", "source": "Table 1", "value": -0.46, "paper": "-0.91", "verdict": "reproduced"},
    ]}))
    table = tmp_path / "table3.md"
    table.write_text(f"Table 3: caption.\n\n| task | efficiency |\n|:--|--:|\n| {task} | {efficiency} |\n| deblurring | 0.9 |\n")
    return results_block(claims_json=claims, tables={"table3": table}, platform=platform)


def test_readme_check_takes_another_cpus_rounding_but_nothing_else(tmp_path, capsys):
    from antithetic.workflow.readme import BEGIN, BLOCKS, END, PLATFORM_PREFIX, numeric_differences
    from antithetic.workflow.readme import main as readme_main

    here, there = "CPU A (x86_64, AVX-512), 2 CPUs, torch 2.14.1", "CPU B (x86_64, AVX2), 2 CPUs, torch 2.14.1"
    committed = _results_block(tmp_path, here)
    assert committed.startswith(f"{PLATFORM_PREFIX}{here}.\n")
    readme, block = tmp_path / "README.md", tmp_path / "block.md"
    readme.write_text(f"# title\n\n{BEGIN}\n{END}\n\n" + "\n".join(BLOCKS["tables"]) + "\n")  # the ledger, then the tables

    def check(generated):
        block.write_text(generated)
        return [readme_main(["check", str(readme), str(block), name]) for name in ("results", "tables")]

    block.write_text(committed)
    assert readme_main(["write", str(readme), str(block), "results"]) == 0
    assert readme_main(["write", str(readme), str(block), "tables"]) == 0
    rounded = _results_block(tmp_path, there, value=-0.5812, efficiency="1.8")  # the padding of the cells changes too
    assert numeric_differences(committed, rounded) == [
        (a, b) for a, b in zip(committed.splitlines()[1:], rounded.splitlines()[1:]) if a != b
    ] and len(numeric_differences(committed, rounded)) == 2
    assert check(rounded) == [0, 0]
    err = capsys.readouterr().err
    assert "the results block was computed on" in err and "the tables block was computed on" in err
    assert err.count("1 lines differ, in their numbers only") == 2  # the ledger's value and the table's efficiency
    # the same numbers on the same platform are a change to explain, not rounding
    assert check(_results_block(tmp_path, here, value=-0.5812)) == [1, 0]
    assert check(_results_block(tmp_path, here, efficiency="1.8")) == [0, 1]
    # another platform, but a claim's verdict, a row's text or the number of lines changed
    for changed, failing in ((_results_block(tmp_path, there, verdict="not reproduced"), [1, 0]),
                             (_results_block(tmp_path, there, task="painting"), [0, 1]),
                             (_results_block(tmp_path, there) + "\n| extra | 1 |\n", [0, 1])):
        assert numeric_differences(committed, changed) is None
        assert check(changed) == failing
        assert "beyond its numbers" in capsys.readouterr().err
    # a verdict count is a number, but not a rounding
    recount = committed.replace("reproduced: 2/2", "reproduced: 1/2").replace(here, there)
    assert recount != committed.replace(here, there) and check(recount)[0] == 1


def test_results_block_splits_into_the_readme_ledger_and_the_docs_tables(tmp_path):
    from antithetic.workflow.readme import CLAIMS_HEADER, PLATFORM_PREFIX, block_part

    block = _results_block(tmp_path, "CPU A")
    ledger, tables = block_part(block, "results"), block_part(block, "tables")
    # both parts name the platform, in a paragraph of its own
    assert ledger.startswith(f"{PLATFORM_PREFIX}CPU A.\n\n**Claims ledger**") and tables.startswith(f"{PLATFORM_PREFIX}CPU A.\n\n**table3**")
    assert CLAIMS_HEADER in ledger and "table3" not in ledger and "inpainting" not in ledger
    assert CLAIMS_HEADER not in tables and "| inpainting | 1.82 |" in tables and "Claims ledger" not in tables
    # nothing is lost or repeated but the platform line
    def body(text):
        return [line for line in text.splitlines() if line.strip() and not line.startswith(PLATFORM_PREFIX)]

    assert body(ledger) + body(tables) == body(block)
    assert block_part(block, "bench") == block.strip()  # other blocks go in whole


def test_cpu_description_names_the_model_and_the_widest_vector_extension(tmp_path, monkeypatch):
    import antithetic.artifacts as artifacts

    intel, epyc, arm, old = (tmp_path / name for name in ("intel", "epyc", "arm", "old"))
    intel.write_text("".join(f"processor\t: {i}\nmodel name\t: Intel(R) Xeon(R) Platinum 8481C\n"
                             "flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw\n\n" for i in range(2)))
    epyc.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7B12\nflags\t\t: fpu sse2 avx avx2 fma\n")
    arm.write_text("processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes sha2\nCPU part\t: 0xd0c\n")
    old.write_text("model name\t: Some CPU\nflags\t\t: fpu sse2\n")
    monkeypatch.setattr(artifacts.platform, "machine", lambda: "x86_64")
    assert artifacts.cpu_description(intel) == "Intel(R) Xeon(R) Platinum 8481C (x86_64, AVX-512)"
    assert artifacts.cpu_description(epyc) == "AMD EPYC 7B12 (x86_64, AVX2)"
    assert artifacts.cpu_description(old) == "Some CPU (x86_64)"
    monkeypatch.setattr(artifacts.platform, "machine", lambda: "aarch64")
    monkeypatch.setattr(artifacts.platform, "processor", lambda: "")
    assert artifacts.cpu_description(arm) == "unknown CPU (aarch64, NEON)"
    assert artifacts.cpu_description(tmp_path / "missing") == "unknown CPU (aarch64)"
    assert artifacts.compute_platform().endswith(f"CPUs, torch {__import__('torch').__version__.split('+')[0]}")


def test_readme_summary_does_not_depend_on_row_order_or_timings():
    from antithetic.workflow.readme import claims_summary

    rows = [
        {"id": "C1", "claim": "c", "source": "s", "value": v, "paper": "", "verdict": verdict}
        for v, verdict in ((-0.5, "reproduced"), (0.1, "not reproduced"), (-0.4, "reproduced"))
    ]
    assert claims_summary(rows) == claims_summary(rows[::-1])
    assert "not reproduced: 1/3; reproduced: 2/3" in claims_summary(rows)
    timing = [{**r, "id": "C18", "volatile": True} for r in rows]
    line = claims_summary(timing).splitlines()[-1]
    assert "reproduced" not in line and "0.1" not in line and "varies between runs" in line


def test_readme_block_leaves_timing_columns_to_the_generated_file(tmp_path):
    from antithetic.workflow.readme import results_block

    (tmp_path / "claims.json").write_text(json.dumps({"rows": []}))
    table = tmp_path / "table3.md"
    table.write_text("Table 3: caption.\n\n| task | efficiency | s / sample |\n|:--|--:|--:|\n| inpainting | 1.82 | 0.068 |\n")
    block = results_block(claims_json=tmp_path / "claims.json", tables={"table3": table})
    assert "| task | efficiency |" in block and "| inpainting | 1.82 |" in block
    assert "0.068" not in block and "(Column `s / sample` left to the file" in block


def test_table_rows_measure_reads_a_stage_table_with_its_own_interval(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the plan's paths are relative to the working directory
    table = tmp_path / "results" / "tables" / "table3.csv"
    table.parent.mkdir(parents=True)
    pd.DataFrame({
        "model": ["m", "m", "m"], "task": ["inpainting", "inpainting", "deblurring"], "statistic": ["l1", "psnr", "l1"],
        "efficiency": [1.5, 0.9, 2.0], "efficiency_ci_low": [1.2, 0.7, 0.8], "efficiency_ci_high": [1.9, 1.1, 3.1],
    }).to_csv(table, index=False)
    claim = _claim(measure={"kind": "table_rows", "table": "table3", "value": "efficiency",
                            "low": "efficiency_ci_low", "high": "efficiency_ci_high", "label": ["task", "statistic"]},
                   test={"ci_above": 1})
    assert claim_targets(claim, Plan({"inverse": {"model": None}})) == []  # the stage does not run: nothing to read
    targets = claim_targets(claim, Plan({"inverse": {"model": "m"}}))
    assert [t["files"]["table"] for t in targets] == ["results/tables/table3.csv"]
    rows = evaluate(claim, targets)
    assert [(r.sampler, r.verdict) for r in rows] == [
        ("inpainting l1", "reproduced"), ("inpainting psnr", "not reproduced"), ("deblurring l1", "not reproduced"),
    ]


def test_flowedit_claims_read_one_row_per_n_max_of_the_stage_table(tmp_path, monkeypatch):
    """C26 and C27 on the default config: the FlowEdit table's win rates with their binomial CIs, one row per n_max,
    worded for the class condition and the digits classifier's measures."""
    from antithetic.flowedit import win_rates
    from antithetic.workflow.tables import flowedit_table

    claims, plan = _ledger_and_plan("config.yaml")
    c26, c27 = (next(c for c in claims if c["id"] == cid) for cid in ("C26", "C27"))
    assert "target class (the condition is a digit class" in c26["claim"] and "digits classifier's probability" in c26["claim"]
    assert "digits classifier's features to the source (the paper: LPIPS)" in c27["claim"]
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    rows = []
    for n_max, shift in ((20, 0.0), (40, 0.3)):  # at n_max 40 the antithetic edits are better in most sources
        iid = pd.DataFrame({"source": range(100), "hit": 1, "target_probability": rng.uniform(0, 1, 100),
                            "faithfulness_feature": rng.uniform(0, 1, 100)})
        anti = iid.assign(target_probability=iid["target_probability"] + rng.normal(shift, 0.2, 100),
                          faithfulness_feature=iid["faithfulness_feature"] - rng.normal(shift, 0.2, 100))
        rows += [{"model": "digits-gmm-cond", "n_max": n_max, "num_steps": 50, "start_s": 0.5, **r} for r in win_rates(anti, iid)]
    assert [t["files"]["table"] for t in claim_targets(c26, plan)] == ["results/tables/flowedit.csv"]
    Path("results/tables").mkdir(parents=True)
    flowedit_table(pd.DataFrame(rows))[0].to_csv("results/tables/flowedit.csv", index=False)
    for claim, measure in ((c26, "target_probability"), (c27, "faithfulness_feature")):
        measured = evaluate(claim, claim_targets(claim, plan))
        assert [(r.model, r.sampler) for r in measured] == [("digits-gmm-cond", f"{n} {measure}") for n in (20, 40)]
        expected = [r for r in rows if r["measure"] == measure]
        np.testing.assert_allclose([(r.value, r.ci_low, r.ci_high) for r in measured],
                                   [(e["win_rate"], e["ci_low"], e["ci_high"]) for e in expected], rtol=1e-12)
        assert [r.verdict for r in measured] == ["not reproduced", "reproduced"]  # CI > 0.5 at n_max 40 only


@pytest.mark.parametrize("extra,valid", [
    ({"needs": "a GPU"}, False),  # needs names its command
    ({"measure": {"kind": "pair_mean"}}, False),  # a measure needs its decision rule
    ({}, False),  # neither measured nor listed
    ({"measure": {"kind": "pair_mean"}, "test": {"ci_below": 0}, "models": {"pretrained": "yes"}}, False),
    ({"measure": {"kind": "pair_mean"}, "test": {"ci_below": 0}, "models": {"pretrained": True}, "needs": "a GPU", "command": "c"}, True),
    ({"needs": "a measure nobody has written", "command": "c"}, True),  # listed only: always 'not run here'
])
def test_claims_schema_pairs_needs_with_command_and_measure_with_test(extra, valid):
    from snakemake.exceptions import WorkflowError

    claims = {"claims": [_claim(**extra)]}
    if valid:
        validate(claims, str(ROOT / "workflow" / "schemas" / "claims.schema.yaml"))
        (row,) = evaluate(claims["claims"][0], claim_targets(claims["claims"][0], Plan({"models": {}})))
        assert row.verdict.startswith("not run here (needs a")
    else:
        with pytest.raises(WorkflowError):
            validate(claims, str(ROOT / "workflow" / "schemas" / "claims.schema.yaml"))


def test_claim_placeholders_are_filled_from_the_config_and_a_typo_is_named():
    plan = Plan({"diversity": {"runs": {"m": ["s"]}, "perceptual": ["lpips"]}})
    claim = _claim(claim="cost $$1 for ${perceptual_note}", paper={"value": 1.0, "note": "${editing_source}"})
    resolved = resolve_claim(claim, plan)
    assert resolved["claim"] == "cost $1 for the perceptual distance here is LPIPS (AlexNet), as in the paper"
    assert resolved["paper"]["note"] == "a real image" and claim["claim"].startswith("cost $$1")  # the claim itself is kept
    with pytest.raises(ValueError, match=r"claim X1: claim has a placeholder 'perceptual' that is not one of"):
        resolve_claim(_claim(claim="${perceptual}"), plan)


def _claim_run(tmp_path, rows):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "claims.yaml").write_text(yaml.safe_dump({"claims": [{"id": "C1"}, {"id": "C13"}]}))
    (tmp_path / "results" / "claims").mkdir(parents=True)
    (tmp_path / "results" / "claims" / "C13.json").write_text(json.dumps({"rows": rows}))
    return tmp_path


def test_show_prints_a_claims_rows(tmp_path, capsys):
    row = {"id": "C13", "claim": "PN pairs are negatively correlated", "source": "Table 1", "model": "digits-ddpm", "sampler": "ddim",
           "value": -0.71, "ci_low": -0.75, "ci_high": -0.67, "paper": "-0.7", "test": "ci_below 0", "verdict": "reproduced",
           "file": "results/correlation/digits-ddpm/ddim/summary_500.json", "detail": {}}
    run = _claim_run(tmp_path, [row])
    assert main(["show", "C13", "--results", str(run)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("C13: PN pairs are negatively correlated\n")
    for text in ("digits-ddpm ddim: reproduced", "value -0.71, CI [-0.75, -0.67]; paper -0.7", "rule: ci_below 0",
                 "source: results/correlation/digits-ddpm/ddim/summary_500.json"):
        assert text in out
    assert main(["show", "--known", "C13", "--results", str(run)]) == 0 and capsys.readouterr().out == ""


def test_show_of_an_unknown_or_unmeasured_claim_is_a_clear_error(tmp_path, capsys):
    run = _claim_run(tmp_path, [])
    for argv in (["show", "C99"], ["show", "--known", "C99"]):
        assert main([*argv, "--results", str(run)]) == 2
        assert "claim 'C99' is not in" in (err := capsys.readouterr().err) and "known ids: C1, C13" in err
    assert main(["show", "C1", "--results", str(run)]) == 1
    assert "make claim ID=C1" in capsys.readouterr().err
    assert main(["show", "C13", "--results", str(run)]) == 0
    assert "no rows" in capsys.readouterr().out
    # the committed ledger's ids, by default from config/claims.yaml of the working directory
    assert main(["show", "--known", "C13", "--claims", str(ROOT / "config" / "claims.yaml")]) == 0


def test_a_claim_the_config_does_not_plan_names_the_command_that_runs_it():
    claim = _claim(measure={"kind": "fisher_ratio", "scores": "exact"}, test={"ci_not_above": 1})
    (row,) = evaluate(claim, claim_targets(claim, Plan({"models": {}, "symmetry": {"fisher": {"models": []}}})))
    assert row.verdict.startswith("not run here (needs a config that runs it") and row.detail["command"] == f"make claim ID={claim['id']}"
    (row,) = evaluate({**claim, "needs": "a GPU", "command": "snakemake --configfile config/paper.yaml"}, [])
    assert row.verdict == "not run here (needs a GPU)" and row.detail["command"] == "snakemake --configfile config/paper.yaml"


def _ledger_json(path, value, low, high, timing=1.07):
    row = {"id": "X1", "claim": "a claim", "source": "Table 1", "paper": "-0.9 to -0.4", "stronger": "lower",
           "model": "m", "sampler": "s", "value": value, "ci_low": low, "ci_high": high, "test": "CI < 0",
           "file": "f.csv", "detail": "", "verdict": "reproduced"}
    timed = {**row, "id": "X2", "paper": "", "value": timing, "ci_low": None, "ci_high": None, "test": "value <= 1.1",
             "volatile": True}
    path.write_text(json.dumps({"rows": [row, {**row, "sampler": "t", "value": None, "ci_low": None, "ci_high": None},
                                         timed]}))
    return path


def test_forest_plot_is_a_function_of_the_ledger_text(tmp_path):
    """Runs whose numbers differ only past the digits the ledger shows (other CPU kernels), or in a volatile
    claim's timing, draw the same bytes; a change the ledger shows changes the figure."""
    from antithetic.workflow.claims import displayed
    from antithetic.workflow.jobs.claims import run_forest_figure

    assert displayed(-0.583217) == -0.583 and displayed(1234.6) == 1235.0 and np.isnan(displayed(None))
    figures = {}
    # a and b show as -0.583 [-0.626, -0.533]; c moves the value by one shown digit
    runs = {"a": (-0.58321, -0.62621, -0.53321, 1.07), "b": (-0.58279, -0.62579, -0.53279, 3.34),
            "c": (-0.57321, -0.62621, -0.53321, 1.07)}
    for name, (value, low, high, timing) in runs.items():
        ledger = _ledger_json(tmp_path / f"{name}.json", value, low, high, timing)
        run_forest_figure(ledger=ledger, out_figure=tmp_path / f"{name}.png")
        figures[name] = (tmp_path / f"{name}.png").read_bytes()
    assert figures["a"] == figures["b"]
    assert figures["a"] != figures["c"]


def test_results_block_shows_each_guidance_sweep_with_its_accuracy_where_scored(tmp_path):
    """A guidance sweep reaches the block as the centered PN and RR correlation per scale, with the classifier's
    accuracy and its CI only where the sweep was scored (a text-conditional sweep has none)."""
    from antithetic.workflow.readme import results_block

    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps({"rows": []}))
    base = {"pn_centered_mean": [-0.6, 0.43], "pn_centered_sd": [0.19, 0.3], "rr_centered_mean": [0.0, 0.6],
            "rr_centered_sd": [0.22, 0.25], "guidance_scale": [0.0, 4.0]}
    scored, unscored = tmp_path / "scored.csv", tmp_path / "unscored.csv"
    pd.DataFrame({**base, "accuracy": [0.12, 0.945], "accuracy_low": [0.078, 0.904], "accuracy_high": [0.173, 0.972]}).to_csv(scored, index=False)
    pd.DataFrame({**base, "accuracy": [np.nan, np.nan], "accuracy_low": np.nan, "accuracy_high": np.nan}).to_csv(unscored, index=False)
    block = results_block(claims_json=claims, tables={"guidance-cond": scored, "guidance-sd": unscored})
    cond, sd = (re.sub(" +", " ", part) for part in block.split("**guidance-sd**"))
    assert "Guidance ablation of cond" in cond and "| 4 | 0.430 (0.300) | 0.600 (0.250) | 0.945 [0.904, 0.972] |" in cond
    assert "accuracy" not in sd and "classifier" not in sd and "| 0 | -0.600 (0.190) |" in sd
