"""Theorem 1 and Corollary 1 (paper): relative Fisher information along the OU flow, and its bound.

* Theorem 1 (OU forward process): ``E ||s_t(X_t) + X_t||^2 = I(mu_t | gamma) <= e^{-2t} I(mu_0 | gamma)``
  with ``gamma = N(0, I)``: at high noise the true score is close to the linear, odd score ``-x``.
  The DDPM / VP schedule is read as OU time through ``abar_t = exp(-2 tau)`` (:func:`ou_time`).
  :func:`relative_fisher_information` estimates the left side by Monte Carlo, :func:`theorem1_bound`
  adds the right side and :func:`theorem1_holds` is the pass rule; :func:`theorem1_curve` does all
  three for a model.
* Corollary 1: ``|Corr(F_t,i(X), F_t,i(-X)) + 1| <= (2 |b_t| / sqrt(v_t,i)) (sqrt(eta_t) + e^{-t} sqrt(I(mu_0|gamma)))``
  for a DDIM step ``F_t(x) = a_t x + b_t eps_t(x)``, ``eta_t`` the network's approximation error and
  ``v_t,i = Var(F_t,i(X))``. :func:`corollary1_check` evaluates both sides per step for a model with
  exact score (``eta_t = 0``).

All randomness is seed-addressed through :func:`antithetic.noise.derive_seed`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..models.analytic import GaussianMixtureScore
from ..models.base import DiffusionModel
from ..noise import derive_seed
from ..pearson import pearson
from ._common import FISHER_STREAM, batched_eps, ou_time
from .probe import noised_data

__all__ = [
    "corollary1_check",
    "ddim_coefficients",
    "gaussian_relative_fisher",
    "mixture_fisher_upper_bound",
    "mixture_score",
    "model_score",
    "ou_time",
    "relative_fisher_information",
    "theorem1_bound",
    "theorem1_curve",
    "theorem1_holds",
]

Score = Callable[[torch.Tensor, float], torch.Tensor]


def gaussian_relative_fisher(*, mean: np.ndarray | float, std: float, dim: int, tau: np.ndarray | float) -> np.ndarray:
    """Closed form ``I(mu_tau | gamma)`` for data ``N(mu, s^2 I_D)`` under the OU flow.

    ``X_tau ~ N(e^{-tau} mu, v I)`` with ``v = e^{-2 tau} s^2 + 1 - e^{-2 tau}``, score ``-(x - e^{-tau} mu) / v``,
    so ``E ||s(X) + X||^2 = D (1 - v)^2 / v + e^{-2 tau} ||mu||^2``. At ``tau = 0``:
    ``D (1 - s^2)^2 / s^2 + ||mu||^2``.
    """
    tau = np.asarray(tau, dtype=np.float64)
    mean = np.asarray(mean, dtype=np.float64)
    mu2 = dim * float(mean) ** 2 if mean.ndim == 0 else float(np.sum(mean**2))
    e2 = np.exp(-2 * tau)
    v = e2 * std**2 + 1 - e2
    return dim * (1 - v) ** 2 / v + e2 * mu2


def mixture_fisher_upper_bound(mixture: GaussianMixtureScore) -> float:
    """Analytic upper bound on ``I(mu_0 | gamma)`` of a mixture: ``sum_k pi_k I(N(mu_k, s^2 I) | gamma)``.

    Relative Fisher information is convex in the measure (``int |grad h|^2 / h dgamma`` is a perspective
    function of the density ``h``), so the mixture's is at most the weighted mean of its components':
    finite for every ``s > 0``.
    """
    d = int(np.prod(mixture.means.shape[1:]))
    w = mixture.log_weights.exp().numpy()
    mu2 = (mixture.means.reshape(len(w), -1) ** 2).sum(1).numpy()
    s2 = mixture.std**2
    return float(np.sum(w * (d * (1 - s2) ** 2 / s2 + mu2)))


def relative_fisher_information(*, score: Score, x0: torch.Tensor, abars: Sequence[float], seed: int) -> pd.DataFrame:
    """Monte Carlo ``I(mu_tau | gamma) = E ||s_tau(X_tau) + X_tau||^2`` (paper, Theorem 1).

    ``X_tau = sqrt(abar) X_0 + sqrt(1 - abar) Z`` with the rows of ``x0`` as ``X_0`` and one seed-addressed
    ``Z`` shared by every level (common random numbers: the curve is smooth in ``tau``).

    Args:
        score: ``score(x, abar) -> grad log p(x)`` for a batch ``x`` at noise level ``abar`` (float).
        abars: noise levels ``abar_t`` in ``(0, 1]``; 1 means the data law itself.

    Returns:
        one row per level: ``abar, tau, fisher`` (the mean), ``fisher_se`` (its standard error), ``samples``.
    """
    gen = torch.Generator().manual_seed(derive_seed(seed, FISHER_STREAM))
    z = torch.randn(x0.shape, generator=gen, dtype=torch.float32).double()
    x0 = x0.double()
    rows = []
    for abar in abars:
        abar = float(abar)
        if not 0 < abar <= 1:
            raise ValueError(f"noise levels abar must lie in (0, 1], got {abar}")
        x = math.sqrt(abar) * x0 + math.sqrt(1 - abar) * z
        r = (score(x, abar).double() + x).reshape(len(x), -1)
        per = (r**2).sum(1).numpy()
        rows.append(
            {
                "abar": abar,
                "tau": float(ou_time(abar)),
                "fisher": float(per.mean()),
                "fisher_se": float(per.std(ddof=1) / math.sqrt(len(per))),
                "samples": len(per),
            }
        )
    return pd.DataFrame(rows)


def model_score(model: DiffusionModel, *, batch_size: int = 1024) -> Score:
    """``score(x, abar)`` of a model at its training timestep of level ``abar``: ``-eps_t(x) / sqrt(1 - abar_t)``."""
    abars = model.scheduler.alphas_cumprod.double().numpy()

    def score(x: torch.Tensor, abar: float) -> torch.Tensor:
        t = int(np.argmin(np.abs(abars - abar)))
        if not math.isclose(abars[t], abar, rel_tol=1e-6, abs_tol=1e-12):
            raise ValueError(f"abar={abar} is not a training noise level of model {model.name!r}")
        eps = batched_eps(model, x.float(), t, batch_size)
        return -eps.reshape(x.shape) / math.sqrt(1 - abars[t])

    return score


def mixture_score(mixture: GaussianMixtureScore) -> Score:
    """``score(x, abar)`` of an exact mixture at any level ``abar`` in ``(0, 1]`` (1 = the data law)."""

    def score(x: torch.Tensor, abar: float) -> torch.Tensor:
        return mixture.score(x, torch.full((len(x),), abar, dtype=torch.float64))

    return score


def theorem1_bound(curve: pd.DataFrame, *, i0: float | None = None, i0_se: float = 0.0) -> pd.DataFrame:
    """``curve`` (from :func:`relative_fisher_information`) with the bound of Theorem 1 added.

    With ``i0 = I(mu_0 | gamma)`` known (a model with a known data law): ``bound = e^{-2 tau} i0`` and
    ``bound_se = e^{-2 tau} i0_se``. Without it: the semigroup form anchored at the smallest ``tau`` of
    the curve, ``bound = e^{-2 (tau - tau_0)} I(mu_tau_0 | gamma)``, which any true score satisfies
    (the OU flow from ``tau_0`` on is again an OU flow), with ``bound_se`` from the anchor's standard error.
    """
    out = curve.copy()
    if i0 is not None:
        factor = np.exp(-2 * out["tau"])
        out["bound"], out["bound_se"] = factor * i0, factor * i0_se
        return out
    anchor = out.loc[out["tau"].idxmin()]
    factor = np.exp(-2 * (out["tau"] - anchor["tau"]))
    out["bound"], out["bound_se"] = factor * anchor["fisher"], factor * anchor["fisher_se"]
    return out


def theorem1_holds(curve: pd.DataFrame, *, num_se: float = 3.0) -> dict[str, Any]:
    """Pass rule of Theorem 1 on a curve with a bound: ``fisher <= bound + num_se (fisher_se + bound_se)``
    at every level (the sum of the standard errors bounds that of the difference whatever their
    correlation). Returns ``bound_holds``, ``levels_violated`` and ``max_ratio_to_bound``."""
    slack = curve["bound"] + num_se * (curve["fisher_se"] + curve["bound_se"]) - curve["fisher"]
    return {
        "bound_holds": bool((slack >= 0).all()),
        "levels_violated": int((slack < 0).sum()),
        "max_ratio_to_bound": float((curve["fisher"] / curve["bound"]).max()),
        "num_se": num_se,
    }


def theorem1_curve(
    model: DiffusionModel,
    *,
    x0: torch.Tensor,
    exact: GaussianMixtureScore | None,
    points: int,
    seed: int,
    batch_size: int = 1024,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``I(mu_tau | gamma)`` along a model's own score at ``points`` training levels, against Theorem 1.

    With the exact data law ``exact`` (analytic models), ``I(mu_0 | gamma)`` is a Monte Carlo estimate
    from the exact score at ``abar = 1`` (the data law itself; finite for a Gaussian mixture with
    ``s > 0``, see :func:`mixture_fisher_upper_bound`) and a one-component law also gets its closed form.
    Without it (a learned model: its data law has no known, or no finite, ``I(mu_0 | gamma)``) the bound
    is the semigroup form anchored at the smallest probed level (:func:`theorem1_bound`).

    Returns:
        the curve (columns ``t, score, abar, tau, fisher, fisher_se, samples, bound, bound_se`` and, for
        a one-component law, ``closed_form``) and a summary (``I0``, the pass rule of :func:`theorem1_holds`).
    """
    train_steps = model.scheduler.config.num_train_timesteps
    ts = np.unique(np.round(np.linspace(0, train_steps - 1, int(points))).astype(int))
    abars = model.scheduler.alphas_cumprod.double().numpy()[ts]
    curve = relative_fisher_information(score=model_score(model, batch_size=batch_size), x0=x0, abars=abars, seed=seed)
    curve.insert(0, "t", ts)
    curve.insert(0, "score", "learned" if exact is None else "exact")
    entry: dict[str, Any] = {"samples": len(x0)}
    if exact is None:
        curve = theorem1_bound(curve)
        anchor = curve.loc[curve["tau"].idxmin()]
        entry.update(anchor_tau=float(anchor["tau"]), anchor_fisher=float(anchor["fisher"]), bound="e^{-2 (tau - tau_0)} I(mu_tau_0|gamma)")
    else:
        zero = relative_fisher_information(score=mixture_score(exact), x0=x0, abars=[1.0], seed=seed).iloc[0]
        i0, i0_se = float(zero["fisher"]), float(zero["fisher_se"])
        curve = theorem1_bound(curve, i0=i0, i0_se=i0_se)
        entry.update(I0=i0, I0_se=i0_se, I0_convexity_upper_bound=mixture_fisher_upper_bound(exact), bound="e^{-2 tau} I(mu_0|gamma)")
        if len(exact.means) == 1:
            d = int(np.prod(model.sample_shape))
            mean = exact.means[0].numpy().reshape(-1)
            curve["closed_form"] = gaussian_relative_fisher(mean=mean, std=exact.std, dim=d, tau=curve["tau"])
            entry["I0_closed_form"] = float(gaussian_relative_fisher(mean=mean, std=exact.std, dim=d, tau=0.0))
    entry.update(theorem1_holds(curve))
    return curve, entry


