"""Callbacks every run carries: divergence detection (a NaN or infinite loss ends the run as a result)."""

import math

import lightning as L


class DivergenceDetector(L.Callback):
    """Stops training when the training loss stops being finite and remembers where.

    It reads the loss only every `check_every` steps and at each epoch's end, so it adds no
    host-device synchronisation to the other steps.
    """

    def __init__(self, check_every: int = 50) -> None:
        self.check_every = check_every
        self.diverged_at_step: int | None = None
        self.diverged_at_epoch: int | None = None

    def _check(self, trainer: L.Trainer, value) -> None:
        if self.diverged_at_step is None and value is not None and not math.isfinite(float(value)):
            self.diverged_at_step = trainer.global_step
            self.diverged_at_epoch = trainer.current_epoch
            trainer.should_stop = True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step % self.check_every == 0 and isinstance(outputs, dict):
            self._check(trainer, outputs.get("loss"))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._check(trainer, trainer.callback_metrics.get("train/loss_epoch"))
