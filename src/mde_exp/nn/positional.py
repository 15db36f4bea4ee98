"""The sinusoidal positional embedding of book section 7.5 (fig-7.14): with M = 10^4, dimension p and
positions t = 1, ..., T, coordinates 2k and 2k + 1 (k = 0, ..., p/2 - 1, counted from 0) of the embedding of
time t are sin(omega_k t) and cos(omega_k t) with frequency omega_k = M^(-2k/p)."""

import torch
from torch import nn


def frequencies(p: int, M: float = 1e4, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """omega_k = M^(-2k/p) for k = 0, ..., p/2 - 1: from 1 (a period of 2 pi time steps) down to nearly
    1/M (a period of nearly 2 pi M)."""
    if int(p) < 2 or int(p) % 2:
        raise ValueError(f"p={p}: the embedding dimension must be a positive even integer")
    if not float(M) > 1:
        raise ValueError(f"M={M}: must be a number above 1")
    return float(M) ** (-torch.arange(0, int(p), 2, dtype=dtype) / int(p))


def sinusoidal_embedding(
    positions: torch.Tensor | int, p: int, M: float = 1e4, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The embeddings of `positions` (a tensor of time indices, or T for t = 1, ..., T): len x p, row t
    holding sin(omega_k t) at coordinate 2k and cos(omega_k t) at 2k + 1. Computed in float64."""
    if isinstance(positions, int):
        if positions < 1:
            raise ValueError(f"T={positions}: must be a positive integer")
        positions = torch.arange(1, positions + 1)
    angles = positions.to(torch.float64)[:, None] * frequencies(p, M)[None, :]
    embedding = torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(-2)  # interleave: sin, cos
    return embedding.to(dtype)


class SinusoidalPositionalEmbedding(nn.Module):
    """Adds the sinusoidal embedding of positions t = 1, ..., T' to N x T' x p inputs (book section
    7.5). The embeddings of t = 1..T are precomputed (a buffer that is not saved in checkpoints); longer
    inputs are embedded on the fly, the formula being defined for every t."""

    def __init__(self, p: int, M: float = 1e4, T: int = 512) -> None:
        super().__init__()
        if int(T) < 1:
            raise ValueError(f"T={T}: must be a positive integer")
        self.p, self.M, self.T = int(p), float(M), int(T)
        self.register_buffer("table", sinusoidal_embedding(self.T, self.p, self.M), persistent=False)

    def embedding(self, length: int) -> torch.Tensor:
        """The length x p embeddings of t = 1, ..., length."""
        if length <= self.T:
            return self.table[:length]
        return sinusoidal_embedding(length, self.p, self.M).to(self.table)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.p:
            raise ValueError(f"inputs of width {x.shape[-1]}: the embedding has p={self.p} dimensions")
        return x + self.embedding(x.shape[-2])
