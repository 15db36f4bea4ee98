"""Hand-set ReLU networks (book section 5.2): piecewise-linear interpolation as a one-hidden-layer net."""

import math

import torch
from torch import nn


def book_curve(x: torch.Tensor) -> torch.Tensor:
    """The book's fig-5.2 target g(x) = cos(2 cos x^2 + (x - 1)^2 / 4) + x / 2 + 1."""
    return torch.cos(2 * torch.cos(x**2) + (x - 1) ** 2 / 4) + x / 2 + 1


def relu_interpolant(
    knots_x: torch.Tensor, knots_y: torch.Tensor, dtype: torch.dtype = torch.float32
) -> nn.Sequential:
    """The ReLU network Linear(1, K) -> ReLU -> Linear(K, 1) that interpolates K + 1 knots linearly.

    With knots x_0 < ... < x_K, values y_k and segment slopes s_k = (y_{k+1} - y_k) / (x_{k+1} - x_k),
    the piecewise-linear interpolant on [x_0, infinity) is

        f(x) = y_0 + s_0 relu(x - x_0) + sum_{k=1}^{K-1} (s_k - s_{k-1}) relu(x - x_k),

    so hidden unit k has input weight 1 and bias -x_k (it switches on at knot k), and its output
    weight is the change of slope there (s_0 for the first unit); the output bias is y_0. Left of x_0
    the network is constant (y_0), right of x_K it continues the last segment.
    """
    xs = torch.as_tensor(knots_x, dtype=torch.float64).flatten()
    ys = torch.as_tensor(knots_y, dtype=torch.float64).flatten()
    if xs.numel() != ys.numel() or xs.numel() < 2:
        raise ValueError(f"need at least two knots with one value each, got {xs.numel()} and {ys.numel()}")
    if not bool((xs[1:] > xs[:-1]).all()):
        raise ValueError("knots_x must be strictly increasing")
    slopes = (ys[1:] - ys[:-1]) / (xs[1:] - xs[:-1])
    units = slopes.numel()  # K segments -> K hidden units
    net = nn.Sequential(nn.Linear(1, units), nn.ReLU(), nn.Linear(units, 1)).to(dtype)
    with torch.no_grad():
        net[0].weight.copy_(torch.ones(units, 1))
        net[0].bias.copy_(-xs[:-1])
        net[2].weight.copy_(torch.cat([slopes[:1], slopes[1:] - slopes[:-1]]).unsqueeze(0))
        net[2].bias.copy_(ys[:1])
    return net.requires_grad_(False)


def uniform_knots(n_knots: int, low: float, high: float, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """`n_knots` equally spaced knots on [low, high], both ends included."""
    if n_knots < 2 or not math.isfinite(low) or not high > low:
        raise ValueError(f"need n_knots >= 2 and low < high, got {n_knots}, [{low}, {high}]")
    return torch.linspace(low, high, n_knots, dtype=dtype)
