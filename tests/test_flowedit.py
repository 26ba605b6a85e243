"""Antithetic FlowEdit: the edit against a plain loop, the rectified-flow velocity against closed forms, noise addressing."""

import math

import pytest
import torch

from antithetic.models.analytic import gaussian_model
from antithetic.parametrization import rectified_flow_time, rectified_flow_velocity

SHAPE = (1, 8, 8)


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
