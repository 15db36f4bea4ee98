"""ObjectiveDataModule: the data of an optimisation problem of the book's chapter 4 (task "optimisation").

A test function (``mde_exp.objectives``) is minimised over theta by the optimiser a run chooses; the
model is ``ObjectiveModel``, whose parameter is theta. Some objectives are means over points
(fig 4.3's C(theta) = (1/n) sum_i C_i(theta)): then each training step sees a batch of the points,
so the whole set is gradient descent and one point is stochastic gradient descent (section 4.2).
Objectives without points (Rosenbrock, the surfaces of fig 4.1, the quartic of fig 4.10) get an
empty batch each step.

Batches are (points (B, 2), weights (B,)). An epoch is ``steps_per_epoch`` steps (there is no data
set to pass over); the points of step s are drawn from one stream per run, so a resumed run draws
the same ones:

- ``sampling: replacement``: each step's indices are NumPy's legacy ``RandomState(seed).choice(n)``
  draws, in order (the companion code's ``np.random.seed(0)``, ``np.random.choice(n)`` per step, for
  batch_size 1),
- ``sampling: permutation``: passes over the points in fresh random orders (mini-batches without
  replacement),
- ``batch_size: null`` (or >= n): every point in every step (gradient descent).

Validation and test see all the points in one batch: their loss is the full objective C(theta).
"""

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from mde_exp.data.base import BookDataModule
from mde_exp.objectives import BOOK_POINTS, BOOK_WEIGHTS, get_objective

SAMPLINGS = ("replacement", "permutation")


class _Steps:
    """The batches of one epoch, drawn when iterated (Lightning asks for the loader once and iterates
    it every epoch): an iterable with a length, as Lightning wants a loader."""

    def __init__(self, draw: Callable[[], list[tuple[torch.Tensor, torch.Tensor]]], length: int) -> None:
        self.draw = draw
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return iter(self.draw())


class ObjectiveDataModule(BookDataModule):
    """The points (and weights) of an objective, served one batch per optimisation step.

    Args:
        objective: a name in ``mde_exp.objectives.OBJECTIVES`` (rosenbrock, convex_bowl, peaks,
            weighted_quadratic, quartic).
        points, weights: the x_i and c_i of an objective that is a mean over points (default: the
            book's fig 4.3 set); objectives without points refuse them.
        batch_size: points per step; null = all of them (gradient descent).
        sampling: replacement (NumPy's legacy choice, the companion code's SGD) or permutation.
        seed: the seed of the sampling stream.
        steps_per_epoch: optimisation steps in one epoch (checkpoints, per-epoch metrics and
            schedulers stepping per epoch count these).
    """

    task = "optimisation"

    def __init__(
        self,
        objective: str = "rosenbrock",
        points: Sequence[Sequence[float]] | None = None,
        weights: Sequence[float] | None = None,
        batch_size: int | None = None,
        sampling: str = "replacement",
        seed: int = 0,
        steps_per_epoch: int = 100,
    ) -> None:
        super().__init__()
        spec = get_objective(objective)
        if sampling not in SAMPLINGS:
            raise ValueError(f"sampling={sampling!r}: choose one of {', '.join(SAMPLINGS)}")
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be positive, got {steps_per_epoch}")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be positive or null, got {batch_size}")
        if spec.uses_points:
            if points is None:  # the book's fig 4.3 set
                points, weights = BOOK_POINTS, BOOK_WEIGHTS if weights is None else weights
            weights = [1.0] * len(points) if weights is None else weights
            self.points = torch.tensor(points, dtype=torch.float64).reshape(-1, spec.dim)
            self.weights = torch.tensor(weights, dtype=torch.float64).reshape(-1)
            if len(self.points) != len(self.weights) or len(self.points) == 0:
                raise ValueError(f"{len(self.points)} points but {len(self.weights)} weights")
        else:
            if points is not None or weights is not None:
                raise ValueError(f"objective {objective} has no points: leave points and weights null")
            self.points = torch.zeros(0, spec.dim, dtype=torch.float64)
            self.weights = torch.zeros(0, dtype=torch.float64)
        self.objective = objective
        self.uses_points = spec.uses_points
        self.batch_size = batch_size
        self.sampling = sampling
        self.seed = seed
        self.steps_per_epoch = steps_per_epoch

    def setup(self, stage: str | None = None) -> None:
        """Nothing to load: the points are held from the start."""

    def model_inputs(self) -> dict[str, Any]:
        return {"objective": self.objective}

    @property
    def full_batch(self) -> bool:
        """Whether every step sees every point (gradient descent)."""
        return not self.uses_points or self.batch_size is None or self.batch_size >= len(self.points)

    def step_indices(self, first_step: int, steps: int) -> np.ndarray:
        """The point indices of steps first_step, ..., first_step + steps - 1, as a (steps, B) array."""
        n, size = len(self.points), self.batch_size
        needed = (first_step + steps) * size
        rng = np.random.RandomState(self.seed)
        if self.sampling == "replacement":
            stream = rng.choice(n, size=needed)
        else:
            passes = -(-needed // n)
            stream = np.concatenate([rng.permutation(n) for _ in range(passes)])[:needed]
        return stream[first_step * size :].reshape(steps, size)

    def _epoch(self) -> int:
        return self.trainer.current_epoch if self.trainer is not None else 0

    def epoch_batches(self, epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The (points, weights) batches of the steps of `epoch`, on the training device."""
        device = self.training_device()
        points, weights = self.points.to(device), self.weights.to(device)
        if self.full_batch:
            return [(points, weights)] * self.steps_per_epoch
        index = torch.from_numpy(self.step_indices(epoch * self.steps_per_epoch, self.steps_per_epoch))
        return [(points[i], weights[i]) for i in index.to(device)]

    def train_dataloader(self) -> _Steps:
        return _Steps(lambda: self.epoch_batches(self._epoch()), self.steps_per_epoch)

    def _all(self) -> _Steps:
        return _Steps(
            lambda: [(self.points.to(self.training_device()), self.weights.to(self.training_device()))], 1
        )

    def val_dataloader(self) -> _Steps:
        return self._all()

    def test_dataloader(self) -> _Steps:
        return self._all()
