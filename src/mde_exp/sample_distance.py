"""Distances between two samples, for judging a generative model's draws against held-out data (chapter 8)."""

import torch


def energy_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """The squared energy distance (Szekely and Rizzo) 2 E|X - Y| - E|X - X'| - E|Y - Y'| between the
    samples x (n x d) and y (m x d): zero only when the two distributions agree. Estimated by the
    V-statistic (averages over all pairs, each point's distance to itself included), which is never
    negative; its bias, about E|X - X'| / n + E|Y - Y'| / m, shrinks with the sample sizes."""
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"samples of shapes {list(x.shape)} and {list(y.shape)}: need n x d and m x d")
    x, y = x.double().flatten(1), y.double().flatten(1)
    return float(2 * torch.cdist(x, y).mean() - torch.cdist(x, x).mean() - torch.cdist(y, y).mean())
