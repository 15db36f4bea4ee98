"""Preemption: on SIGTERM or SIGUSR1 a run saves a checkpoint at the next step boundary and ends with the
exit code of a process ended by that signal, so that a cluster's requeue path starts it again and the
rerun resumes where it stopped.

SLURM sends SIGTERM when it preempts or cancels a job (and requeues it itself when the job was submitted
with --requeue), and the signal that `sbatch --signal=USR1@<seconds>` asks for before the time limit.
On SIGUSR1 inside a SLURM job the run also asks SLURM to requeue it (`scontrol requeue <job id>`), as
Lightning's own SLURM auto-requeue does. The rerun resumes under the same W&B run id (see
loggers.wandb_logger), from the checkpoint saved here.
"""

import logging
import os
import signal
import subprocess
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
import torch

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
# Under DDP, how often the processes agree on whether one of them received a signal (an all-reduce).
AGREE_EVERY_N_STEPS = 10


def exit_code(signum: int) -> int:
    """The exit status of a process ended by signal `signum` (143 for SIGTERM, 138 for SIGUSR1)."""
    return 128 + int(signum)


class Preempted(BaseException):
    """The run stopped on a preemption signal after saving its checkpoint. A BaseException, like
    KeyboardInterrupt, so that a sweep stops too instead of starting its next job."""

    def __init__(self, signum: int, step: int, checkpoint: Path | None) -> None:
        self.signum = int(signum)
        self.step = step
        self.checkpoint = checkpoint
        name = signal.Signals(self.signum).name
        saved = f"checkpoint saved at step {step}" if checkpoint else "no checkpoint saved"
        super().__init__(f"preempted by {name}: {saved}")


def slurm_job_id() -> str | None:
    """This SLURM job's id (an array task's as <array job>_<task>), or None outside SLURM."""
    array = os.environ.get("SLURM_ARRAY_JOB_ID")
    if array is not None and "SLURM_ARRAY_TASK_ID" in os.environ:
        return f"{array}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ.get("SLURM_JOB_ID")


def request_requeue(job_id: str) -> bool:
    """Ask SLURM to requeue job `job_id`; whether it accepted."""
    try:
        done = subprocess.run(["scontrol", "requeue", job_id], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        log.warning("could not requeue SLURM job %s: %s", job_id, err)
        return False
    if done.returncode != 0:
        log.warning("scontrol requeue %s failed: %s", job_id, done.stderr.strip())
    return done.returncode == 0


class PreemptionCheckpoint(L.Callback):
    """Catches SIGTERM and SIGUSR1 while training, then at the next training step's end (or the
    epoch's end, after its validation) writes `checkpoint`, and raises Preempted at the next step's
    start, once the metrics up to the checkpoint are logged (a run in its last step just finishes).
    The handlers replace Lightning's for the length of the fit and are put back afterwards (a signal
    before training starts is Lightning's: it stops the run)."""

    def __init__(self, checkpoint: Path) -> None:
        self.checkpoint = Path(checkpoint)
        self.received: int | None = None
        self.saved_at: int | None = None  # the step whose checkpoint was saved after the signal
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
            log.warning("received %s: saving a checkpoint at the next step", signal.Signals(signum).name)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, err: BaseException) -> None:
        self._restore()

    def _save(self, trainer: L.Trainer) -> None:
        trainer.save_checkpoint(self.checkpoint, weights_only=False)
        self.saved_at = trainer.global_step
        log.warning("checkpoint saved to %s at step %d", self.checkpoint, trainer.global_step)
        requeue = self.received == signal.SIGUSR1 and trainer.is_global_zero
        if requeue and (job := slurm_job_id()) and request_requeue(job):
            log.warning("requeued SLURM job %s", job)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        """Save at the step boundary Lightning's own checkpoints use. Not after an epoch's last batch:
        Lightning resumes from there as if the epoch's validation had run, so that save waits for the
        epoch's end."""
        if self.saved_at is not None or not self._agreed(trainer, every=AGREE_EVERY_N_STEPS):
            return
        if not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            self._save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.saved_at is None and self._agreed(trainer):
            self._save(trainer)

    def _agreed(self, trainer: L.Trainer, every: int = 1) -> bool:
        """Whether to save now. Under DDP the save is collective, so every process decides the same:
        a signal any process received counts for all, agreed by a small all-reduce every `every` steps
        and at each epoch's end (DDP only; every process has the same step count, so all take part)."""
        if trainer.world_size == 1:
            return self.received is not None
        if trainer.global_step % every:  # a process that received a signal waits for the agreement too
            return False
        flag = torch.tensor(float(self.received or 0), device=trainer.strategy.root_device)
        signum = int(trainer.strategy.reduce(flag, reduce_op="max"))
        if signum and self.received is None:
            self.received = signum
        return bool(signum)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        """Stop once the saved step's (or epoch's) metrics are logged: at the next step."""
        if self.saved_at is None:
            return
        for logger in trainer.loggers:
            logger.save()
        raise Preempted(self.received, self.saved_at, self.checkpoint)
