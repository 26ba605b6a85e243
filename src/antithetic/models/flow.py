"""A small RealNVP normalizing flow (Dinh et al. 2017) for 8x8 images, sampled as ``x = G(z)``.

Data path (training, data -> latent), for images with ``L`` intensity levels (sklearn digits: 17):

1. **Dequantization**: level ``k in {0..L-1}`` becomes ``u = (k + v) / L`` with ``v ~ U(0, 1)``, a
   continuous value in (0, 1) (uniform dequantization, Theis et al. 2016).
2. **Logit transform**: ``y = logit(a + (1 - 2a) u)`` with ``a = logit_alpha`` (RealNVP uses 0.05),
   so ``y`` lives on the whole real line.
3. **Flow** ``z = f(y)``: a learned per-pixel affine map, then ``coupling_layers`` affine couplings
   with alternating checkerboard masks at full resolution, a squeeze (2x2 pixels -> 4 channels) and
   ``coupling_layers`` couplings with alternating channel masks, then the inverse squeeze. Each
   coupling keeps the masked half ``x_m`` and maps the rest to ``x * exp(s(x_m)) + t(x_m)`` with
   ``s = scale * tanh(.)`` from a small MLP; its log-determinant is ``sum s``.

``log p(y) = log N(f(y); 0, I) + log |det df/dy|``. The reported bits per dimension add the
dequantization and logit Jacobians, giving an upper bound on the discrete negative log-likelihood.

Sampling (the generator of the antithetic experiments): ``G(z) = post(f^{-1}(z))`` with ``z ~ N(0, I)``
of the image's shape, where ``post`` inverts steps 2 and 1 on the level scale
(``k = L u - 1/2``, clipped to ``[0, L-1]``, mapped to [-1, 1]). A PN pair is ``(G(z), G(-z))``.

Saved and loaded like a diffusers model (:class:`~diffusers.ModelMixin`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

__all__ = ["AffineCoupling", "DigitsFlow", "checkerboard_mask", "channel_mask"]


def checkerboard_mask(shape: tuple[int, int, int], parity: int) -> torch.Tensor:
    """``(1, C, H, W)`` mask, 1 where ``(i + j) % 2 == parity``."""
    c, h, w = shape
    i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return ((i + j) % 2 == parity).float().expand(1, c, h, w).clone()


def channel_mask(shape: tuple[int, int, int], pattern: int) -> torch.Tensor:
    """``(1, C, H, W)`` mask over channels: pattern 0/1 keeps the first/second half, 2/3 even/odd channels."""
    c, h, w = shape
    idx = torch.arange(c)
    keep = {0: idx < c // 2, 1: idx >= c // 2, 2: idx % 2 == 0, 3: idx % 2 == 1}[pattern % 4]
    return keep.float().view(1, c, 1, 1).expand(1, c, h, w).clone()


class AffineCoupling(nn.Module):
    """RealNVP affine coupling: ``y = x * exp(s(x_m)) + t(x_m)`` off the mask, ``y = x`` on it.

    ``s`` and ``t`` come from one MLP over the masked (flattened) input: on 8x8 images an MLP sees the
    whole image at once and is several times cheaper on a CPU than RealNVP's CNN.
    """

    def __init__(self, mask: torch.Tensor, hidden_features: int) -> None:
        super().__init__()
        d = mask[0].numel()
        self.register_buffer("mask", mask)
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(d, hidden_features),
            nn.SiLU(),
            nn.Linear(hidden_features, hidden_features),
            nn.SiLU(),
            nn.Linear(hidden_features, 2 * d),
            nn.Unflatten(1, (2 * mask.shape[1], *mask.shape[2:])),
        )
        # start at the identity map
        nn.init.zeros_(self.net[-2].weight)
        nn.init.zeros_(self.net[-2].bias)
        self.scale = nn.Parameter(torch.ones(1, *mask.shape[1:]))

    def _shift_scale(self, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(kept).chunk(2, dim=1)
        free = 1 - self.mask
        return self.scale * torch.tanh(s) * free, t * free

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x -> (y, log |det dy/dx|)``."""
        s, t = self._shift_scale(x * self.mask)
        return x * torch.exp(s) + t, s.flatten(1).sum(1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """``y -> x`` (the kept half of ``y`` equals that of ``x``)."""
        s, t = self._shift_scale(y * self.mask)
        return (y - t) * torch.exp(-s)


class DigitsFlow(ModelMixin, ConfigMixin):
    """RealNVP with checkerboard and channel-mask couplings, dequantization and a logit transform.

    Args:
        sample_shape: ``(C, H, W)`` of one image (H and W even).
        hidden_features: width of each coupling MLP.
        coupling_layers: couplings per scale (checkerboard at full resolution, channel masks after the squeeze).
        levels: number of intensity levels of the data (17 for sklearn digits).
        logit_alpha: ``a`` of the logit transform ``logit(a + (1 - 2a) u)``.
    """

    @register_to_config
    def __init__(
        self,
        sample_shape: tuple[int, ...] = (1, 8, 8),
        hidden_features: int = 128,
        coupling_layers: int = 4,
        levels: int = 17,
        logit_alpha: float = 0.05,
    ):
        super().__init__()
        c, h, w = (int(s) for s in sample_shape)
        if h % 2 or w % 2:
            raise ValueError(f"the flow's squeeze needs even height and width, got sample_shape={tuple(sample_shape)}")
        if levels < 2 or not 0 < logit_alpha < 0.5 or coupling_layers < 1:
            raise ValueError(f"need levels >= 2, 0 < logit_alpha < 0.5, coupling_layers >= 1; got {levels}, {logit_alpha}, {coupling_layers}")
        self.log_scale = nn.Parameter(torch.zeros(1, c, h, w))
        self.bias = nn.Parameter(torch.zeros(1, c, h, w))
        self.full = nn.ModuleList(
            AffineCoupling(checkerboard_mask((c, h, w), k % 2), hidden_features) for k in range(coupling_layers)
        )
        self.squeezed = nn.ModuleList(
            AffineCoupling(channel_mask((4 * c, h // 2, w // 2), k), hidden_features) for k in range(coupling_layers)
        )

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.config.sample_shape)

    @property
    def noise_shape(self) -> tuple[int, ...]:
        return self.sample_shape

    # ------------------------------------------------------------------ data <-> logit space
    def preprocess(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [-1, 1] and dequantization noise ``v ~ U(0, 1)`` -> ``(y, log |det dy/du|)``."""
        levels, a = int(self.config.levels), float(self.config.logit_alpha)
        k = torch.round((x + 1) / 2 * (levels - 1))
        u = (k + v) / levels
        p = a + (1 - 2 * a) * u
        y = torch.log(p) - torch.log1p(-p)
        logdet = (math.log(1 - 2 * a) - torch.log(p) - torch.log1p(-p)).flatten(1).sum(1)
        return y, logdet

    def postprocess(self, y: torch.Tensor) -> torch.Tensor:
        """Logit space -> images in [-1, 1] on the level scale (inverse of :meth:`preprocess` up to rounding)."""
        levels, a = int(self.config.levels), float(self.config.logit_alpha)
        u = (torch.sigmoid(y) - a) / (1 - 2 * a)
        k = levels * u - 0.5
        return torch.clamp(k / (levels - 1), 0.0, 1.0) * 2 - 1

    # ------------------------------------------------------------------ the flow
    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``y -> (z, log |det dz/dy|)``."""
        # 1. learned per-pixel affine map
        z = (y - self.bias) * torch.exp(-self.log_scale)
        logdet = -self.log_scale.sum().expand(len(y))
        # 2. checkerboard couplings at full resolution
        for layer in self.full:
            z, ld = layer(z)
            logdet = logdet + ld
        # 3. squeeze, channel couplings, unsqueeze (both squeezes are permutations: no Jacobian)
        z = F.pixel_unshuffle(z, 2)
        for layer in self.squeezed:
            z, ld = layer(z)
            logdet = logdet + ld
        return F.pixel_shuffle(z, 2), logdet

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """``z -> y = f^{-1}(z)``."""
        y = F.pixel_unshuffle(z, 2)
        for layer in reversed(self.squeezed):
            y = layer.inverse(y)
        y = F.pixel_shuffle(y, 2)
        for layer in reversed(self.full):
            y = layer.inverse(y)
        return y * torch.exp(self.log_scale) + self.bias

    def log_prob(self, y: torch.Tensor) -> torch.Tensor:
        """``log p(y)`` in logit space, per sample."""
        z, logdet = self(y)
        return (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1) + logdet

    def loss(self, x: torch.Tensor, v: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training loss (negative log-likelihood in logit space, nats per dim) and bits per dim of the data."""
        y, logdet_pre = self.preprocess(x, v)
        log_p = self.log_prob(y)
        d = y[0].numel()
        bits = (-(log_p + logdet_pre) + d * math.log(int(self.config.levels))) / (d * math.log(2))
        return {"loss": -log_p.mean() / d, "bits_per_dim": bits.mean()}

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """The generator of the antithetic experiments: ``G(z) = post(f^{-1}(z))``."""
        return self.postprocess(self.inverse(z))

    def describe(self) -> dict:
        return {
            "architecture": "RealNVP: per-pixel affine, checkerboard couplings, squeeze, channel couplings",
            "hidden_features": int(self.config.hidden_features),
            "coupling_layers": int(self.config.coupling_layers),
            "levels": int(self.config.levels),
            "logit_alpha": float(self.config.logit_alpha),
            "dequantization": "uniform",
        }
