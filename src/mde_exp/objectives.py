"""The test functions of the book's chapter 4 (figures 4.1 to 4.3, 4.6 to 4.10) as plain torch functions.

Each function takes theta as a tensor whose last dimension holds the coordinates, (..., 2) (or (..., 1)
for the one-dimensional quartic), and returns the value over the leading dimensions, so the same code
evaluates a grid for a contour or surface plot (points stacked as (n2, n1, 2), e.g. by
``torch.stack(torch.meshgrid(t1, t2, indexing="xy"), -1)``) and the single point theta that an
optimiser moves (``mde_exp.models.objective.ObjectiveModel``).

- ``rosenbrock``: (a - theta1)^2 + b (theta2 - theta1^2)^2, minimum 0 at (a, a^2) (figs 4.2, 4.6, 4.8, 4.9).
- ``convex_bowl``: theta1^2 + theta2^2, fig 4.1's convex surface.
- ``peaks``: fig 4.1's non-convex surface with several local extrema (the companion code's function,
  the classic "peaks" surface).
- ``weighted_quadratic``: fig 4.3's C(theta) = (1/n) sum_i C_i(theta) with
  C_i(theta) = c_i (theta1 - x_i1)^2 + (theta2 - x_i2)^2, the per-point terms of stochastic gradient
  descent (``weighted_quadratic_terms``); its minimiser in closed form (``weighted_quadratic_minimiser``).
  As in the companion code, the weight c_i multiplies the first coordinate's term only.
- ``quartic``: fig 4.10's C(t) = t^4 - 4 t^3 - 2 t^2 + 10 t + 15.

``OBJECTIVES`` names them for configs (``data=rosenbrock``, ``data=weighted_quadratic``, ...): the
function, the dimension, the book's start point and the minimiser where it is known.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch

# fig-4.3: the five points x_i and their weights c_i.
BOOK_POINTS = ((1.0, 1.0), (2.0, 0.0), (3.0, 1.0), (2.0, 3.0), (1.0, 2.0))
BOOK_WEIGHTS = (1.0, 2.0, 3.0, 2.0, 4.0)


def rosenbrock(theta: torch.Tensor, a: float = 1.0, b: float = 100.0) -> torch.Tensor:
    """Rosenbrock's function (a - theta1)^2 + b (theta2 - theta1^2)^2 of theta (..., 2)."""
    t1, t2 = theta[..., 0], theta[..., 1]
    return (a - t1) ** 2 + b * (t2 - t1**2) ** 2


def convex_bowl(theta: torch.Tensor) -> torch.Tensor:
    """theta1^2 + theta2^2 (fig 4.1, convex: one global minimum at 0)."""
    return (theta**2).sum(-1)


def peaks(theta: torch.Tensor) -> torch.Tensor:
    """Fig 4.1's non-convex surface: 3 (1 - x)^2 e^{-x^2 - (y+1)^2} - 10 (x/5 - x^3 - y^5) e^{-x^2 - y^2}
    - e^{-(x+1)^2 - y^2} / 3 with (x, y) = theta (..., 2): several local minima and maxima."""
    x, y = theta[..., 0], theta[..., 1]
    return (
        3 * (1 - x) ** 2 * torch.exp(-(x**2) - (y + 1) ** 2)
        - 10 * (x / 5 - x**3 - y**5) * torch.exp(-(x**2) - y**2)
        - torch.exp(-((x + 1) ** 2) - y**2) / 3
    )


def weighted_quadratic_terms(
    theta: torch.Tensor, points: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """The per-point terms C_i(theta) = c_i (theta1 - x_i1)^2 + (theta2 - x_i2)^2 of fig 4.3.

    theta (..., 2), points (n, 2), weights (n,) -> (..., n)."""
    diff = theta[..., None, :] - points
    return weights * diff[..., 0] ** 2 + diff[..., 1] ** 2


def weighted_quadratic(theta: torch.Tensor, points: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """C(theta) = (1/n) sum_i C_i(theta): the mean of the per-point terms (fig 4.3's full objective;
    on a batch of the points, the batch's mean: one point gives stochastic gradient descent)."""
    return weighted_quadratic_terms(theta, points, weights).mean(-1)


def weighted_quadratic_minimiser(points: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """argmin C = (sum_i c_i x_i1 / sum_i c_i, mean_i x_i2): where the gradient is zero."""
    return torch.stack([(weights * points[:, 0]).sum() / weights.sum(), points[:, 1].mean()])


def quartic(theta: torch.Tensor) -> torch.Tensor:
    """Fig 4.10's C(t) = t^4 - 4 t^3 - 2 t^2 + 10 t + 15 of t = theta (..., 1)."""
    t = theta[..., 0]
    return t**4 - 4 * t**3 - 2 * t**2 + 10 * t + 15


@dataclass(frozen=True)
class Objective:
    """A test function as configs name it: the function of theta (and, where it has data, of the
    points and weights of a batch), its dimension, the book's start point and the known minimiser."""

    function: Callable[..., torch.Tensor]
    dim: int
    start: tuple[float, ...]
    minimiser: tuple[float, ...] | None = None
    uses_points: bool = False

    def __call__(
        self, theta: torch.Tensor, points: torch.Tensor | None = None, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.uses_points:
            if points is None or weights is None:
                raise ValueError("this objective is a mean over points: give points and weights")
            return self.function(theta, points, weights)
        return self.function(theta)

    def argmin(
        self, points: torch.Tensor | None = None, weights: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """The minimiser (for an objective with points, of the mean over `points`), or None if unknown."""
        if self.uses_points and points is not None and weights is not None:
            return weighted_quadratic_minimiser(points, weights)
        return None if self.minimiser is None else torch.tensor(self.minimiser)


OBJECTIVES: dict[str, Objective] = {
    "rosenbrock": Objective(rosenbrock, 2, (0.2, -0.2), (1.0, 1.0)),
    "convex_bowl": Objective(convex_bowl, 2, (2.0, 2.0), (0.0, 0.0)),
    "peaks": Objective(peaks, 2, (0.5, -0.5)),
    "weighted_quadratic": Objective(weighted_quadratic, 2, (6.0, 6.0), uses_points=True),
    "quartic": Objective(quartic, 1, (2.5,)),
}


def get_objective(name: str) -> Objective:
    """The objective called `name`, with a one-line error naming the choices."""
    if name not in OBJECTIVES:
        raise ValueError(f"objective={name!r}: choose one of {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]
