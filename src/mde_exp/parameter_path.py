"""ParameterPath: the path theta_0, theta_1, ... of a model's parameters under its optimiser (book
sections 2.3 and 4.2: gradient descent's iterates, its stopping rule and divergence).

The callback records the trainable parameters (all of them, flattened in registration order, or the
named ones) at the start of training and after every optimiser step, with the training loss of the
step and the step's norm ||theta_{t+1} - theta_t||. Rows go to ``<run folder>/parameter_path.csv``
(the run folder is the trainer's ``default_root_dir``), one row per iterate:

- ``step``: t, the number of optimiser steps taken (0 = the starting point),
- ``loss``: the training loss of the batch that step t+1 was computed from, evaluated at theta_t (the
  loss that the optimiser saw; empty for the last iterate, which no step left from),
- ``step_norm``: ||theta_t - theta_{t-1}|| (empty for t = 0),
- one column per recorded scalar: ``<parameter name>`` for a one-element parameter, else
  ``<parameter name>.<i>`` for entry i of the flattened tensor.

Training stops when the step's norm falls below ``stop_below`` (gradient descent's stopping rule;
null = never) and when the loss or the parameters stop being finite (the run diverged). How it ended
is written to ``<run folder>/parameter_path.json``: steps, converged (the rule fired), diverged,
stopped_at_step and the last step norm. ``read_parameter_path(run_dir)`` reads both back.

Rows are appended to the CSV at every epoch's end (and at the end of training), so a long path costs
one write per epoch; a resumed run keeps the rows of the steps its checkpoint holds. Each step copies
the recorded parameters to the host once: meant for models with few parameters (test functions,
linear and logistic regression), or for a few named tensors of a larger one.
"""

import json
import math
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch

FILENAME = "parameter_path.csv"
SUMMARY = "parameter_path.json"
FIXED_COLUMNS = ("step", "loss", "step_norm")


def _loss_value(outputs: Any) -> float:
    if isinstance(outputs, dict):
        outputs = outputs.get("loss")
    if isinstance(outputs, torch.Tensor):
        return float(outputs.detach())
    return float("nan") if outputs is None else float(outputs)


