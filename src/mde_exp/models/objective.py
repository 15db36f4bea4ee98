"""ObjectiveModel: a test function of the book's chapter 4 as a model whose only parameter is the point theta.

Training it minimises the function with the run's optimiser and schedule (conf/optimizer,
conf/scheduler), exactly as they train networks, so the book's optimisation paths (figs 4.2, 4.3,
4.6, 4.9, 4.10) are runs: ``python -m mde_exp data=rosenbrock model=objective optimizer=book_momentum
callbacks=parameter_path`` records theta after every step (``mde_exp.parameter_path``).
"""

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from mde_exp.models.base import BookModule, OptimizerFactory, SchedulerFactory
from mde_exp.objectives import get_objective


class ObjectiveModel(BookModule):
    """Minimises the objective named `objective` (``mde_exp.objectives.OBJECTIVES``) over theta.

    The loss of a training step is the objective at theta on the step's batch (points and weights from
    ``ObjectiveDataModule``: the batch mean of the per-point terms where the objective has points).
    Validation and test see all the points: val/loss is the full objective C(theta), val/distance
    ||theta - theta*|| where the minimiser theta* is known, val/theta_<i> the coordinates.
    A schedule steps after every optimisation step (the book's alpha_t is per iteration t).

    Args:
        objective: the test function (given by the data: ``data=rosenbrock`` etc.).
        start: theta_0; null = the book's start point of that objective.
        dtype: float64 (default: the companion code's NumPy precision) or float32.
    """

    def __init__(
        self,
        objective: str,
        start: Sequence[float] | None = None,
        dtype: str = "float64",
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(optimizer, scheduler)
        self.objective = get_objective(objective)
        start = self.objective.start if start is None else tuple(start)
        if len(start) != self.objective.dim:
            raise ValueError(
                f"start={list(start)}: objective {objective} has {self.objective.dim} coordinates"
            )
        if dtype not in ("float64", "float32"):
            raise ValueError(f"dtype={dtype!r}: choose float64 or float32")
        self.theta = nn.Parameter(torch.tensor(start, dtype=getattr(torch, dtype)))
        self.save_hyperparameters({"objective": objective, "start": list(start), "dtype": dtype})

    def forward(self, points: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The objective at theta on a batch of points (ignored by objectives without points)."""
        return self.objective(self.theta, points, weights)

    def loss_function(
        self, batch: tuple[torch.Tensor, torch.Tensor]
    ) -> Callable[[dict[str, torch.Tensor]], torch.Tensor]:
        """The loss on `batch` as a pure function of {"theta": value} (for Newton's method, line search)."""
        points, weights = batch
        return lambda params: self.objective(params.get("theta", self.theta), points, weights)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        points, weights = batch
        loss = self(points, weights)
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, batch_size=1)
        if stage != "train":
            theta = self.theta.detach()
            for i, value in enumerate(theta):
                self.log(f"{stage}/theta_{i + 1}", value, on_epoch=True, batch_size=1)
            best = self.objective.argmin(points, weights)
            if best is not None:
                distance = torch.linalg.vector_norm(theta - best.to(theta))
                self.log(f"{stage}/distance", distance, on_epoch=True, batch_size=1)
        return loss

    def configure_optimizers(self) -> Any:
        configured = super().configure_optimizers()
        if isinstance(configured, dict):
            configured["lr_scheduler"]["interval"] = "step"
        return configured
