"""Antithetic FlowEdit: the edit against a plain loop, the rectified-flow velocity against closed forms, noise addressing."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from diffusers import DDIMScheduler

from antithetic.classifier import DigitsClassifier, FeatureExtractor
from antithetic.data import digits_class_means
from antithetic.flowedit import (
    FLOWEDIT_MEASURES,
    edit_targets,
    flowedit,
    flowedit_experiment,
    flowedit_grid,
    noise_index,
    win_rates,
)
from antithetic.models.analytic import gaussian_model
from antithetic.models.conditional import ClassLabels, class_gaussian_mixture_model
from antithetic.noise import AntitheticNoise, IIDNoise
from antithetic.parametrization import rectified_flow_time, rectified_flow_velocity

SHAPE = (1, 8, 8)


@pytest.fixture(scope="module")
def means():
    return digits_class_means()


def _mixture(means, guidance_scale=1.0):
    return class_gaussian_mixture_model(means=means, std=0.3, guidance_scale=guidance_scale,
                                        labels=ClassLabels("random", num_classes=len(means)))


def _digits(means, labels, seed=0):
    """Samples of the mixture's classes ``labels``: ``mu_c + 0.3 n``."""
    noise = torch.randn(len(labels), *SHAPE, generator=torch.Generator().manual_seed(seed))
    return means[torch.as_tensor(labels)].float() + 0.3 * noise


# ------------------------------------------------------------------------------------ the velocity conversion
@pytest.mark.parametrize("t", [999, 700, 400, 100, 5])
def test_the_velocity_of_the_exact_gaussian_model_is_the_analytic_conditional_mean(t):
    # data N(m, s0^2 I), z_s = (1 - s) x0 + s n: Var z = (1 - s)^2 s0^2 + s^2 = D per coordinate, and
    # E[n - x0 | z] = s (z - (1 - s) m) / D - m - (1 - s) s0^2 (z - (1 - s) m) / D
    m, s0 = 0.2, 0.5
    model = gaussian_model(mean=m, std=s0).to(dtype=torch.float64)  # x0 = (x_t - sigma eps) / alpha: alpha ~ 1e-4 at t = 999
    abar = model.scheduler.alphas_cumprod.double()[t]
    s = float(rectified_flow_time(abar))
    assert s == pytest.approx(math.sqrt(1 - abar) / (math.sqrt(abar) + math.sqrt(1 - abar)))
    z = torch.randn(6, *SHAPE, generator=torch.Generator().manual_seed(t), dtype=torch.float64)
    D = (1 - s) ** 2 * s0**2 + s**2
    expected = s * (z - (1 - s) * m) / D - m - (1 - s) * s0**2 * (z - (1 - s) * m) / D
    v = rectified_flow_velocity(lambda x: model.eps(x, t), z, abar)
    torch.testing.assert_close(v, expected, rtol=1e-9, atol=1e-9)


def test_flow_times_run_from_the_noise_to_the_data_on_the_ddim_timesteps():
    model = gaussian_model()
    timesteps, abars, times = flowedit_grid(model, 10)
    ddim = DDIMScheduler.from_config(model.scheduler.config)
    ddim.set_timesteps(10)
    assert timesteps == [int(t) for t in ddim.timesteps] == [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]
    assert len(times) == 11 and float(times[-1]) == 0.0
    assert bool((times[1:] < times[:-1]).all())  # strictly decreasing: every step moves towards the data
    torch.testing.assert_close(abars, model.scheduler.alphas_cumprod.double()[timesteps])


# ------------------------------------------------------------------------------------ the edit
def _reference_flowedit(model, sources, source_labels, target_labels, design, *, num_steps, n_max, n_avg, ws, wt):
    """FlowEdit as the paper writes it: one source, one step, one draw at a time (float64 arithmetic)."""
    scheduler = DDIMScheduler.from_config(model.scheduler.config)
    scheduler.set_timesteps(num_steps)
    timesteps = [int(t) for t in scheduler.timesteps]
    abar = model.scheduler.alphas_cumprod.double()

    def velocity(z, t, label, w):
        a, b = abar[t].sqrt(), (1 - abar[t]).sqrt()
        x_t = (a + b) * z
        model.guidance_scale = w
        eps = model.eps(x_t[None].float(), t, torch.tensor([label]))[0].double()
        return eps - (x_t - b * eps) / a

    def time(i):
        if i == num_steps:
            return 0.0
        a, b = abar[timesteps[i]].sqrt(), (1 - abar[timesteps[i]]).sqrt()
        return b / (a + b)

    out = []
    for k, x_src in enumerate(sources.double()):
        z_fe = x_src.clone()
        for i in range(num_steps - n_max, num_steps):
            s, s_next = time(i), time(i + 1)
            v_delta = torch.zeros_like(x_src)
            for j in range(n_avg):
                n = design.initial_noise([(k * num_steps + i) * n_avg + j], SHAPE)[0].double()
                z_src = (1 - s) * x_src + s * n
                z_tar = z_fe + z_src - x_src
                v_delta += (velocity(z_tar, timesteps[i], target_labels[k], wt) - velocity(z_src, timesteps[i], source_labels[k], ws)) / n_avg
            z_fe = z_fe + (s_next - s) * v_delta
        out.append(z_fe)
    model.guidance_scale = 1.0
    return torch.stack(out)


