"""Linear inverse problems with diffusion posterior sampling (DPS; Chung et al. 2023), antithetic noise.

Measurement model: ``y = A x_0 + sigma_y n`` with a linear operator ``A`` and ``n ~ N(0, I)``. DPS
(Chung et al. 2023, Algorithm 1) follows the unconditional sampler and, after every step, moves the
state against the gradient of the measurement residual at Tweedie's estimate of the clean image::

    eps      = eps_theta(x_t, t)                                   (the model call; differentiable)
    x0_hat   = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)
    x'       = DDIM/DDPM step(x_t, eps, injected noise w_t)         (diffusers' DDIMScheduler.step)
    x_{t-1}  = x' - zeta * grad_{x_t} ||y - A x0_hat||_2

Gradients flow only through the model call (``x0_hat`` is affine in ``x_t`` apart from it); the
prior step and the injected noise are not differentiated. DPS is not a sampler of its own: it is the
guidance hook :class:`DPSGuidance` of the DDIM loop of :mod:`antithetic.samplers` (its ``eps`` comes from
the differentiable model call, its shift of the state is ``-zeta grad``), and :func:`solve_measurements`
generates the reconstructions with :func:`antithetic.generate.generate`. The sampler takes its initial
noise and a per-step noise source (:class:`antithetic.noise.StepNoise`) and draws nothing itself, so an
antithetic design hands the twin ``(-z, -w_1, ..., -w_T)``: every injected noise negated.

Operators on ``(C, H, W)`` images (all linear):

* ``inpainting``: keep the pixels outside a box, ``A x = x[outside]`` (as ``mask * x``);
* ``super_resolution``: ``factor`` x ``factor`` average pooling;
* ``deblurring``: convolution with a normalised Gaussian kernel (``kernel_size``, ``sigma``), with
  reflect padding (a linear map).

The reconstruction quality per measurement is estimated by plain MC (iid noise) and AMC (antithetic
pairs) at equal sample count, for the L1 error and the PSNR of the reconstruction
(:func:`reconstruction_metrics`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from .bootstrap import bootstrap_ci
from .generate import generate
from .models.base import DiffusionModel
from .samplers import sample_ddim

if TYPE_CHECKING:
    import pandas as pd

    from .noise import NoiseDesign

__all__ = [
    "MIN_SAMPLES",
    "OPERATORS",
    "DPSGuidance",
    "LinearOperator",
    "dps_gradient",
    "inverse_experiment",
    "make_operator",
    "measure",
    "reconstruction_metrics",
    "sample_dps",
    "solve_measurements",
    "tweedie_x0",
]

#: reconstructions per measurement and method at the least: AMC's variance needs 2 antithetic pairs
MIN_SAMPLES = 4


@dataclass
class LinearOperator:
    """A linear measurement operator ``A`` on images ``(B, C, H, W)``; ``apply`` must be linear."""

    name: str
    apply: Callable[[torch.Tensor], torch.Tensor]
    params: dict[str, Any] = field(default_factory=dict)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.apply(x)

    def matrix(self, shape: tuple[int, ...]) -> torch.Tensor:
        """The matrix of ``A`` (rows: measurement entries, columns: pixels), float64, for closed forms in tests."""
        d = math.prod(shape)
        basis = torch.eye(d, dtype=torch.float64).reshape(d, *shape)
        return self.apply(basis).reshape(d, -1).T


def _inpainting(box: list[int]) -> LinearOperator:
    top, left, height, width = (int(v) for v in box)

    def apply(x: torch.Tensor) -> torch.Tensor:
        mask = torch.ones(x.shape[-2:], dtype=x.dtype, device=x.device)
        mask[top : top + height, left : left + width] = 0
        return x * mask

    return LinearOperator("inpainting", apply, {"box": [top, left, height, width]})


def _super_resolution(factor: int) -> LinearOperator:
    def apply(x: torch.Tensor) -> torch.Tensor:
        return nn.functional.avg_pool2d(x, int(factor))

    return LinearOperator("super_resolution", apply, {"factor": int(factor)})


def _deblurring(kernel_size: int, sigma: float) -> LinearOperator:
    if kernel_size % 2 == 0:
        raise ValueError(f"deblurring: kernel_size must be odd, got {kernel_size}")
    r = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    kernel = torch.outer(g, g)
    kernel = kernel / kernel.sum()

    def apply(x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        k = kernel.to(device=x.device, dtype=x.dtype).expand(c, 1, kernel_size, kernel_size)
        pad = kernel_size // 2
        return nn.functional.conv2d(nn.functional.pad(x, (pad,) * 4, mode="reflect"), k, groups=c)

    return LinearOperator("deblurring", apply, {"kernel_size": kernel_size, "sigma": sigma})


OPERATORS: dict[str, Callable[..., LinearOperator]] = {
    "inpainting": _inpainting,
    "super_resolution": _super_resolution,
    "deblurring": _deblurring,
}


def make_operator(task: str, **params: Any) -> LinearOperator:
    """Build the operator of ``task`` (a key of :data:`OPERATORS`) from its parameters."""
    if task not in OPERATORS:
        raise ValueError(f"unknown task {task!r}; known tasks: {sorted(OPERATORS)}")
    try:
        return OPERATORS[task](**params)
    except TypeError as err:
        raise TypeError(f"task {task!r}: bad parameters {params}: {err}") from None


def measure(operator: LinearOperator, x0: torch.Tensor, *, sigma_y: float, noise: torch.Tensor) -> torch.Tensor:
    """``y = A x0 + sigma_y n``; ``noise`` is ``n`` in the measurement's shape ``A(x0).shape`` (seed-addressed by the caller).

    For inpainting the noise of the masked pixels is masked too (they are not measured).
    """
    clean = operator(x0)
    n = operator(noise) if operator.name == "inpainting" else noise
    return clean + sigma_y * n


def tweedie_x0(model: DiffusionModel, x: torch.Tensor, t: torch.Tensor | int, abar: torch.Tensor) -> torch.Tensor:
    """Tweedie's estimate ``(x_t - sqrt(1 - abar_t) eps_theta(x_t, t)) / sqrt(abar_t)``, differentiable in ``x_t``."""
    eps = model.eps_differentiable(x, t)
    return (x - torch.sqrt(1 - abar) * eps) / torch.sqrt(abar)


