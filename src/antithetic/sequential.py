"""A CI of a requested half-width: Stein's two-stage procedure over the groups of a noise design.

Sampling "until the CI looks narrow" (recomputing the t interval after every batch and stopping once
it is short enough) undercovers: the stopping time favours runs whose sample variance happens to be
small. Stein's two-stage procedure (Stein, 1945) does not:

1. **Pilot.** Draw ``n0`` groups of the design; ``s`` is the standard deviation of their group means.
2. **Size.** The total number of groups is ``G = max(n0, ceil((t * s / h)^2))``, with ``t`` the
   ``1 - (1 - level)/2`` quantile of Student's t with ``n0 - 1`` degrees of freedom and ``h`` the
   requested half-width.
3. **Continue.** Draw groups ``n0 .. G - 1``; the pilot's samples are kept (seed addressing: the
   continuation starts at sample ``n0 * group_size`` of the same design, so the result is what a
   single run of ``G`` groups would give).
4. **Interval.** ``mean of the G group means +- t * s / sqrt(G)``, still with the *pilot's* ``s`` and
   ``n0 - 1`` degrees of freedom. ``G`` depends on the data only through ``s``, which is independent of
   the group means' average for Gaussian group means, so ``(mean - mu) sqrt(G) / s`` is exactly
   t-distributed with ``n0 - 1`` degrees of freedom: the coverage is exactly ``level`` for Gaussian
   group means (and close to it whenever the fixed-size t interval is), and the half-width is at most
   ``h``.

A budget ``max_samples`` caps ``G`` at ``max_samples // group_size``; the interval is then still valid
(``G`` is still a function of ``s`` alone) but wider than ``h``, and the result says so
(``budget_binding``). The group means are those of the design's estimator: pair means for antithetic
noise, K-group means for K-antithetic noise, replicate means for RQMC, single samples for iid noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .estimation import EstimateResult, estimate, group_values
from .estimators import ci_quantile
from .noise import NoiseDesign

__all__ = ["SequentialResult", "sequential_estimate", "stein_num_groups"]

SampleFn = Callable[[int, int], Any]


@dataclass
class SequentialResult:
    """Result of :func:`sequential_estimate`.

    Attributes:
        estimate: the mean of the ``num_groups`` group means.
        ci_low, ci_high: Stein's interval, ``estimate +- half_width``.
        half_width: ``t_{n0-1} * pilot_sd / sqrt(num_groups)``; at most ``requested_half_width`` unless the
            budget binds.
        requested_half_width: ``h``.
        level: the confidence level.
        method: the design's estimator.
        design: the design's parameters.
        pilot_groups: ``n0``.
        pilot_sd: the standard deviation of the pilot's group means.
        quantile: ``t_{1 - (1 - level)/2, n0 - 1}``.
        needed_groups: ``max(n0, ceil((quantile * pilot_sd / h)^2))``, before the budget cap.
        num_groups, group_size, num_samples: what was drawn (``num_samples = num_groups * group_size``).
        start: the first sample index; the run used samples ``start .. start + num_samples - 1``.
        budget_binding: whether ``max_samples`` capped ``num_groups`` below ``needed_groups``.
        max_samples: the budget.
        final: the design's fixed-size estimate of all drawn samples (its own CI, the within-group
            correlation and the efficiency against MC); the sequential CI is Stein's above.
    """

    estimate: float
    ci_low: float
    ci_high: float
    half_width: float
    requested_half_width: float
    level: float
    method: str
    design: dict[str, Any]
    pilot_groups: int
    pilot_sd: float
    quantile: float
    needed_groups: int
    num_groups: int
    group_size: int
    num_samples: int
    start: int
    budget_binding: bool
    max_samples: int | None
    final: EstimateResult | None = field(default=None, repr=False)

    def covers(self, truth: float) -> bool:
        """Whether the interval contains ``truth``."""
        return bool(self.ci_low <= truth <= self.ci_high)

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values (``final`` as its own dict)."""
        out = asdict(self)
        out["final"] = None if self.final is None else self.final.to_dict()
        return out

    def __str__(self) -> str:
        budget = "  (budget binds: wider than requested)" if self.budget_binding else ""
        return (f"{self.method} (Stein two-stage): {self.estimate:.6g}  [{self.ci_low:.6g}, {self.ci_high:.6g}] "
                f"({100 * self.level:g}% CI, half-width {self.half_width:.4g} <= {self.requested_half_width:.4g}"
                f" requested){budget}\n  {self.num_samples} samples in {self.num_groups} groups of {self.group_size} "
                f"(pilot {self.pilot_groups} groups, needed {self.needed_groups})")