@pytest.mark.parametrize("design,n_avg,ws,wt", [
    (AntitheticNoise(seed=0), 4, 1.5, 5.5),
    (IIDNoise(seed=1), 3, 2.0, 2.0),
])
def test_the_batched_edit_is_the_plain_loop_of_the_paper(means, design, n_avg, ws, wt):
    model = _mixture(means)
    labels, targets = [0, 3, 7], [5, 8, 1]
    sources = _digits(means, labels)
    kwargs = dict(num_steps=12, n_max=7, n_avg=n_avg)
    edits = flowedit(model, sources, source_cond=torch.tensor(labels), target_cond=torch.tensor(targets), design=design,
                     source_guidance_scale=ws, target_guidance_scale=wt, **kwargs)
    expected = _reference_flowedit(model, sources, labels, targets, design, ws=ws, wt=wt, **kwargs)
    torch.testing.assert_close(edits.double(), expected, rtol=1e-4, atol=1e-4)
    assert model.guidance_scale == 1.0  # the scales of the edit are restored afterwards
    assert (edits - sources).abs().max() > 0.1  # an edit, not the source


def test_an_edit_on_the_exact_class_mixture_moves_the_digit_to_the_target_class(means):
    model = _mixture(means, guidance_scale=1.0)
    a, b = [1, 4, 6, 9], [7, 0, 2, 3]
    sources = _digits(means, a, seed=3)
    edits = flowedit(model, sources, source_cond=torch.tensor(a), target_cond=torch.tensor(b), design=AntitheticNoise(seed=0),
                     num_steps=50, n_max=40, n_avg=2)

    def distance(x, c):
        return (x - means[torch.as_tensor(c)]).flatten(1).norm(dim=1)

    assert bool((distance(edits, b) < distance(sources, b)).all())  # closer to the target's mean than it started
    assert bool((distance(edits, b) < distance(edits, a)).all())  # and closer to it than to the source's mean


def test_an_edit_into_its_own_condition_leaves_the_source_as_it_is(means):
    # Z_tar = z_FE + Z_src - x_src is Z_src while z_FE = x_src, so V_delta = 0 at every step
    sources = _digits(means, [4, 7])
    labels = torch.tensor([4, 7])
    same = flowedit(_mixture(means), sources, source_cond=labels, target_cond=labels, design=AntitheticNoise(seed=0),
                    num_steps=10, n_max=8, n_avg=2)
    torch.testing.assert_close(same, sources, rtol=0, atol=1e-6)
    unconditional = flowedit(gaussian_model(), sources, source_cond=None, target_cond=None, design=IIDNoise(seed=0),
                             num_steps=10, n_max=8, n_avg=1)
    torch.testing.assert_close(unconditional, sources, rtol=0, atol=1e-6)


def test_edits_at_unit_guidance_of_the_exact_mixture_do_not_depend_on_the_noise(means):
    # the class-conditional velocity is affine with one slope for every class, so the noise cancels from
    # V_delta; only the (nonlinear) unconditional part that unequal guidance scales keep brings it back
    model = _mixture(means)
    labels, targets = torch.tensor([2, 5]), torch.tensor([8, 6])
    sources = _digits(means, labels.tolist())
    kwargs = dict(source_cond=labels, target_cond=targets, num_steps=20, n_max=15, n_avg=2)
    unit = [flowedit(model, sources, design=d, **kwargs) for d in (AntitheticNoise(seed=0), IIDNoise(seed=1))]
    torch.testing.assert_close(unit[0], unit[1], rtol=0, atol=1e-5)
    guided = [flowedit(model, sources, design=d, source_guidance_scale=1.5, target_guidance_scale=5.5, **kwargs)
              for d in (AntitheticNoise(seed=0), IIDNoise(seed=1))]
    assert (guided[0] - guided[1]).abs().max() > 1e-3


