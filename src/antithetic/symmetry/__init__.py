"""Score-symmetry probes: is the noise predictor affine antisymmetric, and where does that break?

The paper explains the negative PN correlation by a conjecture: for every t the trained noise
predictor is approximately *affine antisymmetric*, ``eps_t(x) + eps_t(-x) ~= 2 c_t`` (paper,
"Conjecture"); Lemma 1 shows that a correlation of exactly -1 under a symmetric law forces it, and
Theorem 1 proves the high-noise case for the true score. This package measures it:

* :mod:`.slices`: the 1-D slices ``c -> [eps_t(c x)]_j`` of the network and their AS scores (Table 10, Figure 4);
* :mod:`.probe`: the on-distribution probe at noised data;
* :mod:`.fisher`: relative Fisher information along the OU flow against Theorem 1, and Corollary 1;
* :mod:`.scores`: the AS score of sampled slices and the noise level where a criterion breaks (numpy and
  pandas only, so table and figure jobs import no torch).
"""

from __future__ import annotations

from .._lazy import attach

#: public name -> the submodule that defines it. Imported on first use, so a table or figure job that
#: needs only :mod:`.scores` (numpy and pandas) never imports torch.
_NAMES = {
    "as_score": "scores",
    "break_level": "scores",
    "symmetric_grid": "scores",
    "trapezoid_weights": "scores",
    "ou_time": "_common",
    "corollary1_check": "fisher",
    "ddim_coefficients": "fisher",
    "gaussian_relative_fisher": "fisher",
    "mixture_fisher_upper_bound": "fisher",
    "mixture_score": "fisher",
    "model_score": "fisher",
    "relative_fisher_information": "fisher",
    "theorem1_bound": "fisher",
    "theorem1_curve": "fisher",
    "theorem1_holds": "fisher",
    "antisymmetry_probe": "probe",
    "noised_data": "probe",
    "reference_data": "probe",
    "sample_mixture": "probe",
    "as_distribution": "slices",
    "eps_slices": "slices",
    "random_directions": "slices",
    "summarize_as": "slices",
}

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


__getattr__, __dir__ = attach(__name__, _NAMES)
