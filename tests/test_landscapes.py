"""mde_exp.landscapes: grids, Hessian eigenvalues, gradients and grid minima of two-parameter landscapes."""

import math

import numpy as np
import pytest
import torch

from mde_exp.landscapes import (
    gradient_norms,
    gradients,
    grid,
    grid_local_minima,
    hessian_eigenvalues,
    sigmoid_chain_losses,
)


def quadratic(theta: torch.Tensor) -> torch.Tensor:
    """theta^T A theta / 2 with A = [[3, 1], [1, -2]]: eigenvalues (1 ± sqrt(29)) / 2."""
    t1, t2 = theta[..., 0], theta[..., 1]
    return (3 * t1**2 + 2 * t1 * t2 - 2 * t2**2) / 2


def test_grid_shapes_and_order():
    T1, T2, points = grid((-1, 1), (0, 2), 5)
    assert T1.shape == T2.shape == (5, 5) and points.shape == (5, 5, 2)
    assert torch.equal(T1[0], torch.linspace(-1, 1, 5, dtype=torch.float64))  # theta1 along columns
    assert torch.equal(points[..., 1], T2) and T2[-1, 0] == 2


def test_hessian_eigenvalues_and_gradients_of_a_quadratic():
    _, _, points = grid((-2, 2), (-2, 2), 7)
    eig = hessian_eigenvalues(quadratic, points)
    expected = torch.tensor([(1 - math.sqrt(29)) / 2, (1 + math.sqrt(29)) / 2], dtype=torch.float64)
    assert eig.shape == (7, 7, 2)
    assert torch.allclose(eig, expected.expand_as(eig), atol=1e-12)
    g = gradients(quadratic, points)
    A = torch.tensor([[3.0, 1.0], [1.0, -2.0]], dtype=torch.float64)
    assert torch.allclose(g, points @ A, atol=1e-12)
    assert torch.allclose(gradient_norms(quadratic, points), (points @ A).norm(dim=-1))


def test_grid_local_minima_are_strict_and_interior():
    v = np.full((6, 7), 5.0)
    v[2, 3] = 1.0  # a strict minimum
    v[4, 1] = v[4, 2] = 2.0  # a flat pair: not strict
    v[0, 5] = 0.0  # on the edge: not counted
    assert grid_local_minima(v).tolist() == [[2, 3]]
    assert grid_local_minima(np.zeros((4, 4))).size == 0


def test_sigmoid_chain_losses_match_the_companion_formulas():
    x = torch.tensor([-3.0, -2, -1, 1, 2, 3], dtype=torch.float64)
    y = torch.tensor([1.0, 0, 0, 1, 1, 0], dtype=torch.float64)
    squared, cross = sigmoid_chain_losses(x, y)
    for w1, w2 in [(0.0, 0.0), (1.5, -2.0), (-4.0, 3.0)]:
        y_hat = 1 / (1 + np.exp(-w2 / (1 + np.exp(-w1 * x.numpy()))))
        yn = y.numpy()
        theta = torch.tensor([w1, w2], dtype=torch.float64)
        assert float(squared(theta)) == pytest.approx(((yn - y_hat) ** 2).sum(), abs=1e-12)
        ce = -(yn * np.log(y_hat) + (1 - yn) * np.log(1 - y_hat)).mean()
        assert float(cross(theta)) == pytest.approx(ce, abs=1e-12)
    # finite where y_hat rounds to 0 or 1 in float64 (the logit form)
    assert torch.isfinite(cross(torch.tensor([[40.0, 800.0]], dtype=torch.float64))).all()
