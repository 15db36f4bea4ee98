"""Logistic regression (book section 3.2) and softmax regression (book section 3.3)."""

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torchmetrics.classification import BinaryF1Score

from mde_exp.models.base import EVAL_STAGES, ClassifierModule, OptimizerFactory, SchedulerFactory
from mde_exp.nn.init import apply_init


class LogisticRegression(ClassifierModule):
    """Binary logistic regression (book section 3.2): P(y = 1 | x) = sigmoid(b + w^T x), trained on the
    binary cross-entropy.

    `forward` returns the two-class logits (0, z) with z = b + w^T x: softmax((0, z)) = (1 - sigmoid(z),
    sigmoid(z)), so the cross-entropy of the shared classifier steps is exactly the binary cross-entropy,
    and every tool that reads class logits reads this model too. `logit(x)` is z, `probability(x)` is
    sigmoid(z); the parameters are the book's b (net[1].bias) and w (net[1].weight, 1 x d).
    Besides loss and accuracy it logs <stage>/f1, the F1 score of class 1 (predicted when z > 0; fig-3.5).
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int = 2,
        init: Mapping[str, Any] | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        if num_classes != 2:
            raise ValueError(
                f"LogisticRegression is a binary classifier but the data have {num_classes} classes; "
                "use model=softmax_regression, or pick two classes with data.classes=[a,b]"
            )
        super().__init__(num_classes, optimizer, scheduler)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(input_dim, 1))
        apply_init(self.net, init)
        self.save_hyperparameters({"input_dim": input_dim, "num_classes": num_classes})
        self.f1 = nn.ModuleDict({f"{stage}_f1": BinaryF1Score() for stage in ("train", *EVAL_STAGES, "test")})

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        loss = super()._step(batch, stage)
        x, y = batch
        f1 = self.f1[f"{stage}_f1"]
        with torch.no_grad():
            f1.update((self.logit(x) > 0).long(), y)
        self.log(f"{stage}/f1", f1, on_step=False, on_epoch=True, add_dataloader_idx=False)
        return loss

    def logit(self, x: torch.Tensor) -> torch.Tensor:
        """z = b + w^T x, one value per example."""
        return self.net(x).squeeze(-1)

    def probability(self, x: torch.Tensor) -> torch.Tensor:
        """P(y = 1 | x) = sigmoid(z)."""
        return torch.sigmoid(self.logit(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.logit(x)
        return torch.stack([torch.zeros_like(z), z], dim=-1)


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
