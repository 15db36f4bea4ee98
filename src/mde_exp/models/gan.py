"""GAN: generative adversarial networks and the Wasserstein GAN with gradient penalty (book section 8.3)."""

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mde_exp.models.base import BookModule, OptimizerFactory, SchedulerFactory
from mde_exp.nn.activations import make_activation
from mde_exp.nn.init import apply_init
from mde_exp.nn.layers import hidden_widths

LOSSES = ("minimax", "non_saturating", "wasserstein")


def _mlp(
    width: int, sizes: Sequence[int], activation: str, out: int, output_activation: str
) -> nn.Sequential:
    layers: list[nn.Module] = []
    for size in sizes:
        layers += [nn.Linear(width, size), make_activation(activation)]
        width = size
    return nn.Sequential(*layers, nn.Linear(width, out), make_activation(output_activation))


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss of the minimax game (book section 8.3): the binary cross-entropy of
    calling data real and samples fake, -E[log D(x)] - E[log(1 - D(G(z)))], with D = sigmoid(logit)."""
    return -(F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean())


def generator_loss(fake_logits: torch.Tensor, kind: str = "non_saturating") -> torch.Tensor:
    """The generator's loss: `minimax` E[log(1 - D(G(z)))] (the game's own objective, which saturates
    when D rejects the samples) or `non_saturating` -E[log D(G(z))] (the same fixed point, strong
    gradients early on)."""
    if kind == "minimax":
        return F.logsigmoid(-fake_logits).mean()
    if kind == "non_saturating":
        return -F.logsigmoid(fake_logits).mean()
    raise ValueError(f"loss={kind!r}: choose minimax or non_saturating")


def wasserstein_estimate(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The critic's estimate of the Wasserstein-1 distance, E[f(x)] - E[f(G(z))] (Kantorovich-Rubinstein
    duality, with f the critic, kept near 1-Lipschitz by the gradient penalty)."""
    return real_scores.mean() - fake_scores.mean()


def gradient_penalty(
    critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor
) -> torch.Tensor:
    """WGAN-GP's penalty E[(||grad f(x_hat)||_2 - 1)^2] at x_hat = eps x + (1 - eps) x_fake, with one
    mixing weight eps per example (shape (n,) or broadcastable to the inputs). Differentiable in the
    critic's parameters (create_graph), so the critic's step includes it."""
    eps = eps.reshape(len(real), *([1] * (real.dim() - 1))).to(real)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grad.reshape(len(real), -1).norm(2, dim=1) - 1) ** 2).mean()