def test_antithetic_draws_of_a_step_are_exact_negatives_and_iid_draws_are_not(means):
    model = _mixture(means)
    labels = torch.tensor([0, 1, 2])
    sources = _digits(means, labels.tolist())
    seen = {}
    for design in (AntitheticNoise(seed=4), IIDNoise(seed=4)):
        steps = []
        flowedit(model, sources, source_cond=labels, target_cond=(labels + 1) % 10, design=design, num_steps=10, n_max=4,
                 n_avg=4, start_index=5, callback=steps.append)
        assert [info["step"] for info in steps] == [6, 7, 8, 9]
        seen[design.name] = torch.stack([info["noise"] for info in steps])  # (step, source, draw, ...)
    anti, iid = seen["antithetic"], seen["iid"]
    assert torch.equal(anti[:, :, 0], -anti[:, :, 1]) and torch.equal(anti[:, :, 2], -anti[:, :, 3])
    assert not torch.allclose(anti[:, :, 0], anti[:, :, 2]) and not torch.allclose(anti[:, :, 0], -anti[:, :, 2])
    assert not torch.allclose(iid[:, :, 0], -iid[:, :, 1])
    # draw j of step i of source k is the design's noise of index (k * num_steps + i) * n_avg + j
    assert noise_index(6, 8, 3, num_steps=10, n_avg=4) == (6 * 10 + 8) * 4 + 3
    expected = AntitheticNoise(seed=4).initial_noise([noise_index(6, 8, 3, num_steps=10, n_avg=4)], SHAPE)[0]
    assert torch.equal(anti[2, 1, 3], expected)


def test_edits_do_not_depend_on_the_batch_size_or_on_the_other_sources(means):
    model = _mixture(means)
    labels = torch.tensor([0, 1, 2, 3, 4])
    targets = torch.tensor([9, 8, 7, 6, 5])
    sources = _digits(means, labels.tolist())
    kwargs = dict(design=AntitheticNoise(seed=2), num_steps=10, n_max=6, n_avg=2, source_guidance_scale=1.5, target_guidance_scale=5.5)
    whole = flowedit(model, sources, source_cond=labels, target_cond=targets, **kwargs)
    for batch_size in (1, 2, 3):
        assert torch.equal(flowedit(model, sources, source_cond=labels, target_cond=targets, batch_size=batch_size, **kwargs), whole)
    # source k is source start_index + k: a job that edits sources 2.. alone gives their edits of the whole run
    tail = flowedit(model, sources[2:], source_cond=labels[2:], target_cond=targets[2:], start_index=2, **kwargs)
    assert torch.equal(tail, whole[2:])


def test_a_guided_class_conditional_network_edits_through_the_same_interface(tmp_path):
    # a (tiny, random) DiT: a network with classifier-free guidance against its null class
    from tiny_pipelines import tiny_dit

    from antithetic.models.latent import load_dit

    model = load_dit(tiny_dit(tmp_path), name="dit", guidance_scale=1.0)
    latents = torch.randn(3, *model.sample_shape, generator=torch.Generator().manual_seed(0))
    kwargs = dict(source_cond=torch.tensor([0, 1, 2]), target_cond=torch.tensor([5, 6, 7]), design=AntitheticNoise(seed=0),
                  num_steps=5, n_max=3, n_avg=2, source_guidance_scale=1.5, target_guidance_scale=4.0)
    edits = flowedit(model, latents, **kwargs)
    assert edits.shape == latents.shape and bool(torch.isfinite(edits).all()) and (edits - latents).abs().max() > 0
    assert model.guidance_scale == 1.0
    torch.testing.assert_close(flowedit(model, latents, batch_size=1, **kwargs), edits, rtol=1e-5, atol=1e-5)


def test_settings_that_do_not_fit_are_named_with_the_fix(means):
    model = _mixture(means)
    labels = torch.tensor([0, 1])
    sources = _digits(means, [0, 1])
    kwargs = dict(source_cond=labels, target_cond=labels + 1, num_steps=10)
    with pytest.raises(ValueError, match=r"n_avg = 3 must be a positive multiple of the group size 2 of design 'antithetic'.*use an even n_avg"):
        flowedit(model, sources, design=AntitheticNoise(), n_max=5, n_avg=3, **kwargs)
    with pytest.raises(ValueError, match=r"n_max = 11 must lie in \[1, num_steps = 10\]"):
        flowedit(model, sources, design=IIDNoise(), n_max=11, n_avg=1, **kwargs)
    with pytest.raises(ValueError, match="both be given"):
        flowedit(model, sources, design=IIDNoise(), n_max=5, source_cond=labels, target_cond=None, num_steps=10)
    with pytest.raises(ValueError, match="has no classifier-free guidance"):
        flowedit(gaussian_model(), sources, design=IIDNoise(), n_max=5, source_cond=None, target_cond=None, num_steps=10,
                 target_guidance_scale=2.0)


