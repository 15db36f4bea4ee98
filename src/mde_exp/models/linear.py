"""LinearRegression: the linear model of book section 2.3, fitted by gradient descent on the squared error."""

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from mde_exp.models.base import OptimizerFactory, RegressorModule, SchedulerFactory
from mde_exp.nn.init import apply_init


class LinearRegression(RegressorModule):
    """Linear regression (book section 2.3): y_hat = b + W x, loss = mean squared error.

    Trained by the configured optimiser (plain SGD with batch_size = the data set's size is the
    book's full-batch gradient descent); `least_squares` gives the closed-form solution it approaches.
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        init: Mapping[str, Any] | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(optimizer, scheduler)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(input_dim, output_dim))
        apply_init(self.net, init)
        self.save_hyperparameters({"input_dim": input_dim, "output_dim": output_dim})

    @staticmethod
    def least_squares(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The minimiser of the squared error: (bias, weights) from the normal equations, solved by
        least squares on [1, x] (x: N x d, y: N x k). Where [1, x] has dependent columns (pixels that
        are always zero, fewer examples than parameters) it is the minimum-norm solution, as NumPy's
        lstsq and the pseudo-inverse give: the SVD-based driver, since torch's default (gelsy) returns
        a wrong solution when a column is zero."""
        design = torch.cat([torch.ones(len(x), 1, dtype=x.dtype), x.reshape(len(x), -1)], dim=1)
        beta = torch.linalg.lstsq(design.double(), y.reshape(len(y), -1).double(), driver="gelsd").solution
        return beta[0].to(x.dtype), beta[1:].T.to(x.dtype)
