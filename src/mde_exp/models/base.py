"""The training, validation and test steps shared by the book's classifiers and regressors."""

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy
from torchmetrics.regression import MeanSquaredError

from mde_exp.optim import bind_batch_loss

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]

# Validation loaders, in order: the held-out split, then a same-size slice of the training split
# evaluated in eval mode (no dropout, running batch-norm statistics): the honest "training" curve.
EVAL_STAGES = ("val", "train_eval")


class BookModule(L.LightningModule):
    """A model trained by the optimiser and schedule that the run's config chose.

    Subclasses implement `_step(batch, stage)`, the loss and logging of one batch for a stage
    ("train", "val", "train_eval" or "test"); the validation loaders come in EVAL_STAGES order.
    """

    def __init__(
        self, optimizer: OptimizerFactory | None = None, scheduler: SchedulerFactory | None = None
    ) -> None:
        super().__init__()
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler

    def _step(self, batch: Any, stage: str) -> torch.Tensor:
        raise NotImplementedError

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Line search and Newton's method (mde_exp.optim) take this batch's loss as a function of the
        # parameters; other optimisers are left alone.
        bind_batch_loss(self, self.trainer.optimizers, batch)

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


class ClassifierModule(BookModule):
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
        super().__init__(optimizer, scheduler)
        self.num_classes = num_classes
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


class RegressorModule(BookModule):
    """Squared-error regression: subclasses build `self.net` mapping inputs to predictions.

    The loss is the mean squared error over examples and outputs; `targets(batch)` says what is
    predicted (the batch's second tensor; an autoencoder overrides it with the input itself).
    Logs per epoch <stage>/loss and <stage>/mse (the latter aggregated exactly over the split).
    """

    def __init__(
        self, optimizer: OptimizerFactory | None = None, scheduler: SchedulerFactory | None = None
    ) -> None:
        super().__init__(optimizer, scheduler)
        self.net: nn.Module = nn.Identity()
        self.mse = nn.ModuleDict(
            {f"{stage}_mse": MeanSquaredError() for stage in ("train", *EVAL_STAGES, "test")}
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def targets(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return batch[1]

    def _step(self, batch: tuple[torch.Tensor, ...], stage: str) -> torch.Tensor:
        target = self.targets(batch)
        prediction = self(batch[0]).view_as(target)
        loss = F.mse_loss(prediction, target)
        mse = self.mse[f"{stage}_mse"]
        mse.update(prediction.detach(), target)
        on_step = stage == "train"
        self.log(
            f"{stage}/loss", loss, on_step=on_step, on_epoch=True, add_dataloader_idx=False,
            batch_size=len(target),
        )  # fmt: skip
        self.log(f"{stage}/mse", mse, on_step=False, on_epoch=True, add_dataloader_idx=False)
        return loss
