"""LayerStatistics: per-layer activation and gradient statistics of a network (book section 5.5).

For every nn.Linear layer of the model, in order, the callback records on one fixed batch:

- ``pre_*``: the layer's output z_l = W_l h_{l-1} + b_l (the pre-activation),
- ``post_*``: the input of the next linear layer, h_l (for an MLP the activation's output, after any
  norm and dropout layer); empty for the last linear layer, whose output is the logits,
- ``out_grad_*``: the gradient of the loss with respect to z_l (the backpropagated signal),
- ``weight_grad_*``: the gradient of the loss with respect to W_l,
- ``weight_std`` and ``weight_unit_spread``: the spread of W_l's entries, and the spread of its rows
  across output units (zero when every unit of the layer has the same incoming weights),
- ``pre_unit_spread`` / ``post_unit_spread``: the spread across units of the layer, averaged over the
  batch (zero when all units compute the same value: the symmetry that zero initialisation keeps),
- ``post_saturated`` (fraction with |h| > 0.99, a saturated tanh) and ``post_zero`` (fraction == 0,
  inactive ReLUs).

It records at initialisation (epoch 0, before the first optimiser step) and after every
``every_n_epochs`` epochs (and after the last one), never on the per-step path: the only host
synchronisation is one copy of the statistics at each recorded moment. Rows go to
``<run folder>/layer_stats.csv`` (the run folder is the trainer's default_root_dir); a resumed run keeps
the rows of the epochs its checkpoint holds. When the run logs to W&B, the same moments are logged as
histograms (``layer_stats/<layer>/{pre,post,out_grad,weight_grad}``).

Gradients are taken with torch.autograd.grad, so the parameters' .grad and the optimiser are untouched;
the forward pass runs in eval mode (dropout off, batch-norm running statistics) on the first
``batch_size`` examples of the validation split (or of the training split), with the random number
generators forked so that recording does not change what training draws.
"""

import csv
import math
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import move_data_to_device
from torch import nn

FILENAME = "layer_stats.csv"
TENSORS = ("pre", "post", "out_grad", "weight_grad")  # each gives <name>_mean and <name>_std columns
EXTRA = (
    "weight_std",
    "weight_unit_spread",
    "pre_unit_spread",
    "post_unit_spread",
    "post_saturated",
    "post_zero",
)
COLUMNS = (
    "epoch",
    "global_step",
    "layer",
    "name",
    "fan_in",
    "fan_out",
    "batch_loss",
    *(f"{t}_{s}" for t in TENSORS for s in ("mean", "std")),
    *EXTRA,
)
SPLITS = ("val", "train")


def _first_batch(loader: Any) -> Any:
    if isinstance(loader, list | tuple):
        loader = loader[0]
    return next(iter(loader))


def _unit_spread(t: torch.Tensor) -> torch.Tensor:
    """Std across units (dim 1 onwards, flattened), averaged over the examples of the batch."""
    flat = t.reshape(len(t), -1)
    return flat.std(dim=1, unbiased=False).mean() if flat.shape[1] > 1 else flat.new_zeros(())


