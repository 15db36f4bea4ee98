"""Loss landscapes over two parameters (book sections 2.3, 3.2, 4.1): grids, curvature and flat regions.

A landscape is a function `f` taking a tensor of shape (..., 2) (a batch of points theta) to the
values (...,). Its curvature on a grid comes from torch.func: the Hessian of f at every grid point
(`hessian_eigenvalues`), the gradient's norm (`gradient_norms`, for plateaus), and the grid's local
minima (`grid_local_minima`, the points lower than their eight neighbours).
"""

from collections.abc import Callable

import numpy as np
import torch
from torch.func import grad, jacrev, vmap

Landscape = Callable[[torch.Tensor], torch.Tensor]


def grid(
    t1: tuple[float, float], t2: tuple[float, float], num: int, dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A num x num grid over [t1] x [t2]: the coordinate arrays T1, T2 (as matplotlib's contour wants
    them: T1 varies along columns) and the points stacked as (num, num, 2)."""
    a = torch.linspace(t1[0], t1[1], num, dtype=dtype)
    b = torch.linspace(t2[0], t2[1], num, dtype=dtype)
    T1, T2 = torch.meshgrid(a, b, indexing="xy")
    return T1, T2, torch.stack([T1, T2], dim=-1)


def _scalar(f: Landscape) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda theta: f(theta.reshape(1, 2)).reshape(())


def hessian_eigenvalues(f: Landscape, points: torch.Tensor) -> torch.Tensor:
    """Eigenvalues (ascending) of the Hessian of f at each point: shape (..., 2) for points (..., 2)."""
    flat = points.reshape(-1, 2)
    # reverse over reverse: torch.func.hessian's forward mode through a sigmoid warns (torch.jit.script)
    hessians = vmap(jacrev(grad(_scalar(f))))(flat)
    return torch.linalg.eigvalsh(hessians).reshape(*points.shape[:-1], 2)


def gradients(f: Landscape, points: torch.Tensor) -> torch.Tensor:
    """The gradient of f at each point, by reverse-mode autodiff: shape (..., 2)."""
    return vmap(grad(_scalar(f)))(points.reshape(-1, 2)).reshape(points.shape)


def gradient_norms(f: Landscape, points: torch.Tensor) -> torch.Tensor:
    """||grad f|| at each point: shape (...,)."""
    return gradients(f, points).norm(dim=-1)


def grid_local_minima(values: np.ndarray | torch.Tensor) -> np.ndarray:
    """Indices (row, column) of the grid's strict interior local minima: the points lower than each of
    their eight neighbours (points on the grid's edge are not counted)."""
    v = np.asarray(values, dtype=np.float64)
    rows, cols = v.shape
    centre = v[1:-1, 1:-1]
    lower = np.ones_like(centre, dtype=bool)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr or dc:
                lower &= centre < v[1 + dr : rows - 1 + dr, 1 + dc : cols - 1 + dc]
    return np.argwhere(lower) + 1


def sigmoid_chain_losses(x: torch.Tensor, y: torch.Tensor) -> tuple[Landscape, Landscape]:
    """Book fig-4.5: the network y_hat = sigmoid(w2 sigmoid(w1 x)) on data (x, y), as two landscapes
    of theta = (w1, w2): the summed squared error sum_i (y_i - y_hat_i)^2 and the mean cross-entropy
    -mean_i [y_i log y_hat_i + (1 - y_i) log(1 - y_hat_i)] (computed from the logit w2 sigmoid(w1 x),
    so it stays finite where y_hat rounds to 0 or 1)."""

    def logits(theta: torch.Tensor) -> torch.Tensor:
        w1, w2 = theta[..., 0:1], theta[..., 1:2]
        return w2 * torch.sigmoid(w1 * x.to(theta.dtype))

    def squared_error(theta: torch.Tensor) -> torch.Tensor:
        return ((y.to(theta.dtype) - torch.sigmoid(logits(theta))) ** 2).sum(-1)

    def cross_entropy(theta: torch.Tensor) -> torch.Tensor:
        z = logits(theta)
        target = y.to(theta.dtype).expand_as(z)
        return torch.nn.functional.binary_cross_entropy_with_logits(z, target, reduction="none").mean(-1)

    return squared_error, cross_entropy
