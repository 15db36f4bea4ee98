"""VAE: the variational autoencoder of book section 8.2 (Gaussian encoder, reparameterisation, ELBO).

The encoder gives the parameters of q(z | x) = N(mu(x), diag sigma^2(x)) (as mu and log sigma^2), a
latent draw is z = mu + sigma * eps with eps ~ N(0, I) (the reparameterisation, so gradients flow to
mu and sigma), and the decoder gives the parameters of p(x | z): Bernoulli probabilities for pixels in
[0, 1] (log-likelihood = minus the binary cross-entropy) or the means of a Gaussian of fixed standard
deviation. The prior is p(z) = N(0, I). Training maximises the evidence lower bound (ELBO)

    ELBO(x) = E_q[log p(x | z)] - KL(q(z | x) || p(z)) <= log p(x),

its first term estimated with one draw of z, its second in closed form (kl_divergence).
"""

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric

from mde_exp.models.base import EVAL_STAGES, BookModule, OptimizerFactory, SchedulerFactory
from mde_exp.nn.activations import make_activation
from mde_exp.nn.conv import image_shape
from mde_exp.nn.init import apply_init

ARCHITECTURES = ("mlp", "conv")
LIKELIHOODS = ("bernoulli", "gaussian")
STAGES = ("train", *EVAL_STAGES, "test")
TERMS = ("recon", "kl", "elbo")


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per example, in closed form:
    1/2 sum_j (mu_j^2 + sigma_j^2 - log sigma_j^2 - 1)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0).sum(dim=1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I) (drawn unless given): a draw of q(z | x) differentiable in
    mu and sigma."""
    if eps is None:
        eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * logvar) * eps


def _mlp(width: int, sizes: Sequence[int], activation: str) -> tuple[list[nn.Module], int]:
    layers: list[nn.Module] = []
    for size in sizes:
        layers += [nn.Linear(width, int(size)), make_activation(activation)]
        width = int(size)
    return layers, width


class VAE(BookModule):
    """Variational autoencoder (book section 8.2) on flattened inputs or images.

    `architecture`: `mlp` (dense layers `hidden_sizes`, mirrored in the decoder) or `conv` (stride-2
    4x4 convolutions of `channels`, each halving height and width, mirrored by transposed convolutions;
    the image's height and width must be divisible by 2^len(channels)). Both end in a linear layer to
    2 * latent_dim numbers (mu and log sigma^2) and start the decoder with a linear layer from z.
    `likelihood`: `bernoulli` (pixels in [0, 1]; reconstruction term = binary cross-entropy summed over
    pixels) or `gaussian` (N(x; decoder mean, decoder_std^2 I), with its normalising constant).

    The loss is the negative ELBO per example (summed over pixels and latent dimensions, averaged over
    the batch). Logs per epoch <stage>/recon (= -E_q log p(x | z), one draw), <stage>/kl (closed form),
    <stage>/elbo (= -(recon + kl)) and <stage>/loss (= -elbo). forward(x) gives the decoder's mean at
    z = mu(x) (the deterministic reconstruction, flattened); sample(n) decodes draws from the prior.
    """

    def __init__(
        self,
        input_dim: int,
        input_shape: Sequence[int] | None = None,
        architecture: str = "mlp",
        latent_dim: int = 2,
        hidden_sizes: Sequence[int] = (256, 128),
        channels: Sequence[int] = (16, 32),
        activation: str = "relu",
        likelihood: str = "bernoulli",
        decoder_std: float = 0.1,
        init: Mapping[str, Any] | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(optimizer, scheduler)
        if architecture not in ARCHITECTURES:
            raise ValueError(f"model.architecture={architecture!r} is unknown; choose one of: mlp, conv")
        if likelihood not in LIKELIHOODS:
            raise ValueError(
                f"model.likelihood={likelihood!r} is unknown; choose one of: bernoulli, gaussian"
            )
        if int(latent_dim) < 1:
            raise ValueError(f"model.latent_dim={latent_dim} must be a positive integer")
        if not float(decoder_std) > 0:
            raise ValueError(f"model.decoder_std={decoder_std} must be positive")
        if any(int(s) < 1 for s in hidden_sizes):
            raise ValueError(f"model.hidden_sizes={list(hidden_sizes)} must be positive integers")
        if any(int(c) < 1 for c in channels):
            raise ValueError(f"model.channels={list(channels)} must be positive integers")
        self.input_dim = int(input_dim)
        self.latent_dim = int(latent_dim)
        self.likelihood = likelihood
        self.decoder_std = float(decoder_std)
        self.data_shape: tuple[int, ...] = (self.input_dim,)
        self.conv = architecture == "conv"
        if architecture == "mlp":
            if input_shape is not None:
                self.data_shape = tuple(int(s) for s in input_shape)
            self._build_mlp(list(hidden_sizes), activation)
        else:
            if input_shape is None:
                raise ValueError(
                    "model.architecture=conv needs images (input_shape); choose an image data set"
                )
            self.data_shape = image_shape(input_shape)
            self._build_conv(list(channels), activation)
        apply_init(self, init)
        self.metrics = nn.ModuleDict(
            {f"{stage}_{term}": MeanMetric() for stage in STAGES for term in TERMS}
        )  # exact per-example means over an epoch, whatever the batch sizes
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])

    def _build_mlp(self, sizes: list[int], activation: str) -> None:
        encoder, width = _mlp(self.input_dim, sizes, activation)
        self.encoder = nn.Sequential(nn.Flatten(), *encoder, nn.Linear(width, 2 * self.latent_dim))
        decoder, width = _mlp(self.latent_dim, sizes[::-1], activation)
        self.decoder = nn.Sequential(*decoder, nn.Linear(width, self.input_dim))

    def _build_conv(self, channels: list[int], activation: str) -> None:
        c, h, w = self.data_shape
        factor = 2 ** len(channels)
        if not channels or h % factor or w % factor:
            raise ValueError(
                f"model.channels={channels}: a conv VAE halves the {h} x {w} images once per channel "
                f"entry, so height and width must be divisible by 2^len(channels) = {factor} (and "
                "channels non-empty)"
            )
        encoder: list[nn.Module] = []
        width = c
        for out in channels:
            encoder += [nn.Conv2d(width, out, 4, stride=2, padding=1), make_activation(activation)]
            width = out
        self.feature_shape = (width, h // factor, w // factor)
        features = math.prod(self.feature_shape)
        self.encoder = nn.Sequential(*encoder, nn.Flatten(), nn.Linear(features, 2 * self.latent_dim))
        decoder: list[nn.Module] = [
            nn.Linear(self.latent_dim, features),
            make_activation(activation),
            nn.Unflatten(1, self.feature_shape),
        ]
        outs = [*channels[::-1][1:], c]
        for i, out in enumerate(outs):
            decoder.append(nn.ConvTranspose2d(width, out, 4, stride=2, padding=1))
            if i < len(outs) - 1:
                decoder.append(make_activation(activation))
            width = out
        self.decoder = nn.Sequential(*decoder, nn.Flatten())

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The parameters of q(z | x): mean mu and log-variance log sigma^2, each n x latent_dim."""
        x = x.reshape(len(x), *self.data_shape) if self.conv else x.reshape(len(x), -1)
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decoder_output(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's raw output, n x input_dim: Bernoulli logits or Gaussian means."""
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The mean of p(x | z), n x input_dim (Bernoulli probabilities or Gaussian means)."""
        out = self.decoder_output(z)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x)[0])

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z) per example, summed over the input's entries."""
        out = self.decoder_output(z)
        x = x.reshape(len(x), -1)
        if self.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(dim=1)
        var = self.decoder_std**2
        return -0.5 * (((x - out) ** 2) / var + math.log(2 * math.pi * var)).sum(dim=1)

    def elbo_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per example: recon (= -log p(x | z) at one draw z ~ q(z | x)), kl (closed form), elbo."""
        mu, logvar = self.encode(x)
        recon = -self.log_likelihood(x, reparameterize(mu, logvar))
        kl = kl_divergence(mu, logvar)
        return {"recon": recon, "kl": kl, "elbo": -(recon + kl)}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws z ~ p(z) = N(0, I) decoded to the mean of p(x | z), shaped as the data's examples."""
        z = torch.randn(n, self.latent_dim, generator=generator, device=self.device)
        return self.decode(z).reshape(n, *self.data_shape)

    def _step(self, batch: tuple[torch.Tensor, ...], stage: str) -> torch.Tensor:
        x = batch[0]
        terms = self.elbo_terms(x)
        loss = -terms["elbo"].mean()
        self.log_loss(f"{stage}/loss", loss, len(x), on_step=stage == "train")
        for name, value in terms.items():
            metric = self.metrics[f"{stage}_{name}"]
            metric.update(value.detach())
            self.log(f"{stage}/{name}", metric, on_step=False, on_epoch=True, add_dataloader_idx=False)
        return loss