class LayerStatistics(L.Callback):
    """Records per-layer activation and gradient statistics at initialisation and every few epochs.

    Args:
        every_n_epochs: record after every n-th epoch (and after the last); 0 records at
            initialisation and after the last epoch only.
        batch_size: how many examples of the fixed batch are used.
        split: "val" (the first examples of the validation split: fixed, the same on resume) or
            "train" (the first training batch of the epoch in which recording starts).
        histograms: also log W&B histograms when the run has a WandbLogger.
    """

    def __init__(
        self, every_n_epochs: int = 1, batch_size: int = 256, split: str = "val", histograms: bool = True
    ) -> None:
        if every_n_epochs < 0:
            raise ValueError(f"every_n_epochs must be >= 0, got {every_n_epochs}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        self.every_n_epochs = every_n_epochs
        self.batch_size = batch_size
        self.split = split
        self.histograms = histograms
        self.rows: list[dict[str, Any]] = []
        self.path: Path | None = None
        self._batch: Any = None
        self._last_recorded: int | None = None

    # -- Lightning hooks -------------------------------------------------------------------------
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.path = Path(trainer.default_root_dir) / FILENAME
        start = trainer.current_epoch  # epochs already trained (a resumed run's checkpoint)
        self.rows = [r for r in _read_rows(self.path) if int(r["epoch"]) <= start] if start else []
        self._last_recorded = max((int(r["epoch"]) for r in self.rows), default=None)
        self._batch = None
        if start == 0 and trainer.global_step == 0:
            self.record(trainer, pl_module, epoch=0)
        else:
            self._write()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        done = trainer.current_epoch + 1  # epochs completed, this one included
        if self.every_n_epochs and done % self.every_n_epochs == 0:
            self.record(trainer, pl_module, epoch=done)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        done = trainer.current_epoch  # after the fit loop, the number of completed epochs
        if done > 0 and self._last_recorded != done:
            self.record(trainer, pl_module, epoch=done)

    # -- recording -------------------------------------------------------------------------------
    def fixed_batch(self, trainer: L.Trainer, pl_module: L.LightningModule) -> Any:
        """The batch every recording uses: fetched once, with the random generators left as they were."""
        if self._batch is None:
            dm = trainer.datamodule
            with torch.random.fork_rng(devices=[]):
                if dm is not None and self.split == "val":
                    batch = _first_batch(dm.val_dataloader())
                elif dm is not None:
                    batch = _first_batch(dm.train_dataloader())
                else:
                    batch = _first_batch(trainer.train_dataloader)
            batch = tuple(t[: self.batch_size] for t in batch)
            self._batch = move_data_to_device(batch, pl_module.device)
        return self._batch

    def record(self, trainer: L.Trainer, pl_module: L.LightningModule, epoch: int) -> list[dict[str, Any]]:
        """Compute the statistics on the fixed batch now, append them as rows for `epoch`, write the CSV."""
        batch = self.fixed_batch(trainer, pl_module)
        wandb_loggers = (
            [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)] if self.histograms else []
        )
        stats, samples, names, shapes = compute_layer_statistics(
            pl_module, batch, samples=bool(wandb_loggers)
        )
        rows = []
        for i, (name, (fan_in, fan_out)) in enumerate(zip(names, shapes, strict=True)):
            row: dict[str, Any] = {
                "epoch": epoch,
                "global_step": trainer.global_step,
                "layer": i,
                "name": name,
                "fan_in": fan_in,
                "fan_out": fan_out,
            }
            row.update({k: float(v[i]) for k, v in stats.items()})
            rows.append(row)
        self.rows = [r for r in self.rows if int(r["epoch"]) != epoch] + rows
        self._last_recorded = epoch
        self._write()
        if wandb_loggers:
            _log_histograms(wandb_loggers, trainer.global_step, epoch, names, samples)
        return rows

    def _write(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows)
        tmp.replace(self.path)


def _log_histograms(
    loggers: list[WandbLogger],
    step: int,
    epoch: int,
    names: list[str],
    samples: dict[str, list[torch.Tensor | None]],
) -> None:
    """One W&B log call per recorded moment: a histogram per layer and kind of value."""
    import wandb  # only reached when a WandbLogger exists, so wandb is installed and a run is open

    data: dict[str, Any] = {"layer_stats/epoch": epoch, "trainer/global_step": step}
    for kind, values in samples.items():
        for name, value in zip(names, values, strict=True):
            if value is not None and value.numel() and bool(torch.isfinite(value).all()):
                data[f"layer_stats/{name}/{kind}"] = wandb.Histogram(value.numpy())
    for lg in loggers:
        lg.experiment.log(data)


def linear_layers(module: nn.Module) -> list[tuple[str, nn.Linear]]:
    """The model's nn.Linear layers with their qualified names, in registration (forward) order."""
    return [(name, m) for name, m in module.named_modules() if isinstance(m, nn.Linear)]


def _loss(module: nn.Module, output: torch.Tensor, batch: tuple[torch.Tensor, ...]) -> torch.Tensor | None:
    """The training loss of the book's models: cross-entropy for class labels, else squared error."""
    if hasattr(module, "targets"):  # regressors and autoencoders say what they predict
        target = module.targets(batch)
        return F.mse_loss(output.view_as(target), target)
    if len(batch) > 1 and not torch.is_floating_point(batch[1]):
        return F.cross_entropy(output, batch[1])
    if len(batch) > 1:
        return F.mse_loss(output.view_as(batch[1]), batch[1])
    return None


