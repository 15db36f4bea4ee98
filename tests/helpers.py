"""Test-only pieces that a CLI run in a subprocess can name by `_target_` (with the repository root on its
PYTHONPATH), e.g. `+callbacks.fault._target_=tests.helpers.RaiseAtStep +callbacks.fault.lr=0.02`."""

import math
import os
import time

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


class SlowSteps(L.Callback):
    """Sleeps `seconds` after each training step (changing nothing it computes), so that a test can send
    a signal or a SIGKILL to a run at a moment of its choosing."""

    def __init__(self, seconds: float = 0.05) -> None:
        self.seconds = seconds

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        time.sleep(self.seconds)


class SignalAtStep(L.Callback):
    """Sends this process signal `signum` (by number) just after training step `step`: a preemption
    that lands at a chosen moment."""

    def __init__(self, step: int, signum: int) -> None:
        self.step = step
        self.signum = signum

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step and os.environ.get(FAULT_SWITCH):
            os.kill(os.getpid(), self.signum)


class RecordThreads(L.Callback):
    """Writes, when training starts, this process's torch thread count and its OMP_NUM_THREADS to a new
    `<folder>/<pid>-<ns>.json`: what a sweep job that a launcher (joblib, Ray) runs actually got."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def on_train_start(self, trainer, pl_module) -> None:
        import json

        import torch

        record = {
            "torch_threads": torch.get_num_threads(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        }
        os.makedirs(self.folder, exist_ok=True)
        with open(os.path.join(self.folder, f"{os.getpid()}-{time.time_ns()}.json"), "w") as f:
            json.dump(record, f)
