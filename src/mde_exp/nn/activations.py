"""Activation functions of book section 5.3 (fig-5.6), by name, as modules and as plain functions."""

from collections.abc import Callable

import torch
from torch import nn


def step(x: torch.Tensor) -> torch.Tensor:
    """The unit step (Heaviside) function, 1 for x >= 0."""
    return (x >= 0).to(x.dtype)


def scaled_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """The sigmoid rescaled to (-1, 1): 2 sigma(x) - 1, which equals tanh(x / 2)."""
    return 2.0 * torch.sigmoid(x) - 1.0


class Step(nn.Module):
    """Module form of :func:`step` (not differentiable: for plots and hand-set networks)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return step(x)


class ScaledSigmoid(nn.Module):
    """Module form of :func:`scaled_sigmoid`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return scaled_sigmoid(x)


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "leaky_relu_0.05": lambda: nn.LeakyReLU(0.05),
    "leaky_relu_0.1": lambda: nn.LeakyReLU(0.1),
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "scaled_sigmoid": ScaledSigmoid,
    "step": Step,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "softplus": nn.Softplus,
    "identity": nn.Identity,
}

# Gains for nn.init.calculate_gain, by activation name.
_GAIN_NAMES = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid", "identity": "linear"}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name; unknown names list the valid ones."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATIONS)}") from None


def activation_gain(name: str) -> float:
    """The recommended initialisation gain for an activation (1 where torch has none)."""
    if name.startswith("leaky_relu"):
        slope = 0.01 if name == "leaky_relu" else float(name.rsplit("_", 1)[1])
        return nn.init.calculate_gain("leaky_relu", slope)
    return nn.init.calculate_gain(_GAIN_NAMES.get(name, "linear"))
