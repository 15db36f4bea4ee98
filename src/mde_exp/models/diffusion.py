"""Diffusion: a DDPM-style denoising diffusion model (book section 8.1, generative modelling).

Forward (noising) process with a linear schedule beta_1 < ... < beta_T, alpha_t = 1 - beta_t and
alpha_bar_t = alpha_1 ... alpha_t:
    q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t I),
    q(x_t | x_0)     = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)      (closed form).
A network eps_theta(x_t, t) predicts the noise eps in x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps,
trained on the simple loss ||eps - eps_theta(x_t, t)||^2 with t uniform on 1..T. Sampling runs the
reverse process ancestrally from x_T ~ N(0, I):
    x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_theta(x_t, t)) / sqrt(alpha_t) + sigma_t z,
with sigma_t^2 the posterior variance beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) and z = 0 at t = 1.
Time steps are counted 1..T in the docstrings and 0..T-1 as tensor indices.
"""

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mde_exp.models.base import BookModule, OptimizerFactory, SchedulerFactory
from mde_exp.nn.conv import image_shape
from mde_exp.nn.layers import hidden_widths
from mde_exp.nn.positional import sinusoidal_embedding

NETWORKS = ("mlp", "conv")
EVAL_SEED = 12345  # the generator of the times and noise that validation and test losses use


def linear_betas(timesteps: int, beta_start: float, beta_end: float) -> torch.Tensor:
    """beta_1, ..., beta_T evenly spaced from beta_start to beta_end (float64)."""
    if int(timesteps) < 1:
        raise ValueError(f"timesteps={timesteps}: must be a positive integer")
    if not 0.0 < beta_start <= beta_end < 1.0:
        raise ValueError(f"beta_start={beta_start}, beta_end={beta_end}: need 0 < beta_start <= beta_end < 1")
    return torch.linspace(beta_start, beta_end, int(timesteps), dtype=torch.float64)


class TimeEmbedding(nn.Module):
    """t (indices 0..T-1) -> the sinusoidal embedding of t + 1 (book section 7.5), then an MLP."""

    def __init__(self, dim: int, width: int) -> None:
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_embedding(t + 1, self.dim, M=1e4, dtype=self.mlp[0].weight.dtype))


