"""The classifier's statistics: definitions, sample addressing, and unbiased antithetic estimates of a
known class law."""

import numpy as np
import pytest
import torch
from scipy import stats

from antithetic.coverage_study import grouped_file_values
from antithetic.estimators import group_estimate
from antithetic.image_statistics import evaluate_statistic
from antithetic.models.conditional import ClassLabels
from antithetic.semantic_statistics import SEMANTIC_STATISTICS, ClassifierStatistics

NUM_CLASSES = 4
SHAPE = (1, 2, 2)


class NearestMean(torch.nn.Module):
    """Logits ``-|x - mu_c|^2 / (2 tau)``: a classifier whose answer is known for points near a mean."""

    def __init__(self, means: torch.Tensor, tau: float = 0.05) -> None:
        super().__init__()
        self.means = torch.nn.Parameter(means.reshape(len(means), -1).double(), requires_grad=False)
        self.tau = tau

    def forward(self, x):
        d2 = ((x.reshape(len(x), 1, -1).double() - self.means[None]) ** 2).sum(-1)
        return -d2 / (2 * self.tau)


def _means():
    # four corners of [-0.6, 0.6]^4: well separated, all inside [-1, 1]
    return torch.tensor([[0.6, 0.6, -0.6, -0.6], [-0.6, 0.6, 0.6, -0.6], [0.6, -0.6, 0.6, 0.6], [-0.6, -0.6, -0.6, 0.6]]).reshape(-1, *SHAPE)


def test_definitions_against_the_softmax():
    gen = torch.Generator().manual_seed(0)
    x = np.clip(torch.randn((9, *SHAPE), generator=gen).numpy() * 0.5, -1, 1)
    classifier = NearestMean(_means(), tau=0.5)
    labels = ClassLabels([2, 0, 3], num_classes=NUM_CLASSES)
    stats_ = ClassifierStatistics(classifier, labels=labels, batch_size=4)
    p = torch.softmax(classifier(torch.from_numpy(x)), 1).numpy()
    np.testing.assert_allclose(stats_.class_probabilities(x), p, rtol=1e-12)
    np.testing.assert_array_equal(stats_.predicted_class(x), np.eye(NUM_CLASSES)[p.argmax(1)])
    np.testing.assert_allclose(stats_.confidence(x), p.max(1), rtol=1e-12)
    indices = np.arange(10, 19)
    requested = labels(indices).numpy()  # slots of 2 samples: 5,5,6,6,7,...
    np.testing.assert_allclose(stats_.requested_class_probability(x, indices=indices), p[np.arange(9), requested], rtol=1e-12)
    # batch size changes no number
    np.testing.assert_array_equal(ClassifierStatistics(classifier, batch_size=1).class_probabilities(x), stats_.class_probabilities(x))


def test_requested_class_needs_indices_and_labels():
    stats_ = ClassifierStatistics(NearestMean(_means()), labels=ClassLabels("random", num_classes=NUM_CLASSES))
    fn = stats_.statistics(["requested_class_probability"])["requested_class_probability"]
    x = np.zeros((3, *SHAPE))
    with pytest.raises(ValueError, match="sample index"):
        evaluate_statistic(fn, x, name="requested_class_probability")
    assert evaluate_statistic(fn, x, name="r", indices=[0, 1, 2]).shape == (3,)
    with pytest.raises(ValueError, match="class-conditional"):
        ClassifierStatistics(NearestMean(_means())).statistics(["requested_class_probability"])
    with pytest.raises(ValueError, match="unknown semantic statistic"):
        stats_.statistics(["accuracy"])
    assert set(stats_.statistics()) == set(SEMANTIC_STATISTICS)


def test_file_values_pass_each_chunk_its_own_indices(tmp_path):
    """Read in chunks, the requested class of each sample is looked up by its own index."""
    from antithetic.artifacts import load_sample_addresses, save_samples
    from antithetic.noise import make_design
    from antithetic.sample_set import SampleSet

    means = _means()
    design = make_design("antithetic", seed=3)
    n = 12
    indices = np.arange(n)
    labels = ClassLabels("random", num_classes=NUM_CLASSES, seed=5)
    x = means[labels(indices)].numpy()  # every sample sits on its requested class mean
    located = np.array([design.locate(int(k)) for k in indices]).reshape(-1, 2)
    ss = SampleSet(samples=x.astype(np.float32), indices=indices, groups=located[:, 0], members=located[:, 1],
                   design=design.describe(), sampler={"kind": "ddim"}, seconds=0.0, noise_shape=SHAPE)
    path = tmp_path / "s.npz"
    save_samples(path, ss)
    fn = ClassifierStatistics(NearestMean(means), labels=labels).statistics(["requested_class_probability"])["requested_class_probability"]
    values = grouped_file_values(path, load_sample_addresses(path), fn, name="r", chunk_size=5)
    assert values.shape == (6, 2)
    assert values.min() > 0.999  # with a wrong index offset per chunk some samples would get another class


def _known_law_sample(z: torch.Tensor, means: torch.Tensor, weights: np.ndarray, std: float) -> np.ndarray:
    """x = mu_c + std * z[1:], the class c from Phi(z[0]) on the quantiles of ``weights``: an exact sample of a
    mixture with class law ``weights`` for z ~ N(0, I); -z is another exact sample (an antithetic twin)."""
    u = stats.norm.cdf(z[:, 0].numpy())
    c = np.searchsorted(np.cumsum(weights), u, side="right").clip(0, len(weights) - 1)
    rest = z[:, 1:].reshape(len(z), *SHAPE).numpy()
    return means.numpy()[c] + std * rest


def test_antithetic_estimates_of_the_class_law_are_unbiased_and_cover():
    """Antithetic pairs (z, -z) of a mixture with a known, uneven class law: the AMC estimate of the
    predicted-class frequency is unbiased and its 95% CI covers the true law at the nominal rate."""
    means, std = _means(), 0.05
    weights = np.array([0.1, 0.2, 0.3, 0.4])
    classifier = ClassifierStatistics(NearestMean(means))
    gen = torch.Generator().manual_seed(1)
    reps, pairs = 300, 32
    estimates, covered = [], []
    for _ in range(reps):
        z = torch.randn((pairs, 1 + int(np.prod(SHAPE))), generator=gen)
        x = np.stack([_known_law_sample(z, means, weights, std), _known_law_sample(-z, means, weights, std)], axis=1)
        freq = classifier.predicted_class(x.reshape(-1, *SHAPE)).reshape(pairs, 2, NUM_CLASSES)
        est = group_estimate(freq, method="amc")
        estimates.append(est.estimate)
        covered.append((est.ci_low <= weights) & (weights <= est.ci_high))
    estimates = np.array(estimates)
    se = estimates.std(0, ddof=1) / np.sqrt(reps)
    assert np.all(np.abs(estimates.mean(0) - weights) < 4 * se + 1e-12)
    rate = np.array(covered).mean(0)
    low, high = stats.binomtest(int(round(0.95 * reps)), reps).proportion_ci(0.99)
    assert np.all(rate > low - 0.03) and np.all(rate < high + 0.03), rate
    # every sample lies clearly in its class, so the true predicted-class law is the class law itself
    assert classifier.confidence(x.reshape(-1, *SHAPE)).min() > 0.99
