"""Score-symmetry probes: is the noise predictor affine antisymmetric, and where does that break?

The paper explains the negative PN correlation by a conjecture: for every t the trained noise
predictor is approximately *affine antisymmetric*, ``eps_t(x) + eps_t(-x) ~= 2 c_t`` (paper,
"Conjecture"); Lemma 1 shows that a correlation of exactly -1 under a symmetric law forces it, and
Theorem 1 proves the high-noise case for the true score. This package measures it:

* :mod:`.slices`: the AS score of 1-D slices ``c -> [eps_t(c x)]_j`` (Table 10, Figure 4);
* :mod:`.probe`: the on-distribution probe at noised data and the noise level where symmetry breaks;
* :mod:`.fisher`: relative Fisher information along the OU flow against Theorem 1, and Corollary 1.
"""

from ._common import ou_time
from .fisher import (
    corollary1_check,
    ddim_coefficients,
    gaussian_relative_fisher,
    mixture_fisher_upper_bound,
    mixture_score,
    model_score,
    relative_fisher_information,
    theorem1_bound,
    theorem1_curve,
    theorem1_holds,
)
from .probe import antisymmetry_probe, break_level, noised_data, reference_data, sample_mixture
from .slices import (
    as_distribution,
    as_score,
    eps_slices,
    random_directions,
    summarize_as,
    symmetric_grid,
    trapezoid_weights,
)

__all__ = [
    "antisymmetry_probe",
    "as_distribution",
    "as_score",
    "break_level",
    "corollary1_check",
    "ddim_coefficients",
    "eps_slices",
    "gaussian_relative_fisher",
    "mixture_fisher_upper_bound",
    "mixture_score",
    "model_score",
    "noised_data",
    "ou_time",
    "random_directions",
    "reference_data",
    "relative_fisher_information",
    "sample_mixture",
    "summarize_as",
    "symmetric_grid",
    "theorem1_bound",
    "theorem1_curve",
    "theorem1_holds",
    "trapezoid_weights",
]
