"""A small variational autoencoder (Kingma & Welling 2014) for 8x8 images, sampled as ``x = G(z)``.

Encoder ``q(z | x) = N(mu(x), diag sigma(x)^2)`` and decoder ``p(x | z) = N(m(z), s^2 I)`` are MLPs;
the decoder mean ``m(z) = tanh(MLP(z))`` lies in the data range [-1, 1] and the decoder scale ``s`` is
a single learned parameter (the "sigma-VAE" of Rybkin et al. 2021, which balances reconstruction and
KL without a hand-tuned weight). Training maximises the ELBO
``E_q[log p(x | z)] - KL(q(z | x) || N(0, I))`` with the reparameterisation trick.

The antithetic experiments sample it with the **decoder mean**: ``G(z) = m(z)`` for ``z ~ N(0, I)``, so a
PN pair is ``(m(z), m(-z))``. Adding the decoder's pixel noise ``s * eps`` would only add independent
(or, if negated too, perfectly antithetic) isotropic noise on top, which says nothing about ``G``.

Saved and loaded like a diffusers model (:class:`~diffusers.ModelMixin`): ``save_pretrained(dir)``
writes ``config.json`` and safetensors weights, ``DigitsVAE.from_pretrained(dir)`` reads them back.
"""

from __future__ import annotations

import math

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

__all__ = ["DigitsVAE"]


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class DigitsVAE(ModelMixin, ConfigMixin):
    """MLP VAE with a Gaussian decoder of learned global scale.

    Args:
        sample_shape: shape ``(C, H, W)`` of one image.
        latent_dim: dimension of ``z``.
        hidden_dims: widths of the encoder's hidden layers (the decoder mirrors them).
    """

    @register_to_config
    def __init__(self, sample_shape: tuple[int, ...] = (1, 8, 8), latent_dim: int = 8, hidden_dims: tuple[int, ...] = (128, 128)):
        super().__init__()
        if latent_dim < 1 or not hidden_dims:
            raise ValueError(f"latent_dim must be >= 1 and hidden_dims non-empty, got {latent_dim}, {hidden_dims}")
        d = math.prod(sample_shape)
        hidden = [int(h) for h in hidden_dims]
        self.encoder = _mlp([d, *hidden, 2 * latent_dim])
        self.decoder = _mlp([latent_dim, *hidden[::-1], d])
        self.log_scale = nn.Parameter(torch.zeros(()))

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.config.sample_shape)

    @property
    def noise_shape(self) -> tuple[int, ...]:
        return (int(self.config.latent_dim),)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of ``q(z | x)``."""
        mu, logvar = self.encoder(x.flatten(1)).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder mean ``m(z)`` in [-1, 1], shape ``(B, *sample_shape)``."""
        return torch.tanh(self.decoder(z)).view(len(z), *self.sample_shape)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """The generator of the antithetic experiments: ``G(z) = m(z)`` (decoder mean)."""
        return self.decode(z)

    def loss(self, x: torch.Tensor, noise: torch.Tensor) -> dict[str, torch.Tensor]:
        """Negative ELBO per pixel (nats) and its two terms, with reparameterisation noise ``noise``."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * noise
        recon = self.decode(z)
        d = recon[0].numel()
        nll = (0.5 * ((x - recon) / self.log_scale.exp()) ** 2 + self.log_scale + 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
        return {"loss": (nll + kl).mean() / d, "nll": nll.mean() / d, "kl": kl.mean() / d}

    def describe(self) -> dict:
        return {
            "architecture": "MLP VAE, Gaussian decoder with learned global scale",
            "latent_dim": int(self.config.latent_dim),
            "hidden_dims": [int(h) for h in self.config.hidden_dims],
            "decoder_scale": float(self.log_scale.detach().exp()),
            "sampled_with": "decoder mean",
        }