def stein_num_groups(pilot_sd: float, half_width: float, *, n0: int, level: float = 0.95) -> int:
    """``max(n0, ceil((t_{1-a/2, n0-1} * pilot_sd / half_width)^2))``: the groups Stein's procedure draws."""
    if not half_width > 0:
        raise ValueError(f"half_width must be positive, got {half_width}")
    t = ci_quantile(level, n0 - 1, "t")
    needed = (t * pilot_sd / half_width) ** 2
    # a tiny tolerance so that an exact square (e.g. 25.000000000000004) does not draw one group more
    return max(int(n0), int(math.ceil(needed - 1e-9)))


def _values(sample_fn: SampleFn, start: int, count: int) -> np.ndarray:
    values = np.asarray(sample_fn(start, count), dtype=np.float64)
    if values.shape[:1] != (count,):
        raise ValueError(f"sample_fn(start={start}, count={count}) returned shape {values.shape}; it must return {count} values")
    if values.ndim != 1:
        raise ValueError(f"sequential_estimate needs a scalar statistic (one value per sample), got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"sample_fn(start={start}, count={count}) returned non-finite values")
    return values


def sequential_estimate(
    sample_fn: SampleFn,
    design: NoiseDesign,
    *,
    half_width: float,
    n0: int = 20,
    level: float = 0.95,
    max_samples: int | None = None,
    start: int = 0,
) -> SequentialResult:
    """Estimate ``E[S]`` with a ``level`` CI of half-width at most ``half_width`` (Stein's two-stage procedure).

    Args:
        sample_fn: ``sample_fn(start, count)`` returns the statistic of samples ``start .. start + count - 1``
            of ``design`` (``count`` values); e.g. generate the samples with ``antithetic_latents(pipe, count,
            start=start, ...)`` or :func:`antithetic.generate.generate` and apply the statistic. It is called
            twice: for the pilot and for the continuation, which starts where the pilot ended.
        design: the noise design; its groups (pairs, K-groups, RQMC replicates) are the units.
        half_width: the requested CI half-width ``h``.
        n0: pilot groups (at least 2; 10 to 30 is typical: more makes the total closer to the
            smallest that reaches ``h``).
        level: confidence level.
        max_samples: budget of samples (pilot included); ``None`` for no cap.
        start: first sample index (a multiple of the group size).

    Returns:
        :class:`SequentialResult`; ``budget_binding`` says whether the budget capped the run.

    Raises:
        ValueError: ``n0 < 2``, the pilot does not fit the budget, or ``sample_fn`` returns bad values.
    """
    if not isinstance(n0, int) or n0 < 2:
        raise ValueError(f"n0 must be an integer >= 2 (pilot groups), got {n0!r}")
    size = design.group_size
    if start % size:
        raise ValueError(f"start={start} must be a multiple of the design's group size {size}")
    if max_samples is not None and max_samples < n0 * size:
        raise ValueError(f"max_samples={max_samples} is smaller than the pilot's n0 * group_size = {n0 * size}; "
                         f"raise max_samples or lower n0")
    pilot = _values(sample_fn, start, n0 * size)
    means = group_values(pilot, design, start=start).mean(axis=1)
    sd = float(means.std(ddof=1))
    needed = stein_num_groups(sd, half_width, n0=n0, level=level)
    total = needed
    binding = False
    if max_samples is not None and needed * size > max_samples:
        total, binding = max_samples // size, True
    values = pilot
    if total > n0:
        values = np.concatenate([pilot, _values(sample_fn, start + n0 * size, (total - n0) * size)])
    all_means = group_values(values, design, start=start).mean(axis=1)
    t = ci_quantile(level, n0 - 1, "t")
    center = float(all_means.mean())
    hw = t * sd / math.sqrt(total)
    final = estimate(values, design, level=level, start=start)
    return SequentialResult(
        estimate=center, ci_low=center - hw, ci_high=center + hw, half_width=hw, requested_half_width=float(half_width),
        level=level, method=final.method, design=design.describe(), pilot_groups=n0, pilot_sd=sd, quantile=t,
        needed_groups=needed, num_groups=total, group_size=size, num_samples=total * size, start=start,
        budget_binding=binding, max_samples=max_samples, final=final,
    )