def dps_gradient(
    model: DiffusionModel,
    x: torch.Tensor,
    t: torch.Tensor | int,
    abar: torch.Tensor,
    *,
    y: torch.Tensor,
    operator: LinearOperator,
    cond: Any = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``grad_{x_t} ||y - A x0_hat(x_t)||_2`` per sample, with ``eps`` and the residual norms (all detached)."""
    x_in = x.detach().requires_grad_(True)
    with torch.enable_grad():
        eps = model.eps_differentiable(x_in, t, cond)
        x0_hat = (x_in - torch.sqrt(1 - abar) * eps) / torch.sqrt(abar)
        residual = (y - operator(x0_hat)).flatten(1).norm(dim=1)
        (grad,) = torch.autograd.grad(residual.sum(), x_in)
    return grad, eps.detach(), residual.detach()


@dataclass
class DPSGuidance:
    """The DPS step as a guidance hook of :func:`antithetic.samplers.sample_ddim`: the step's ``eps`` and
    ``grad_{x_t} ||y - A x0_hat||`` come from one differentiable model call (:func:`dps_gradient`), and the
    state moves by ``-step_size * grad`` after the sampler's update. The callback sees ``"residual"``.

    Args:
        y: measurements, row ``b`` for sample ``b`` of the batch.
        operator: the linear operator ``A``.
        step_size: DPS step ``zeta`` on the gradient of the residual norm.
    """

    y: torch.Tensor
    operator: LinearOperator
    step_size: float = 1.0

    def __call__(
        self, model: DiffusionModel, x: torch.Tensor, t: torch.Tensor | int, *, abar: torch.Tensor, cond: Any = None
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        if len(self.y) != len(x):
            raise ValueError(f"y holds {len(self.y)} measurements for {len(x)} samples; it needs one per sample")
        grad, eps, residual = dps_gradient(model, x, t, abar, y=self.y, operator=self.operator, cond=cond)
        return eps, -self.step_size * grad, {"residual": residual}


def sample_dps(
    model: DiffusionModel,
    x_T: torch.Tensor,
    *,
    y: torch.Tensor,
    operator: LinearOperator,
    num_steps: int = 50,
    eta: float = 1.0,
    step_size: float = 1.0,
    step_noise: Callable[[int], torch.Tensor] | None = None,
    cond: Any = None,
    callback: Callable[[dict[str, Any]], None] | None = None,
) -> torch.Tensor:
    """DPS from ``x_T`` given measurements ``y`` (one per sample, ``(B, *measurement_shape)``): the DDIM
    sampler with the :class:`DPSGuidance` hook.

    Args:
        model: the noise predictor (:class:`~antithetic.models.base.DiffusionModel`).
        x_T: initial noise ``(B, C, H, W)`` from a noise design.
        y: measurements, row ``b`` for sample ``b``.
        operator: the linear operator ``A``.
        num_steps: sampler steps (respaced training schedule).
        eta: DDIM stochasticity in [0, 1]; 1 = DDPM posterior variance (ancestral, the DPS paper's sampler,
            with DDPM's clipped model output).
        step_size: DPS step ``zeta`` on the gradient of the residual norm.
        step_noise: per-step noise source (required for ``eta > 0``), e.g. :class:`antithetic.noise.StepNoise`.
        callback: the sampler's callback (``{"step", "t", "x", "eps", "x0"}``, ``x`` the state the step started
            from) plus the residual norms ``"residual"``.
    """
    return sample_ddim(
        model, x_T, num_steps=num_steps, eta=eta, step_noise=step_noise, cond=cond, callback=callback,
        guidance=DPSGuidance(y=y, operator=operator, step_size=step_size), use_clipped_model_output=eta >= 1.0,
    )


def reconstruction_metrics(x: torch.Tensor, truth: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-sample L1 error (mean absolute pixel error in the data range [-1, 1]) and PSNR in dB on
    intensities ``(x + 1) / 2`` clipped to [0, 1] (peak 1), via torchmetrics."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    truth = truth.expand_as(x)
    l1 = (x - truth).abs().flatten(1).mean(1)
    a, b = ((x + 1) / 2).clamp(0, 1), ((truth + 1) / 2).clamp(0, 1)
    psnr = peak_signal_noise_ratio(a, b, data_range=1.0, reduction="none", dim=(1, 2, 3))
    return {"l1": l1.double().numpy(), "psnr": psnr.double().numpy()}


# ------------------------------------------------------------------------------------ experiment
STATISTICS = ("l1", "psnr")


def _pooled_efficiency(s2: np.ndarray, va: np.ndarray, axis: int = -1) -> np.ndarray:
    """Pooled efficiency ``mean_m sigma_m^2 / mean_m (N Var_AMC,m)`` over measurements (along ``axis``)."""
    return s2.mean(axis) / va.mean(axis)


def solve_measurements(
    model: DiffusionModel,
    operator: LinearOperator,
    ys: torch.Tensor,
    *,
    design: NoiseDesign,
    samples: int,
    num_steps: int,
    eta: float,
    step_size: float,
    batch_size: int | None = None,
    progress: bool = False,
) -> tuple[torch.Tensor, float]:
    """``samples`` DPS reconstructions for each measurement in ``ys`` ``(M, ...)`` under a noise design.

    Sample ``k`` of measurement ``m`` has noise index ``m * samples + k`` of ``design``, so groups (pairs)
    never straddle two measurements when ``samples`` is a multiple of the group size. The reconstructions
    are generated by :func:`antithetic.generate.generate` with the DDIM sampler and the :class:`DPSGuidance`
    hook, in batches of whole measurements (at most ``batch_size`` reconstructions, at least one
    measurement per batch); the noise is seed-addressed, so the batching does not change the result.

    Returns:
        reconstructions ``(M, samples, C, H, W)`` and the wall time in seconds.
    """
    design.check_num_samples(samples)
    shape = tuple(model.sample_shape)
    per_batch = max(1, (batch_size or len(ys) * samples) // samples)  # measurements per batch
    ys = ys.to(model.device)

    def dps(batch: np.ndarray) -> dict[str, Any]:  # the measurement of every sample of the batch
        y = ys[torch.as_tensor(batch // samples, device=ys.device)]
        return {"guidance": DPSGuidance(y=y, operator=operator, step_size=step_size)}

    result = generate(
        model, design=design, num_samples=len(ys) * samples, sampler="ddim",
        sampler_options={"num_steps": num_steps, "eta": eta, "use_clipped_model_output": eta >= 1.0},
        batch_size=per_batch * samples, batch_options=dps, progress=progress,
    )
    return torch.from_numpy(result.samples).reshape(len(ys), samples, *shape), result.seconds


def inverse_experiment(
    model: DiffusionModel,
    operator: LinearOperator,
    truths: torch.Tensor,
    *,
    mc_design: NoiseDesign,
    amc_design: NoiseDesign,
    measurement_design: NoiseDesign,
    sigma_y: float,
    samples: int,
    num_steps: int,
    eta: float,
    step_size: float,
    seed: int,
    level: float = 0.95,
    num_bootstrap: int = 1000,
    batch_size: int | None = None,
) -> tuple["pd.DataFrame", list[dict[str, Any]]]:
    """MC against AMC estimates of ``E[L1]`` and ``E[PSNR]`` of DPS reconstructions, per measurement.

    Measurement ``m`` is ``y_m = A x_m + sigma_y n_m`` with ``n_m`` the initial noise of sample ``m`` of
    ``measurement_design``; MC uses ``mc_design`` (independent samples) and AMC ``amc_design`` (pairs),
    ``samples`` reconstructions each; give the three designs independent streams (different seeds).
    ``seed`` seeds the bootstrap over measurements.

    Returns:
        per-(measurement, statistic) rows (estimates, CI lengths, ``rho``, efficiency) and one summary row per
        statistic: mean CI lengths, pooled efficiency ``mean_m sigma_m^2 / mean_m (N Var_AMC,m)`` with a percentile
        bootstrap CI over measurements (paired: sigma_m^2 and Var_AMC,m resampled together), mean ``rho``, seconds per sample.
    """
    import pandas as pd

    from .estimators import amc_estimate, efficiency, mc_estimate

    if samples < MIN_SAMPLES or samples % 2:
        raise ValueError(f"samples must be an even number >= {MIN_SAMPLES} (AMC pairs), got {samples}")
    if mc_design.group_size != 1:
        raise ValueError(f"mc_design must draw independent samples (group size 1), got {mc_design.name!r} "
                         f"with group size {mc_design.group_size}")
    if amc_design.group_size != 2:
        raise ValueError(f"amc_design must couple samples in pairs (group size 2), got {amc_design.name!r} "
                         f"with group size {amc_design.group_size}")
    y_shape = tuple(operator(truths[:1].to(torch.float32)).shape[1:])
    n = measurement_design.initial_noise(range(len(truths)), y_shape)
    ys = measure(operator, truths.to(torch.float32), sigma_y=sigma_y, noise=n)
    results = {}
    for method, design in (("mc", mc_design), ("amc", amc_design)):
        x, seconds = solve_measurements(
            model, operator, ys, design=design, samples=samples, num_steps=num_steps, eta=eta, step_size=step_size,
            batch_size=batch_size,
        )
        metrics = [reconstruction_metrics(x[m], truths[m : m + 1]) for m in range(len(truths))]
        results[method] = {"metrics": metrics, "seconds": seconds}
    rows = []
    for m in range(len(truths)):
        for stat in STATISTICS:
            mc_values = results["mc"]["metrics"][m][stat]
            amc_values = results["amc"]["metrics"][m][stat].reshape(-1, 2)
            mc = mc_estimate(mc_values, level=level)
            amc = amc_estimate(amc_values, level=level)
            sigma2 = float(np.var(mc_values, ddof=1))
            rows.append({
                "measurement": m, "statistic": stat, "samples": samples,
                "mc_estimate": mc.estimate, "mc_ci_length": mc.ci_length,
                "amc_estimate": amc.estimate, "amc_ci_length": amc.ci_length, "rho": amc.extras["rho"],
                "sample_variance": sigma2, "amc_variance": float(amc.variance),
                "efficiency": efficiency(sigma2, amc),
            })
    frame = pd.DataFrame(rows)
    total = len(truths) * samples
    summary = []
    rng = np.random.default_rng(seed)
    for stat in STATISTICS:
        sub = frame[frame["statistic"] == stat]
        s2 = sub["sample_variance"].to_numpy()
        va = sub["amc_variance"].to_numpy() * samples  # N Var(AMC): per-sample-equivalent variance
        with np.errstate(divide="ignore", invalid="ignore"):
            pooled = float(_pooled_efficiency(s2, va))
        # percentile bootstrap over measurements; s2 and va of a measurement are resampled together (paired).
        # Not BCa: on simulated heavy-tailed variances like these (chi-square noise on log-normal sigma_m^2,
        # 10-20 measurements) BCa covered less often than the percentile interval (0.83 / 0.89 against
        # 0.86 / 0.91 at 95%), its jackknife acceleration being noisy with so few measurements
        low, high = bootstrap_ci((s2, va), _pooled_efficiency, paired=True, num_bootstrap=num_bootstrap, level=level, rng=rng,
                                 method="percentile")
        summary.append({
            "statistic": stat, "measurements": int(len(sub)), "samples": samples,
            "mc_mean_estimate": float(sub["mc_estimate"].mean()), "amc_mean_estimate": float(sub["amc_estimate"].mean()),
            "mc_ci_length": float(sub["mc_ci_length"].mean()), "amc_ci_length": float(sub["amc_ci_length"].mean()),
            "efficiency": pooled, "efficiency_ci_low": float(low), "efficiency_ci_high": float(high),
            "rho_mean": float(np.nanmean(sub["rho"])), "level": level,
            "mc_seconds_per_sample": results["mc"]["seconds"] / total,
            "amc_seconds_per_sample": results["amc"]["seconds"] / total,
        })
    return frame, summary
