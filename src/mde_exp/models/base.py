"""The classification training, validation and test steps shared by every classifier of the book."""

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]

# Validation loaders, in order: the held-out split, then a same-size slice of the training split
# evaluated in eval mode (no dropout, running batch-norm statistics): the honest "training" curve.
EVAL_STAGES = ("val", "train_eval")


class ClassifierModule(L.LightningModule):
    """Cross-entropy classifier: subclasses build `self.net` mapping inputs to class logits.

    Logs per epoch (never per step, so no host-device synchronisation on the step path):
    train/loss, train/acc, val/loss, val/acc, train_eval/loss, train_eval/acc, test/loss, test/acc.
    """

    def __init__(
        self,
        num_classes: int,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.net: nn.Module = nn.Identity()
        self.accuracy = nn.ModuleDict(
            {
                f"{stage}_acc": MulticlassAccuracy(num_classes, average="micro")
                for stage in ("train", *EVAL_STAGES, "test")
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        acc = self.accuracy[f"{stage}_acc"]
        acc.update(logits, y)
        on_step = stage == "train"
        self.log(
            f"{stage}/loss", loss, on_step=on_step, on_epoch=True, add_dataloader_idx=False, batch_size=len(y)
        )
        self.log(f"{stage}/acc", acc, on_step=False, on_epoch=True, add_dataloader_idx=False)
        return loss

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._step(batch, EVAL_STAGES[dataloader_idx])

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "test")

    def configure_optimizers(self) -> Any:
        if self.optimizer_factory is None:
            raise RuntimeError("no optimizer given: build the model with optimizer=<a torch.optim factory>")
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer), "interval": "epoch"},
        }
