"""The training, validation and test steps shared by the book's classifiers and regressors."""

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy
from torchmetrics.regression import MeanSquaredError

from mde_exp.epoch_mean import EpochMean
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
        # The training loss's epoch mean, updated in place at each step and logged once an epoch.
        self.epoch_means = nn.ModuleDict({"train/loss": EpochMean()})
        self._logged_this_epoch: set[str] = set()  # the metrics log_epoch_metric logged this epoch

    def _step(self, batch: Any, stage: str) -> torch.Tensor:
        raise NotImplementedError

    def log_loss(self, name: str, value: torch.Tensor, batch_size: int, on_step: bool = False) -> None:
        """Log a batch's `value` into its epoch mean (weighted by `batch_size`), reduced across DDP
        processes once, at the epoch's end (sync_dist), and with `on_step` also each step's value as
        `<name>_step`: this process's own, so that no step waits on a collective. The columns are those
        of one self.log(on_step=True, on_epoch=True): <name>_step and <name>_epoch (or <name> alone).
        The training loss (a name in `epoch_means`) is summed into an EpochMean in place at each step and
        logged once an epoch (a Metric: an exact resume keeps its partial sums, DDP reduces it once at
        the epoch's end); its step value is logged only at the steps the Trainer writes."""
        common = {"add_dataloader_idx": False, "batch_size": batch_size}
        if on_step and self._logging_step():
            self.log(f"{name}_step", value, on_step=True, on_epoch=False, **common)
        epoch_name = f"{name}_epoch" if on_step else name
        if self.training and name in self.epoch_means:  # the per-step path: no self.log call
            self.epoch_means[name].update(value, batch_size)
            self.log_epoch_metric(epoch_name, self.epoch_means[name])
            return
        self.log(epoch_name, value, on_step=False, on_epoch=True, sync_dist=True, **common)

    def _logging_step(self) -> bool:
        """Whether the Trainer writes this training step's logs (every `log_every_n_steps`): a step-level
        value logged at other steps would only cost time (Lightning's self.log costs up to a millisecond)."""
        if self._trainer is None:
            return True
        return self._trainer._logger_connector.should_update_logs

    def log_epoch_metric(self, name: str, metric: Metric) -> None:
        """Log a torchmetrics `metric`'s epoch value (its update is the caller's): Lightning keeps the
        metric and computes it at the epoch's end, so a training epoch logs it at its first step only;
        an evaluation logs it at each batch, as usual."""
        if self.training and self._trainer is not None:
            if name in self._logged_this_epoch:
                return
            self._logged_this_epoch.add(name)
        self.log(name, metric, on_step=False, on_epoch=True, add_dataloader_idx=False)

    def on_train_epoch_start(self) -> None:  # (not called when a run resumes mid-epoch)
        self._logged_this_epoch = set()

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
                # validate_args=False: its label check (torch.unique) would stop a GPU at every step
                f"{stage}_acc": MulticlassAccuracy(num_classes, average="micro", validate_args=False)
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
        self.log_loss(f"{stage}/loss", loss, len(y), on_step=stage == "train")
        self.log_epoch_metric(f"{stage}/acc", acc)
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
        self.log_loss(f"{stage}/loss", loss, len(target), on_step=stage == "train")
        self.log_epoch_metric(f"{stage}/mse", mse)
        return loss
