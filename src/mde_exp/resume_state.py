"""What an exact mid-epoch resume needs beyond Lightning's checkpoint: the random number generators and
the epoch's partial metric aggregates, saved with each checkpoint and put back where training resumes.

Lightning's checkpoint holds the weights, the optimiser, the loops' progress and (for a resumable data
loader such as TensorBatches) the position in the epoch. It leaves out the global random states that
dropout draws from, and the sums behind the epoch-level metrics logged so far in the epoch (train/loss's
epoch mean, a torchmetrics accuracy's counts). Without them a run resumed mid-epoch trains on the same
batches with different dropout masks and reports its first epoch's training metrics over only the
batches after the resume. With them, a resumed run on the CPU ends with the same metrics, to the last
bit, as one that was never interrupted.
"""

import random
from typing import Any

import lightning as L
import numpy as np
import torch
from torchmetrics import Metric

KEY = "exact_resume"  # the checkpoint entry this callback owns


def random_states() -> dict[str, Any]:
    """The global random states of Python, NumPy and torch (CPU and every CUDA device), in types that a
    weights-only load accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },  # fmt: skip
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict[str, Any]) -> None:
    """Put back what random_states() returned."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    n = states["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _epoch_results(trainer: L.Trainer) -> dict[str, Any]:
    """The training epoch's logged tensor metrics that aggregate over the epoch, with their running
    value and batch count (a mean is value / count)."""
    out = {}
    for key, result in trainer.fit_loop.epoch_loop._results.items():
        if result.is_tensor and result.meta.on_epoch:
            out[key] = {
                "value": result.value.detach().clone(),
                "count": result.cumulated_batch_size.detach().clone(),
                "reduce": result.meta.reduce_fx.__name__ if callable(result.meta.reduce_fx) else None,
            }
    return out


def _merge_result(result: Any, saved: dict[str, Any]) -> None:
    """Fold the aggregate of the batches before the resume into a freshly created result metric."""
    value, count = saved["value"].to(result.value.device), saved["count"].to(result.value.device)
    if saved["reduce"] in ("max", "amax"):
        result.value = torch.maximum(result.value, value)
    elif saved["reduce"] in ("min", "amin"):
        result.value = torch.minimum(result.value, value)
    else:  # mean (value holds the batch-size-weighted sum) and sum
        result.value = result.value + value
    result.cumulated_batch_size = result.cumulated_batch_size + count


def _metric_states(module: torch.nn.Module) -> dict[str, Any]:
    """The accumulated state of every torchmetrics Metric in `module` (not in its state_dict)."""
    states = {}
    for name, metric in module.named_modules():
        if isinstance(metric, Metric) and name:
            state = {
                k: (list(v) if isinstance(v, list) else v.detach().clone())
                for k, v in metric.metric_state.items()
            }
            states[name] = {"state": state, "updates": int(metric._update_count)}
    return states


def _set_metric_states(module: torch.nn.Module, states: dict[str, Any]) -> None:
    metrics = dict(module.named_modules())
    for name, saved in states.items():
        metric = metrics.get(name)
        if not isinstance(metric, Metric):
            continue
        for key, value in saved["state"].items():
            if isinstance(value, list):
                setattr(metric, key, [v.to(metric.device) for v in value])
            else:
                setattr(metric, key, value.to(metric.device))
        metric._update_count = saved["updates"]
        metric._computed = None


def _epoch_row(trainer: L.Trainer) -> dict[str, Any] | None:
    """At an epoch-end checkpoint, the row of epoch-level training metrics that Lightning logs just
    after the checkpoint is written (its values are final by then); None at any other checkpoint."""
    results = trainer.fit_loop.epoch_loop._results
    if trainer._logger_connector._first_loop_iter is not None or trainer._results is not results:
        return None
    logged = results.metrics(on_step=False)["log"]  # computes (and caches) what Lightning logs next
    return {
        "step": trainer.fit_loop.epoch_loop._batches_that_stepped - 1,  # the step Lightning logs it at
        "epoch": trainer.current_epoch,
        "metrics": {k: float(v) for k, v in logged.items()},
    }


def _log_missing_row(trainer: L.Trainer, row: dict[str, Any]) -> None:
    """Write the epoch-end row to the run's metrics.csv if a kill between the checkpoint and its logging
    kept it from disk."""
    from mde_exp.loggers import StoreCSVLogger

    for logger in trainer.loggers:
        if isinstance(logger, StoreCSVLogger) and not logger.has_row(row["step"], row["metrics"]):
            logger.log_metrics({**row["metrics"], "epoch": row["epoch"]}, step=row["step"])


class ExactResume(L.Callback):
    """Saves the random states and the epoch's partial metric aggregates with every checkpoint, and
    puts them back at the first training batch after a resume (the random states just before it, the
    aggregates once that batch has logged its own). An epoch-end checkpoint also holds the epoch's
    training row, which a resumed run writes to metrics.csv if it never reached the disk."""

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint[KEY] = {
            "random": random_states(),
            "epoch_results": _epoch_results(trainer),
            "metrics": _metric_states(pl_module),
            "epoch_row": _epoch_row(trainer),
        }

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._pending and self._pending.get("epoch_row"):
            _log_missing_row(trainer, self._pending["epoch_row"])

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        self._pending = checkpoint.get(KEY)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._pending is None or "random" not in self._pending:
            return
        set_random_states(self._pending.pop("random"))
        # A checkpoint from the end of an epoch: the next epoch starts with nothing accumulated.
        if batch_idx == 0:
            self._pending = None
            return
        _set_metric_states(pl_module, self._pending.pop("metrics", {}))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._pending is None:
            return
        results = trainer.fit_loop.epoch_loop._results
        for key, saved in self._pending.get("epoch_results", {}).items():
            if key in results:
                _merge_result(results[key], saved)
        self._pending = None