def ddim_coefficients(abar_t: float, abar_prev: float) -> tuple[float, float]:
    """``(a_t, b_t)`` of the deterministic DDIM step ``F_t(x) = a_t x + b_t eps_t(x)`` from ``abar_t`` to
    ``abar_prev`` (Song et al. 2021, Eq. 12 with ``eta = 0``): ``a_t = sqrt(abar_prev / abar_t)``,
    ``b_t = sqrt(1 - abar_prev) - sqrt(abar_prev (1 - abar_t) / abar_t)``."""
    a = math.sqrt(abar_prev / abar_t)
    b = math.sqrt(1 - abar_prev) - math.sqrt(abar_prev * (1 - abar_t) / abar_t)
    return a, b


def corollary1_check(
    model: DiffusionModel,
    *,
    data: torch.Tensor,
    timesteps: Sequence[int],
    i0: float,
    seed: int,
    eta: float = 0.0,
    batch_size: int = 1024,
) -> pd.DataFrame:
    """Both sides of Corollary 1 per DDIM step, per output coordinate ``i``.

    The steps are those of a DDIM sampler visiting the probed ``timesteps`` (high to low noise): from
    each ``t`` to the next lower probed level, and from the last one to ``abar = 1`` (the output).
    ``X = x_t`` are the rows of ``data`` noised to ``t`` (law ``mu_t``, as in Theorem 1; the same
    seed-addressed noise as :func:`~antithetic.symmetry.antisymmetry_probe`). Left side:
    ``gap_i = |Corr(F_t,i(X), F_t,i(-X)) + 1|`` across samples; right side
    ``rhs_i = (2 |b_t| / sqrt(v_t,i)) (sqrt(eta) + e^{-tau_t} sqrt(i0))``, ``v_t,i`` the sample variance
    of ``F_t,i(X)``, ``tau_t`` the OU time, ``i0 = I(mu_0 | gamma)``; ``eta = 0`` for an exact score.

    Returns:
        one row per step: ``t, t_next, tau, a, b, gap_median, gap_max, rhs_median, rhs_min,
        holds_fraction`` (share of coordinates with ``gap_i <= rhs_i``), ``holds`` (all of them) and
        ``informative_fraction``: share of coordinates with ``rhs_i < 2``; as ``|Corr + 1| <= 2`` always,
        the bound says nothing where ``rhs_i >= 2``.
    """
    ts = sorted({int(t) for t in timesteps}, reverse=True)
    abars = model.scheduler.alphas_cumprod.double().numpy()
    rows = []
    for k, t in enumerate(ts):
        t_next = ts[k + 1] if k + 1 < len(ts) else -1
        abar_prev = 1.0 if t_next < 0 else float(abars[t_next])
        a, b = ddim_coefficients(float(abars[t]), abar_prev)
        x = noised_data(model, data, t, seed=seed).double()
        n = len(x)
        eps = batched_eps(model, torch.cat([x, -x]).float(), t, batch_size).reshape(2, n, -1)
        flat = x.reshape(n, -1)
        plus = (a * flat + b * eps[0]).numpy()  # F_t(X)
        minus = (-a * flat + b * eps[1]).numpy()  # F_t(-X)
        gap = np.abs(pearson(plus, minus) + 1)
        v = plus.var(0, ddof=1)
        with np.errstate(divide="ignore"):
            rhs = 2 * abs(b) / np.sqrt(v) * (math.sqrt(eta) + math.exp(-float(ou_time(abars[t]))) * math.sqrt(i0))
        ok = gap <= rhs
        rows.append(
            {
                "t": t, "t_next": t_next, "tau": float(ou_time(abars[t])), "a": a, "b": b,
                "gap_median": float(np.nanmedian(gap)), "gap_max": float(np.nanmax(gap)),
                "rhs_median": float(np.median(rhs)), "rhs_min": float(np.min(rhs)),
                "holds_fraction": float(np.mean(ok)), "holds": bool(ok.all()),
                "informative_fraction": float(np.mean(rhs < 2)),
            }
        )
    return pd.DataFrame(rows)