# ------------------------------------------------------------------------------------ targets, measures, win rates
def test_targets_are_other_classes_addressed_by_source_index():
    labels = torch.arange(10).repeat(30)
    targets = edit_targets(labels, num_classes=10, seed=0)
    assert bool((targets != labels).all()) and bool(((targets >= 0) & (targets < 10)).all())
    assert torch.equal(edit_targets(labels[:7], num_classes=10, seed=0), targets[:7])  # target k depends on k alone
    assert not torch.equal(edit_targets(labels, num_classes=10, seed=1), targets)
    counts = np.bincount(((targets - labels) % 10).numpy(), minlength=10)
    assert counts[0] == 0 and counts[1:].min() > 15  # every other class is drawn (300 draws, 9 offsets)
    with pytest.raises(ValueError, match=r"source labels must lie in \[0, 10\)"):
        edit_targets([3, 12], num_classes=10, seed=0)


def test_win_rates_count_wins_leave_out_ties_and_give_exact_binomial_cis():
    base = pd.DataFrame({"source": range(10), "hit": 1, **{m: np.arange(10.0) for m in FLOWEDIT_MEASURES}})
    anti, iid = base.copy(), base.copy()
    anti["target_probability"] = np.r_[np.arange(8.0) + 0.5, 8.0, 9.0]  # higher in 8 sources, tied in 2
    iid["faithfulness_feature"] = np.r_[np.arange(9.0) - 1.0, 9.0]  # the antithetic distance larger in 9: 0 wins
    rows = {r["measure"]: r for r in win_rates(anti, iid)}
    adherence, faithfulness = rows["target_probability"], rows["faithfulness_feature"]
    assert (adherence["wins"], adherence["ties"], adherence["n"], adherence["win_rate"]) == (8, 2, 8, 1.0)
    assert adherence["ci_low"] == pytest.approx(0.025 ** (1 / 8), rel=1e-6)  # Clopper-Pearson with 8 of 8 wins
    assert (faithfulness["wins"], faithfulness["n"], faithfulness["win_rate"]) == (0, 9, 0.0)
    with pytest.raises(ValueError, match="same sources"):
        win_rates(anti, iid.iloc[::-1])


def test_the_experiment_scores_both_designs_at_every_n_max(means):
    torch.manual_seed(0)
    classifier = DigitsClassifier(channels=(8, 16)).eval()
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    targets = edit_targets(labels, num_classes=10, seed=0)
    sources = _digits(means, labels.tolist())
    frame, rows, edits = flowedit_experiment(
        _mixture(means), sources, source_labels=labels, target_labels=targets, classifier=classifier,
        extractor=FeatureExtractor(classifier), n_max_values=[4, 8], num_steps=10, n_avg=2, source_guidance_scale=1.5,
        target_guidance_scale=5.5, antithetic_design=AntitheticNoise(seed=0), iid_design=IIDNoise(seed=1),
    )
    assert len(frame) == 2 * 2 * len(sources) and set(frame["design"]) == {"antithetic", "iid"}
    assert [(r["n_max"], r["measure"]) for r in rows] == [(n, m) for n in (4, 8) for m in FLOWEDIT_MEASURES]
    assert all(r["n"] + r["ties"] == len(sources) for r in rows) and rows[0]["start_step"] == 6
    assert edits[8]["antithetic"].shape == (len(sources), *SHAPE)
    probabilities = frame["target_probability"].to_numpy()
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    with pytest.raises(ValueError, match="antithetic_design must pair draws"):
        flowedit_experiment(_mixture(means), sources, source_labels=labels, target_labels=targets, classifier=classifier,
                            extractor=FeatureExtractor(classifier), n_max_values=[4], num_steps=10, n_avg=2,
                            antithetic_design=IIDNoise(seed=0), iid_design=IIDNoise(seed=1))


def test_measures_score_edits_in_the_data_range():
    """An edit past [-1, 1] is scored as its clamp, as every sample the classifier reads."""
    from torch import nn

    from antithetic.flowedit import flowedit_measures

    torch.manual_seed(0)
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    extractor = nn.Sequential(nn.Flatten(), nn.Linear(64, 5))
    sources = torch.rand(4, 1, 8, 8) * 2 - 1
    edits = torch.randn(4, 1, 8, 8) * 2.5
    targets = torch.tensor([1, 2, 3, 4])
    kw = dict(classifier=classifier, extractor=extractor)
    over, clamped = flowedit_measures(sources, edits, targets, **kw), flowedit_measures(sources, edits.clamp(-1, 1), targets, **kw)
    assert (edits.abs() > 1).any()
    pd.testing.assert_frame_equal(over, clamped)
