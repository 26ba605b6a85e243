"""Score-symmetry probes: is the noise predictor affine antisymmetric, and where does that break?

The paper explains the negative PN correlation by a conjecture: for every t the trained noise
predictor is approximately *affine antisymmetric*, ``eps_t(x) + eps_t(-x) ~= 2 c_t`` (paper,
"Conjecture"); Lemma 1 shows that a correlation of exactly -1 forces it, and Theorem 1 proves the
high-noise case for the true score. This module measures it.

* :func:`as_score`: the affine-antisymmetry (AS) score of a 1-D function on ``[-1, 1]`` (paper,
  "Definitions"; Table 10), ``AS(f) = 1 - int (f(c)/2 + f(-c)/2 - fbar)^2 dc / int (f(c) - fbar)^2 dc``,
  integrals by the trapezoidal rule on a grid symmetric about 0. 1 = odd up to a constant, 0 = even.
* :func:`eps_slices`: the slices ``f(c) = [eps_t(c x)]_j`` of a model for directions ``x`` (paper,
  Figure 4), every output coordinate ``j`` at once.
* :func:`antisymmetry_probe`: on-distribution check at ``x_t`` obtained by noising data:
  ``Corr(eps_t(X)_i, eps_t(-X)_i)`` across samples (the quantity of Lemma 1 and Corollary 1), and the
  residual ``||eps_t(x) + eps_t(-x) - 2 c_t|| / ||eps_t(x) - eps_t(-x)||`` with ``c_t`` estimated.
* :func:`relative_fisher_information`: ``E ||s_t(X_t) + X_t||^2 = I(mu_t | gamma)`` (Theorem 1), with
  the DDPM / VP schedule read as OU time through ``abar_t = exp(-2 tau)`` (:func:`ou_time`).

All randomness is seed-addressed through :func:`antithetic.noise.derive_seed`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .models.analytic import GaussianMixtureScore
from .models.base import DiffusionModel
from .noise import derive_seed
from .pearson import pearson

__all__ = [
    "antisymmetry_probe",
    "as_distribution",
    "as_score",
    "break_level",
    "eps_slices",
    "gaussian_relative_fisher",
    "mixture_fisher_upper_bound",
    "ou_time",
    "random_directions",
    "relative_fisher_information",
    "sample_mixture",
    "symmetric_grid",
    "trapezoid_weights",
]

#: stream keys of :func:`antithetic.noise.derive_seed` used here (distinct from the designs' streams)
DIRECTION_STREAM = 1001
PROBE_STREAM = 1002
FISHER_STREAM = 1003


# ------------------------------------------------------------------------------------ AS score
def symmetric_grid(points: int) -> np.ndarray:
    """``points`` equally spaced values of ``c`` in ``[-1, 1]``; ``c[i] = -c[-1 - i]`` exactly."""
    if points < 3:
        raise ValueError(f"an AS grid needs at least 3 points, got {points}")
    half = np.linspace(-1.0, 1.0, points)
    return 0.5 * (half - half[::-1])  # exact antisymmetry in floating point


def trapezoid_weights(grid: np.ndarray) -> np.ndarray:
    """Trapezoidal-rule quadrature weights of ``grid`` (they sum to ``grid[-1] - grid[0]``)."""
    grid = np.asarray(grid, dtype=np.float64)
    dx = np.diff(grid)
    w = np.zeros_like(grid)
    w[:-1] += dx / 2
    w[1:] += dx / 2
    return w


def as_score(values: np.ndarray, grid: np.ndarray, *, axis: int = -1) -> np.ndarray:
    """Affine-antisymmetry score ``AS(f)`` of functions sampled on a symmetric grid (paper, Table 10).

    ``AS(f) = 1 - int (f(c)/2 + f(-c)/2 - fbar)^2 dc / int (f(c) - fbar)^2 dc`` with ``fbar`` the mean
    of ``f`` on ``[-1, 1]``; both integrals and ``fbar`` by the trapezoidal rule on ``grid``. The
    numerator is the energy of the even part of ``f - fbar``, the denominator the total energy, so
    ``AS = 1`` exactly for ``f(c) = odd(c) + const`` and ``AS = 0`` for an even ``f``.

    Args:
        values: ``f`` on ``grid`` along ``axis`` (any leading / trailing shape).
        grid: increasing, symmetric about 0 (``grid[i] == -grid[-1 - i]``), e.g. :func:`symmetric_grid`.

    Returns:
        AS scores with ``axis`` removed; NaN where ``f`` is constant (0 / 0).
    """
    grid = np.asarray(grid, dtype=np.float64)
    if grid.ndim != 1 or not np.allclose(grid, -grid[::-1], atol=1e-12) or np.any(np.diff(grid) <= 0):
        raise ValueError("the AS grid must be increasing and symmetric about 0 (use symmetric_grid)")
    f = np.moveaxis(np.asarray(values, dtype=np.float64), axis, -1)
    if f.shape[-1] != len(grid):
        raise ValueError(f"values have {f.shape[-1]} points along axis {axis}, the grid {len(grid)}")
    w = trapezoid_weights(grid)
    fbar = (f * w).sum(-1, keepdims=True) / w.sum()
    even = 0.5 * (f + f[..., ::-1]) - fbar
    num = (even**2 * w).sum(-1)
    den = ((f - fbar) ** 2 * w).sum(-1)
    # a constant f has no odd or even part: 0 / 0; a slice that is flat to rounding is reported as NaN
    scale = np.abs(f).max(-1) ** 2 * w.sum()
    flat = den <= 1e-24 * np.maximum(scale, 1e-300)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(flat, np.nan, 1.0 - num / np.where(flat, 1.0, den))


# ------------------------------------------------------------------------------------ slices
def random_directions(shape: Sequence[int], num: int, *, seed: int) -> torch.Tensor:
    """``num`` directions ``x ~ N(0, I)`` of ``shape`` (seed-addressed; typical ``x_T`` scale)."""
    gen = torch.Generator().manual_seed(derive_seed(seed, DIRECTION_STREAM))
    return torch.randn((num, *shape), generator=gen, dtype=torch.float32)


def _batched_eps(model: DiffusionModel, x: torch.Tensor, t: int, batch_size: int) -> torch.Tensor:
    out = []
    for i in range(0, len(x), batch_size):
        chunk = x[i : i + batch_size].to(device=model.device, dtype=model.dtype)
        out.append(model.eps(chunk, int(t)).double().cpu())
    return torch.cat(out)


def eps_slices(
    model: DiffusionModel, *, directions: torch.Tensor, t: int, grid: np.ndarray, batch_size: int = 1024
) -> np.ndarray:
    """Slices ``f(c) = [eps_t(c x)]_j`` (paper, Figure 4) for every direction ``x`` and coordinate ``j``.

    Returns:
        float64 array ``(num_directions, D, len(grid))``: slice of direction ``n``, flattened output
        coordinate ``j``, evaluated at ``grid``.
    """
    c = torch.as_tensor(grid, dtype=torch.float32).view(1, -1, *([1] * (directions.ndim - 1)))
    inputs = (c * directions.unsqueeze(1)).reshape(-1, *directions.shape[1:])  # (N * G, ...)
    eps = _batched_eps(model, inputs, t, batch_size)
    n, g = directions.shape[0], len(grid)
    return eps.reshape(n, g, -1).permute(0, 2, 1).numpy()


def _schedule_row(model: DiffusionModel, t: int) -> dict[str, float]:
    abar = float(model.scheduler.alphas_cumprod[int(t)])
    return {"t": int(t), "abar": abar, "sigma": math.sqrt(1 - abar), "tau": ou_time(abar)}


def as_distribution(
    model: DiffusionModel,
    *,
    timesteps: Sequence[int],
    num_directions: int,
    grid_points: int,
    seed: int,
    batch_size: int = 1024,
    examples: int = 0,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict[int, np.ndarray]]:
    """AS scores of ``eps_t`` slices over many ``(x, j, t)`` (paper, Table 10).

    Directions ``x ~ N(0, I)`` (the scale of ``x_T``) are shared by all ``t``; every output coordinate
    ``j`` of every direction is scored (they come at no extra model cost).

    Returns:
        a frame with one row per ``(t, direction, coordinate)`` (columns ``t, abar, sigma, tau,
        direction, coordinate, as_score``) and, if ``examples > 0``, for each ``t`` the first
        ``examples`` slices ``(examples, len(grid))`` along a fixed random choice of ``(x, j)``.
    """
    if num_directions < 1:
        raise ValueError(f"num_directions must be >= 1, got {num_directions}")
    grid = symmetric_grid(grid_points)
    directions = random_directions(model.sample_shape, num_directions, seed=seed)
    d = int(np.prod(model.sample_shape))
    pick = np.random.default_rng(derive_seed(seed, DIRECTION_STREAM, 1))
    ex_dirs = pick.integers(0, num_directions, size=examples)
    ex_coords = pick.integers(0, d, size=examples)
    frames, kept = [], {}
    for t in tqdm(list(timesteps), desc=f"AS slices {model.name}", disable=not progress):
        # 1. evaluate eps_t along every slice c -> c x
        slices = eps_slices(model, directions=directions, t=int(t), grid=grid, batch_size=batch_size)
        # 2. score every (direction, coordinate)
        scores = as_score(slices, grid)
        row = _schedule_row(model, t)
        frames.append(
            pd.DataFrame(
                {
                    **{k: v for k, v in row.items()},
                    "direction": np.repeat(np.arange(num_directions), d),
                    "coordinate": np.tile(np.arange(d), num_directions),
                    "as_score": scores.reshape(-1),
                }
            )
        )
        if examples:
            kept[int(t)] = slices[ex_dirs, ex_coords]
    return pd.concat(frames, ignore_index=True), kept


def summarize_as(frame: pd.DataFrame, *, quantile: float = 0.1) -> pd.DataFrame:
    """Per ``t``: mean, ``quantile`` quantile, median and minimum of the AS scores (Table 10)."""
    grouped = frame.groupby(["t", "abar", "sigma", "tau"], sort=False)["as_score"]
    out = grouped.agg(
        as_mean="mean",
        as_q=lambda s: s.quantile(quantile),
        as_median="median",
        as_min="min",
        as_count="count",
    ).reset_index()
    return out.rename(columns={"as_q": f"as_q{int(round(100 * quantile)):02d}"})


# ------------------------------------------------------------------------------------ on-distribution
def antisymmetry_probe(
    model: DiffusionModel,
    *,
    data: torch.Tensor,
    timesteps: Sequence[int],
    seed: int,
    batch_size: int = 1024,
    progress: bool = True,
) -> pd.DataFrame:
    """On-distribution antisymmetry of ``eps_t`` at ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) z``.

    For each ``t`` (``x_0`` = the rows of ``data``, ``z`` seed-addressed):

    * ``corr_mean`` / ``corr_max``: per output coordinate ``i`` the Pearson correlation across samples
      of ``eps_t(X)_i`` and ``eps_t(-X)_i``, averaged / worst over ``i``. This is the quantity of
      Lemma 1 and Corollary 1: it is -1 for every ``i`` iff ``eps_t`` is affine antisymmetric on the
      support, and it does not depend on ``c_t``.
    * ``residual_median`` / ``residual_mean``: ``||eps_t(x) + eps_t(-x) - 2 c_t|| / ||eps_t(x) - eps_t(-x)||``
      per sample (0 = exactly affine antisymmetric), with ``c_t`` the mean of ``(eps_t(x) + eps_t(-x)) / 2``,
      the least-squares constant, *cross-fitted*: estimated on one half of the samples and applied to
      the other (and vice versa), so that it is not fitted to the samples it is scored on.
    * ``c_norm``: ``||c_t|| / sqrt(D)`` (RMS of the estimated shift).
    """
    n = len(data)
    if n < 4:
        raise ValueError(f"the on-distribution probe needs at least 4 data samples, got {n}")
    gen = torch.Generator().manual_seed(derive_seed(seed, PROBE_STREAM))
    z = torch.randn(data.shape, generator=gen, dtype=torch.float32)
    x0 = data.to(torch.float32)
    half = np.arange(n) < n // 2
    rows = []
    for t in tqdm(list(timesteps), desc=f"probe {model.name}", disable=not progress):
        row = _schedule_row(model, t)
        # 1. noise the data to x_t and evaluate eps_t at x_t and -x_t
        xt = math.sqrt(row["abar"]) * x0 + math.sqrt(1 - row["abar"]) * z
        both = _batched_eps(model, torch.cat([xt, -xt]), t, batch_size).reshape(2, n, -1).numpy()
        plus, minus = both[0], both[1]
        # 2. correlation across samples, per coordinate
        corr = pearson(plus, minus)
        # 3. cross-fitted shift c_t and the residual ratio
        mid = 0.5 * (plus + minus)
        c_a, c_b = mid[half].mean(0), mid[~half].mean(0)
        c = np.where(half[:, None], c_b, c_a)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.linalg.norm(plus + minus - 2 * c, axis=1) / np.linalg.norm(plus - minus, axis=1)
        rows.append(
            {
                **row,
                "corr_mean": float(np.nanmean(corr)),
                "corr_max": float(np.nanmax(corr)),
                "residual_median": float(np.nanmedian(ratio)),
                "residual_mean": float(np.nanmean(ratio)),
                "c_norm": float(np.linalg.norm(mid.mean(0)) / math.sqrt(mid.shape[1])),
                "samples": n,
            }
        )
    return pd.DataFrame(rows)


def break_level(summary: pd.DataFrame, *, column: str, threshold: float, holds_above: bool = True) -> dict:
    """Noise level below which a symmetry criterion fails (scanning from high to low noise).

    The criterion holds at ``t`` when ``summary[column] >= threshold`` (``holds_above``) or
    ``<= threshold`` (otherwise). Returns the largest probed ``sigma_t`` at which it fails
    (``break_sigma``, with its ``t``) and the smallest ``sigma_t`` above that at which it still holds
    (``last_holding_sigma``); ``break_sigma`` is None if it holds at every probed level.
    """
    s = summary.sort_values("sigma", ascending=False)
    ok = s[column] >= threshold if holds_above else s[column] <= threshold
    failed = s[~ok.to_numpy()]
    out = {"column": column, "threshold": threshold, "holds_if": ">=" if holds_above else "<="}
    if failed.empty:
        return {**out, "break_sigma": None, "break_t": None, "last_holding_sigma": float(s["sigma"].min()),
                "last_holding_t": int(s.loc[s["sigma"].idxmin(), "t"])}
    first = failed.iloc[0]
    above = s[s["sigma"] > first["sigma"]]
    return {
        **out,
        "break_sigma": float(first["sigma"]),
        "break_t": int(first["t"]),
        "break_value": float(first[column]),
        "last_holding_sigma": float(above["sigma"].min()) if len(above) else None,
        "last_holding_t": int(above.loc[above["sigma"].idxmin(), "t"]) if len(above) else None,
    }


# ------------------------------------------------------------------------------------ Theorem 1
def ou_time(abar: float | np.ndarray) -> float | np.ndarray:
    """OU time ``tau`` of a VP / DDPM noise level: ``abar_t = exp(-2 tau)``, i.e. ``tau = -log(abar_t) / 2``.

    The OU process ``dX = -X dtau + sqrt(2) dW`` has ``X_tau = e^{-tau} X_0 + sqrt(1 - e^{-2 tau}) Z``,
    the DDPM forward marginal ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) z`` with ``sqrt(abar_t) = e^{-tau}``;
    the stationary law is gamma = N(0, I) and the score is ``s_t(x) = -eps_t(x) / sqrt(1 - abar_t)``.
    """
    return -0.5 * np.log(abar)


def sample_mixture(mixture: GaussianMixtureScore, num: int, *, generator: torch.Generator) -> torch.Tensor:
    """``num`` exact draws of ``sum_k pi_k N(mu_k, s^2 I)`` (float64)."""
    k = torch.multinomial(mixture.log_weights.exp(), num, replacement=True, generator=generator)
    noise = torch.randn((num, *mixture.means.shape[1:]), generator=generator, dtype=torch.float64)
    return mixture.means[k] + mixture.std * noise


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


def relative_fisher_information(
    *,
    score: callable,
    x0: torch.Tensor,
    abars: Sequence[float],
    seed: int,
) -> pd.DataFrame:
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


def model_score(model: DiffusionModel, *, batch_size: int = 1024):
    """``score(x, abar)`` of a model at its training timestep of level ``abar``: ``-eps_t(x) / sqrt(1 - abar_t)``."""
    abars = model.scheduler.alphas_cumprod.double().numpy()

    def score(x: torch.Tensor, abar: float) -> torch.Tensor:
        t = int(np.argmin(np.abs(abars - abar)))
        if not math.isclose(abars[t], abar, rel_tol=1e-6, abs_tol=1e-12):
            raise ValueError(f"abar={abar} is not a training noise level of model {model.name!r}")
        eps = _batched_eps(model, x.float(), t, batch_size)
        return -eps.reshape(x.shape) / math.sqrt(1 - abars[t])

    return score


def mixture_score(mixture: GaussianMixtureScore):
    """``score(x, abar)`` of an exact mixture at any level ``abar`` in ``(0, 1]`` (1 = the data law)."""

    def score(x: torch.Tensor, abar: float) -> torch.Tensor:
        return mixture.score(x, torch.full((len(x),), abar, dtype=torch.float64))

    return score