class GAN(BookModule):
    """A generative adversarial network (book section 8.3): an MLP generator G from latent noise
    z ~ N(0, I) to data space and an MLP discriminator (critic) D from data to one score.

    `loss`: `minimax` or `non_saturating` train D by binary cross-entropy (real vs generated) and G by
    log(1 - D(G(z))) or -log D(G(z)); `wasserstein` is WGAN-GP (Gulrajani et al., 2017): the critic
    minimises E[f(G(z))] - E[f(x)] + gp_weight * gradient penalty, the generator -E[f(G(z))].
    Manual optimisation with two optimisers built by the run's optimizer factory (generator first):
    every batch is a discriminator (critic) step, and every `n_critic`-th batch also a generator step.

    forward(x) is the discriminator's score of data x (a logit, or the critic's value); `sample(n)` and
    `generate(z)` draw from the generator. Logs train/d_loss, train/g_loss (per step and epoch) and, for
    wasserstein, train/wasserstein (the critic's distance estimate); val/ and test/ log the same
    without the gradient penalty (evaluation runs without gradients).
    """

    def __init__(
        self,
        input_dim: int,
        latent_dim: int = 2,
        generator_sizes: Sequence[int] = (64, 64),
        discriminator_sizes: Sequence[int] = (64, 64),
        activation: str = "relu",
        output_activation: str = "identity",
        loss: str = "non_saturating",
        n_critic: int = 1,
        gp_weight: float = 10.0,
        init: Mapping[str, Any] | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(optimizer, scheduler)
        if loss not in LOSSES:
            raise ValueError(f"loss={loss!r}: choose one of {', '.join(LOSSES)}")
        if int(n_critic) < 1:
            raise ValueError(
                f"n_critic={n_critic}: must be a positive integer (critic steps per generator step)"
            )
        if gp_weight < 0:
            raise ValueError(f"gp_weight={gp_weight}: the gradient penalty's weight must be >= 0")
        if int(latent_dim) < 1:
            raise ValueError(f"latent_dim={latent_dim}: must be a positive integer")
        generator_sizes = hidden_widths(generator_sizes)
        discriminator_sizes = hidden_widths(discriminator_sizes)
        self.automatic_optimization = False
        self.input_dim, self.latent_dim = int(input_dim), int(latent_dim)
        self.loss, self.n_critic, self.gp_weight = loss, int(n_critic), float(gp_weight)
        self.generator = _mlp(self.latent_dim, generator_sizes, activation, self.input_dim, output_activation)
        self.discriminator = nn.Sequential(
            nn.Flatten(), *_mlp(self.input_dim, discriminator_sizes, activation, 1, "identity")
        )
        apply_init(self.generator, init)
        apply_init(self.discriminator, init)
        self.save_hyperparameters(
            {
                "input_dim": self.input_dim,
                "latent_dim": self.latent_dim,
                "generator_sizes": generator_sizes,
                "discriminator_sizes": discriminator_sizes,
                "activation": activation,
                "output_activation": output_activation,
                "loss": loss,
                "n_critic": self.n_critic,
                "gp_weight": self.gp_weight,
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The discriminator's score of each example of x (shape (n,))."""
        return self.discriminator(x).squeeze(-1)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n samples G(z), z ~ N(0, I), drawn with `generator` if given."""
        z = torch.randn(n, self.latent_dim, generator=generator).to(self.device)
        return self.generator(z)

    def configure_optimizers(self) -> Any:
        if self.optimizer_factory is None:
            raise RuntimeError("no optimizer given: build the model with optimizer=<a torch.optim factory>")
        optimizers = [self.optimizer_factory(self.generator.parameters()),
                      self.optimizer_factory(self.discriminator.parameters())]  # fmt: skip
        if self.scheduler_factory is None:
            return optimizers
        return optimizers, [
            {"scheduler": self.scheduler_factory(opt), "interval": "epoch"} for opt in optimizers
        ]

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, device=self.device)

    def _real(self, batch: Any) -> torch.Tensor:
        x = batch[0] if isinstance(batch, list | tuple) else batch
        return x.reshape(len(x), -1)

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor, penalty: bool = True) -> dict[str, torch.Tensor]:
        """The discriminator's (critic's) loss on a real and a generated batch, with its pieces."""
        real_scores, fake_scores = self(real), self(fake)
        if self.loss != "wasserstein":
            return {"d_loss": discriminator_loss(real_scores, fake_scores)}
        distance = wasserstein_estimate(real_scores, fake_scores)
        out = {"d_loss": -distance, "wasserstein": distance}
        if penalty and self.gp_weight > 0:
            eps = torch.rand(len(real), device=real.device)
            out["gradient_penalty"] = gradient_penalty(self.discriminator, real, fake, eps)
            out["d_loss"] = out["d_loss"] + self.gp_weight * out["gradient_penalty"]
        return out

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        scores = self(fake)
        if self.loss == "wasserstein":
            return -scores.mean()
        return generator_loss(scores, self.loss)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        g_opt, d_opt = self.optimizers()
        real = self._real(batch)
        n = len(real)
        # Discriminator (critic) step on this batch, the generator held fixed.
        fake = self.generator(self._noise(n)).detach()
        d = self.d_loss(real, fake)
        d_opt.zero_grad()
        self.manual_backward(d["d_loss"])
        d_opt.step()
        for name, value in d.items():
            self.log(f"train/{name}", value.detach(), on_step=True, on_epoch=True, batch_size=n)
        # Generator step every n_critic batches, against the updated discriminator.
        if (batch_idx + 1) % self.n_critic == 0:
            g = self.g_loss(self.generator(self._noise(n)))
            g_opt.zero_grad()
            self.manual_backward(g)
            g_opt.step()
            self.log("train/g_loss", g.detach(), on_step=True, on_epoch=True, batch_size=n)
        return d["d_loss"].detach()

    def on_train_epoch_end(self) -> None:
        for scheduler in self.lr_schedulers() or []:
            scheduler.step()

    def _step(self, batch: Any, stage: str) -> torch.Tensor:
        real = self._real(batch)
        fake = self.generator(self._noise(len(real)))
        d = self.d_loss(real, fake, penalty=False)
        d["g_loss"] = self.g_loss(fake)
        for name, value in d.items():
            self.log(
                f"{stage}/{name}", value, on_epoch=True, add_dataloader_idx=False, batch_size=len(real),
                sync_dist=True,
            )  # fmt: skip
        return d["d_loss"]