def compute_layer_statistics(
    module: nn.Module, batch: tuple[torch.Tensor, ...], samples: bool = False
) -> tuple[dict[str, torch.Tensor], dict[str, list[torch.Tensor | None]], list[str], list[tuple[int, int]]]:
    """Statistics of every linear layer of `module` on `batch` (inputs first, targets second).

    Returns (stats, samples, names, shapes): stats maps each column of COLUMNS after `fan_out` to a
    CPU tensor with one value per layer (NaN where undefined); samples holds CPU copies of the values
    behind each histogram (pre, post, out_grad, weight_grad) per layer, subsampled to at most 10,000
    (only when `samples` is true: otherwise empty).
    The module's training mode is restored, its parameters' .grad untouched.
    """
    layers = linear_layers(module)
    if not layers:
        raise ValueError(f"{type(module).__name__} has no nn.Linear layers to record")
    names = [name for name, _ in layers]
    shapes = [(m.in_features, m.out_features) for _, m in layers]
    pre: list[torch.Tensor | None] = [None] * len(layers)
    inputs: list[torch.Tensor | None] = [None] * len(layers)
    handles = []
    for i, (_, layer) in enumerate(layers):
        handles.append(layer.register_forward_pre_hook(lambda m, args, i=i: inputs.__setitem__(i, args[0])))
        handles.append(layer.register_forward_hook(lambda m, args, out, i=i: pre.__setitem__(i, out)))
    was_training = module.training
    module.eval()
    try:
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            output = module(batch[0])
            loss = _loss(module, output, batch)
            weights = [layer.weight for _, layer in layers]
            wanted = [*weights, *pre]
            if loss is not None and loss.requires_grad:
                grads = torch.autograd.grad(loss, wanted, allow_unused=True)
            else:
                grads = (None,) * len(wanted)
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    weight_grads, out_grads = list(grads[: len(layers)]), list(grads[len(layers) :])
    post = [*inputs[1:], None]  # what the next linear layer receives
    nan = torch.tensor(float("nan"), device=weights[0].device)

    def mean_std(t: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if t is None:
            return nan, nan
        t = t.detach().float()
        return t.mean(), t.std(unbiased=False)

    columns: dict[str, list[torch.Tensor]] = {}
    for kind, tensors in (
        ("pre", pre),
        ("post", post),
        ("out_grad", out_grads),
        ("weight_grad", weight_grads),
    ):
        pairs = [mean_std(t) for t in tensors]
        columns[f"{kind}_mean"] = [p[0] for p in pairs]
        columns[f"{kind}_std"] = [p[1] for p in pairs]
    with torch.no_grad():
        columns["weight_std"] = [w.float().std(unbiased=False) for w in weights]
        columns["weight_unit_spread"] = [w.float().std(dim=0, unbiased=False).mean() for w in weights]
        columns["pre_unit_spread"] = [_unit_spread(t.detach().float()) for t in pre]
        columns["post_unit_spread"] = [nan if t is None else _unit_spread(t.detach().float()) for t in post]
        columns["post_saturated"] = [
            nan if t is None else (t.detach().abs() > 0.99).float().mean() for t in post
        ]
        columns["post_zero"] = [nan if t is None else (t.detach() == 0).float().mean() for t in post]
        columns["batch_loss"] = [loss.detach() if loss is not None else nan] * len(layers)
        # One copy to the host for every number of this moment.
        table = torch.stack([torch.stack(v) for v in columns.values()]).cpu()
    stats = dict(zip(columns, table, strict=True))
    kept: dict[str, list[torch.Tensor | None]] = {}
    if samples:
        kinds = (("pre", pre), ("post", post), ("out_grad", out_grads), ("weight_grad", weight_grads))
        kept = {kind: [None if t is None else _sample(t) for t in tensors] for kind, tensors in kinds}
    return stats, kept, names, shapes


def _sample(t: torch.Tensor, limit: int = 10_000) -> torch.Tensor:
    flat = t.detach().float().reshape(-1)
    if flat.numel() > limit:
        flat = flat[:: math.ceil(flat.numel() / limit)]
    return flat.cpu()


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def read_layer_stats(directory: Path):
    """A run's layer_stats.csv as a DataFrame (one row per recorded epoch and linear layer)."""
    import pandas as pd

    return pd.read_csv(Path(directory) / FILENAME)