class MLPDenoiser(nn.Module):
    """eps_theta for flat data: hidden layers h_{l} = SiLU(W_l h_{l-1} + U_l e(t)), then a linear output."""

    def __init__(self, input_dim: int, hidden_sizes: Sequence[int], time_dim: int) -> None:
        super().__init__()
        self.time = TimeEmbedding(time_dim, hidden_sizes[0])
        widths = [input_dim, *hidden_sizes]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.time_proj = nn.ModuleList(nn.Linear(hidden_sizes[0], b) for b in hidden_sizes)
        self.out = nn.Linear(widths[-1], input_dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        e = self.time(t)
        h = x.flatten(1)
        for layer, proj in zip(self.layers, self.time_proj, strict=True):
            h = F.silu(layer(h) + proj(e))
        return self.out(h).view_as(x)


class ConvDenoiser(nn.Module):
    """eps_theta for small images: 3x3 'same' convolutions (no down-sampling), the time embedding added
    to every hidden layer as a per-channel bias, and a 3x3 convolution back to the image's channels."""

    def __init__(self, input_shape: Sequence[int], channels: Sequence[int], time_dim: int) -> None:
        super().__init__()
        self.shape = image_shape(input_shape)
        self.time = TimeEmbedding(time_dim, channels[0])
        widths = [self.shape[0], *channels]
        self.layers = nn.ModuleList(
            nn.Conv2d(a, b, 3, padding=1) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.time_proj = nn.ModuleList(nn.Linear(channels[0], b) for b in channels)
        self.out = nn.Conv2d(widths[-1], self.shape[0], 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        e = self.time(t)
        h = x.reshape(len(x), *self.shape)
        for layer, proj in zip(self.layers, self.time_proj, strict=True):
            h = F.silu(layer(h) + proj(e)[:, :, None, None])
        return self.out(h).reshape(x.shape)


class Diffusion(BookModule):
    """A DDPM-style diffusion model (book section 8.1): the linear noise schedule, the noise-prediction
    network eps_theta(x_t, t) (`network`: mlp for flat data such as 2-D toy sets, conv for images, which
    needs the data's input_shape), the simple loss and ancestral sampling (see the module docstring).
    `data_range` [low, high] maps the data affinely to [-1, 1] before noising (DDPM's convention for
    images; samples are mapped back); null diffuses the data as they are.

    `forward(x_t, t)` predicts the noise; without t it takes t = T (the last, noisiest step). Logs
    <stage>/loss per epoch (train/loss per step as well): the simple loss, on fresh times and noise in
    training and on the same ones (a fixed generator) at every evaluation.
    """

    def __init__(
        self,
        input_dim: int,
        input_shape: Sequence[int] | None = None,
        timesteps: int = 1000,
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        network: str = "mlp",
        hidden_sizes: Sequence[int] = (128, 128, 128),
        time_embedding_dim: int = 32,
        data_range: Sequence[float] | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(optimizer, scheduler)
        if network not in NETWORKS:
            raise ValueError(f"network={network!r}: choose one of {', '.join(NETWORKS)}")
        if int(time_embedding_dim) < 2 or int(time_embedding_dim) % 2:
            raise ValueError(f"time_embedding_dim={time_embedding_dim}: must be a positive even integer")
        hidden_sizes = hidden_widths(hidden_sizes)
        if data_range is not None and not (
            len(data_range) == 2 and float(data_range[0]) < float(data_range[1])
        ):
            raise ValueError(f"data_range={data_range}: give [low, high] with low < high, or null")
        self.data_range = None if data_range is None else (float(data_range[0]), float(data_range[1]))
        if not hidden_sizes:
            raise ValueError("hidden_sizes=[]: the denoiser needs at least one hidden layer")
        betas = linear_betas(timesteps, beta_start, beta_end)
        alpha_bar = torch.cumprod(1.0 - betas, dim=0)
        alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
        for name, value in {
            "betas": betas,
            "alphas": 1.0 - betas,
            "alpha_bar": alpha_bar,
            "posterior_variance": betas * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar),
        }.items():
            self.register_buffer(name, value.float(), persistent=False)
        if network == "conv":
            if input_shape is None:
                raise ValueError(
                    "network=conv needs images: use data whose examples are C x H x W (data.flatten=false)"
                )
            self.net: nn.Module = ConvDenoiser(input_shape, hidden_sizes, int(time_embedding_dim))
        else:
            self.net = MLPDenoiser(input_dim, hidden_sizes, int(time_embedding_dim))
        self.timesteps = int(timesteps)
        self.input_dim = int(input_dim)
        self.input_shape = tuple(int(s) for s in input_shape) if input_shape is not None else None
        self.save_hyperparameters(
            {
                "input_dim": int(input_dim),
                "input_shape": list(self.input_shape) if self.input_shape else None,
                "timesteps": self.timesteps,
                "beta_start": float(beta_start),
                "beta_end": float(beta_end),
                "network": network,
                "hidden_sizes": hidden_sizes,
                "time_embedding_dim": int(time_embedding_dim),
                "data_range": list(self.data_range) if self.data_range else None,
            }
        )

    # --- the data's scale: [low, high] -> [-1, 1] (DDPM's convention for images), or left alone ---------
    def to_model_space(self, x: torch.Tensor) -> torch.Tensor:
        if self.data_range is None:
            return x
        low, high = self.data_range
        return 2.0 * (x - low) / (high - low) - 1.0

    def to_data_space(self, x: torch.Tensor) -> torch.Tensor:
        if self.data_range is None:
            return x
        low, high = self.data_range
        return low + (x + 1.0) * (high - low) / 2.0

    # --- the forward (noising) process -------------------------------------------------------------
    def _per_example(self, values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return values[t].to(like.dtype).view(-1, *([1] * (like.dim() - 1)))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """A draw of q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I) from the noise eps."""
        ab = self._per_example(self.alpha_bar, t, x0)
        return ab.sqrt() * x0 + (1.0 - ab).sqrt() * noise

    def noise_step(self, x_prev: torch.Tensor, t: int, noise: torch.Tensor) -> torch.Tensor:
        """One step of q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t I) (t an index 0..T-1)."""
        return self.alphas[t].sqrt().to(x_prev.dtype) * x_prev + self.betas[t].sqrt().to(x_prev.dtype) * noise

    def signal_to_noise(self) -> torch.Tensor:
        """alpha_bar_t / (1 - alpha_bar_t) for t = 1..T."""
        return self.alpha_bar / (1.0 - self.alpha_bar)

    # --- the network and its loss ------------------------------------------------------------------
    def forward(self, x_t: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        if t is None:
            t = torch.full((len(x_t),), self.timesteps - 1, dtype=torch.long, device=x_t.device)
        return self.net(x_t, t)

    def loss(self, x0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The simple loss: mean of (eps - eps_theta(x_t, t))^2 with t uniform and eps ~ N(0, I)."""
        t = torch.randint(0, self.timesteps, (len(x0),), device=x0.device, generator=generator)
        noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
        return F.mse_loss(self(self.q_sample(x0, t, noise), t), noise)

    def _step(self, batch: Any, stage: str) -> torch.Tensor:
        x0 = batch[0]
        # evaluation draws the same times and noise every epoch (a fixed generator), so that its curve
        # compares epochs, and leaves the global random state of training alone
        generator = None if stage == "train" else torch.Generator(x0.device).manual_seed(EVAL_SEED)
        loss = self.loss(self.to_model_space(x0), generator=generator)
        self.log_loss(f"{stage}/loss", loss, len(x0), on_step=stage == "train")
        return loss

    # --- the reverse process -----------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        keep: Sequence[int] = (),
    ) -> torch.Tensor | tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """n draws by ancestral sampling from x_T ~ N(0, I), flat (n x input_dim; images reshape by
        `input_shape`), in the data's scale (see data_range). With `keep` (times 0..T, 0 the sample itself)
        also returns those x_t, in the model's scale."""
        was_training = self.training
        self.eval()
        shape = (n, self.input_dim)
        device = self.betas.device
        x = torch.randn(shape, generator=generator, device=device)
        kept = {self.timesteps: x.clone()} if self.timesteps in keep else {}
        for t in range(self.timesteps - 1, -1, -1):
            eps = self(x, torch.full((n,), t, dtype=torch.long, device=device))
            x = (x - self.betas[t] / (1.0 - self.alpha_bar[t]).sqrt() * eps) / self.alphas[t].sqrt()
            if t > 0:
                z = torch.randn(shape, generator=generator, device=device)
                x = x + self.posterior_variance[t].sqrt() * z
            if t in keep:
                kept[t] = x.clone()
        self.train(was_training)
        x = self.to_data_space(x)
        return (x, kept) if keep else x