class ParameterPath(L.Callback):
    """Records theta_t after every optimiser step; stops on a small step or a non-finite loss.

    Args:
        parameters: names (as in ``named_parameters()``) of the parameters to record; null records
            every trainable parameter. theta is these, flattened and concatenated in this order.
        stop_below: stop training once ||theta_{t+1} - theta_t|| < stop_below (null: never).
        stop_on_divergence: stop training when the loss or theta is NaN or infinite.
    """

    def __init__(
        self,
        parameters: list[str] | None = None,
        stop_below: float | None = None,
        stop_on_divergence: bool = True,
    ) -> None:
        if stop_below is not None and stop_below < 0:
            raise ValueError(f"stop_below must be >= 0 or null, got {stop_below}")
        self.parameters = list(parameters) if parameters is not None else None
        self.stop_below = stop_below
        self.stop_on_divergence = stop_on_divergence
        self.columns: list[str] = []
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.norms: list[float] = []
        self.thetas: list[np.ndarray] = []
        self.converged = False
        self.diverged = False
        self.stopped_at_step: int | None = None
        self.path: Path | None = None
        self._written = 0  # rows of self.steps already in the CSV
        self._last_step = -1
        self._step_loss: torch.Tensor | None = None

    # -- what is recorded -----------------------------------------------------------------------
    def _named(self, pl_module: L.LightningModule) -> list[tuple[str, torch.Tensor]]:
        named = dict(pl_module.named_parameters())
        if self.parameters is None:
            return [(n, p) for n, p in named.items() if p.requires_grad]
        missing = [n for n in self.parameters if n not in named]
        if missing:
            raise ValueError(
                f"ParameterPath: no parameter named {', '.join(missing)}; the model has {', '.join(named)}"
            )
        return [(n, named[n]) for n in self.parameters]

    def theta(self, pl_module: L.LightningModule) -> np.ndarray:
        """The recorded parameters now, flattened and concatenated (float64, on the host)."""
        flat = [p.detach().reshape(-1) for _, p in self._named(pl_module)]
        return torch.cat(flat).to("cpu", torch.float64).numpy()

    def _column_names(self, pl_module: L.LightningModule) -> list[str]:
        names = []
        for n, p in self._named(pl_module):
            names += [n] if p.numel() == 1 else [f"{n}.{i}" for i in range(p.numel())]
        return names

    # -- Lightning hooks ------------------------------------------------------------------------
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.path = None
        self.columns = self._column_names(pl_module)  # raises on unknown names, before anything is written
        self.path = Path(trainer.default_root_dir) / FILENAME
        self.steps, self.losses, self.norms, self.thetas = [], [], [], []
        self.converged = self.diverged = False
        self.stopped_at_step = None
        start = trainer.global_step
        if start > 0 and self.path.is_file():  # resumed: keep the rows up to the checkpoint's step
            kept = pd.read_csv(self.path)
            kept = kept[kept["step"] <= start]
            self.steps = kept["step"].astype(int).tolist()
            self.losses = kept["loss"].astype(float).tolist()
            self.norms = kept["step_norm"].astype(float).tolist()
            self.thetas = list(kept[self.columns].to_numpy(dtype=np.float64))
        if not self.steps or self.steps[-1] != start:
            self._append(start, float("nan"), pl_module)
        self._written = 0
        self._last_step = start
        self._step_loss = None
        self._write()

    def on_before_backward(
        self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor
    ) -> None:
        # The first loss of a step is the one at theta_t: optimisers that evaluate the closure again
        # (L-BFGS, line search by closure) end with a loss at another point.
        if self._step_loss is None:
            self._step_loss = loss.detach()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx
    ) -> None:
        step = trainer.global_step
        if step == self._last_step:  # no optimiser step this batch (gradient accumulation)
            return
        self._last_step = step
        first, self._step_loss = self._step_loss, None
        self.losses[-1] = _loss_value(outputs if first is None else first)  # the loss at theta_t
        self._append(step, float("nan"), pl_module)
        norm = self.norms[-1]
        finite = math.isfinite(self.losses[-2]) and bool(np.isfinite(self.thetas[-1]).all())
        if not finite:
            self.diverged = True
            if self.stop_on_divergence:
                self._stop(trainer, step)
        elif self.stop_below is not None and norm < self.stop_below:
            self.converged = True
            self._stop(trainer, step)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write(final=True)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._write(final=True)

    # -- bookkeeping ----------------------------------------------------------------------------
    def _append(self, step: int, loss: float, pl_module: L.LightningModule) -> None:
        theta = self.theta(pl_module)
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging path: inf or NaN, recorded as such
            norm = float(np.linalg.norm(theta - self.thetas[-1])) if self.thetas else float("nan")
        self.steps.append(step)
        self.losses.append(loss)
        self.norms.append(norm)
        self.thetas.append(theta)

    def _stop(self, trainer: L.Trainer, step: int) -> None:
        if self.stopped_at_step is None:
            self.stopped_at_step = step
        trainer.should_stop = True

    def frame(self, start: int = 0, end: int | None = None) -> pd.DataFrame:
        """The recorded path (rows start:end) as a DataFrame with the CSV's columns."""
        end = len(self.steps) if end is None else end
        data = {
            "step": self.steps[start:end],
            "loss": self.losses[start:end],
            "step_norm": self.norms[start:end],
        }
        theta = np.array(self.thetas[start:end]).reshape(-1, len(self.columns))
        return pd.concat([pd.DataFrame(data), pd.DataFrame(theta, columns=self.columns)], axis=1)

    def summary(self) -> dict[str, Any]:
        """How the path ended: steps taken, converged (the stopping rule fired), diverged, ..."""
        return {
            "steps": self.steps[-1] if self.steps else 0,
            "converged": self.converged,
            "diverged": self.diverged,
            "stopped_at_step": self.stopped_at_step,
            "stop_below": self.stop_below,
            "last_step_norm": self.norms[-1] if self.norms and math.isfinite(self.norms[-1]) else None,
            "parameters": self.columns,
        }

    def _write(self, final: bool = False) -> None:
        """Append the rows not yet in the CSV. The last row's loss is filled in by the next step, so
        it is written only at the end of training (`final`)."""
        if self.path is None or not self.steps:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        end = len(self.steps) if final else len(self.steps) - 1
        if end > self._written or self._written == 0:
            header = self._written == 0
            self.frame(self._written, end).to_csv(
                self.path, mode="w" if header else "a", header=header, index=False, float_format="%.17g"
            )
            self._written = max(self._written, end)
        (self.path.parent / SUMMARY).write_text(json.dumps(self.summary(), indent=2))


def read_parameter_path(directory: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A run's recorded path (parameter_path.csv as a DataFrame) and how it ended (parameter_path.json)."""
    directory = Path(directory)
    frame = pd.read_csv(directory / FILENAME)
    summary_path = directory / SUMMARY
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return frame, summary


def path_array(frame: pd.DataFrame) -> np.ndarray:
    """The iterates theta_0, theta_1, ... of a recorded path as an array (steps x parameters)."""
    return frame.drop(columns=list(FIXED_COLUMNS)).to_numpy(dtype=np.float64)
