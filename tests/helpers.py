"""Test-only pieces that a CLI run in a subprocess can name by `_target_` (with the repository root on its
PYTHONPATH), e.g. `+callbacks.fault._target_=tests.helpers.RaiseAtStep +callbacks.fault.lr=0.02`."""

import math
import os

import lightning as L

# While this environment variable is set, RaiseAtStep raises: the fault is gone when a test unsets it.
FAULT_SWITCH = "MDE_EXP_TEST_FAULT"


class RaiseAtStep(L.Callback):
    """Raises RuntimeError at training step `step` of the run whose learning rate is `lr`, while
    FAULT_SWITCH is set: a job that passes the preflight and then fails in training."""

    def __init__(self, lr: float, step: int = 2) -> None:
        self.lr = lr
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        lr = trainer.optimizers[0].param_groups[0]["lr"]
        if os.environ.get(FAULT_SWITCH) and trainer.global_step == self.step and math.isclose(lr, self.lr):
            raise RuntimeError(f"injected fault at step {self.step}")
