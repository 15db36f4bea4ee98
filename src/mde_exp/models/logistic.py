"""SoftmaxRegression: multinomial logistic regression of book section 3.3."""

from collections.abc import Mapping
from typing import Any

from torch import nn

from mde_exp.models.base import ClassifierModule, OptimizerFactory, SchedulerFactory
from mde_exp.nn.init import apply_init


class SoftmaxRegression(ClassifierModule):
    """Softmax regression (book section 3.3): logits W x + b, trained on the cross-entropy loss.

    With the `normal` init and std 1 this is tab-2.1's N(0, 1) start.
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        init: Mapping[str, Any] | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(num_classes, optimizer, scheduler)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(input_dim, num_classes))
        apply_init(self.net, init)
        self.save_hyperparameters({"input_dim": input_dim, "num_classes": num_classes})
