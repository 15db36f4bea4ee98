"""Vectorised ensembles: N copies of a small model trained as one with torch.func (functional_call +
vmap), each member written to the run store as its own run, as if it had been trained alone.

`ensemble.size=N` makes N member configurations: member i is the run's configuration with seed
`seed + i` (or `ensemble.seeds[i]`) and, where `ensemble.vary` names a key, that key set to
`ensemble.values[i]`, and with the ensemble section back at its defaults (it is left out of the run
hash too), so a member's folder, config.yaml and hash are those of the plain run, and a later plain
run of that configuration finds it finished.

How it trains (DESIGN.md, Performance): every member is built exactly as `run.execute` builds it (seeded,
data module, model, its own optimiser and schedule from `configure_optimizers`), so it starts from the
weights a plain run starts from. The parameters are stacked once, [N, ...] (stack_module_state), and
the shared architecture runs once a step with `vmap(functional_call(...), randomness="different")`
over [N, B, ...] batches (member i gets the batch its own data loader yields, seeded by its split seed
and the epoch as in a plain run); the N mean losses are summed (member i's gradient is its own loss's
gradient). Each member's own parameters are views of its rows of the stacked storage, with its rows of
the stacked gradient as their gradients, and its own optimiser steps them in place: per-member learning
rates, momenta and schedules are then exact for any optimiser whose update of a tensor reads only that
tensor's gradient and state (SGD, Adam, AdamW, Adagrad, RMSprop, the book's momentum), since a member's
tensors sit in their own optimiser and nothing is shared; those that couple parameters (L-BFGS, line
search, Newton) are refused. Dropout masks differ per member (vmap's "different" randomness), so with
dropout a member matches its plain run in distribution, not mask for mask. Batch norm's running
statistics are per-member stacked buffers updated in place inside vmap (the torch.func way for batched
buffers).

Each member's metrics are kept per step and epoch and written after training through the run's own
loggers (metrics.csv rows at the steps Lightning logs them, W&B offline/online, hparams.yaml), its
checkpoints/last.ckpt in Lightning's format (store.load_model loads the plain model), and its
summary.json as run.execute writes it. Training is not checkpointed midway: an interrupted ensemble
starts again from scratch.
"""

import copy
import logging
import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from lightning.pytorch.loggers import WandbLogger
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from mde_exp import checkpoints, store
from mde_exp.data.batches import TensorBatches
from mde_exp.errors import ConfigError
from mde_exp.models.base import EVAL_STAGES, ClassifierModule
from mde_exp.validate import check_config

log = logging.getLogger(__name__)

# Models whose training step is the shared classifier/regressor step on `self.net`.
SUPPORTED_MODELS = (
    "mde_exp.models.mlp.MLPClassifier",
    "mde_exp.models.logistic.SoftmaxRegression",
    "mde_exp.models.linear.LinearRegression",
)
# Optimisers whose update of each tensor reads only that tensor's gradient and state.
ELEMENTWISE_OPTIMIZERS = (
    "torch.optim.SGD",
    "torch.optim.Adam",
    "torch.optim.AdamW",
    "torch.optim.Adagrad",
    "torch.optim.RMSprop",
    "mde_exp.optim.BookMomentum",
)
# Trainer keys the ensemble's loop honours (the rest of Lightning's Trainer is not reproduced).
TRAINER_KEYS = (
    "_target_",
    "accelerator",
    "devices",
    "max_epochs",
    "log_every_n_steps",
    "enable_model_summary",
)
DEFAULTS = {"size": 1, "seeds": None, "vary": None, "values": None}
CHECK_EVERY = 50  # steps between divergence checks, as callbacks.DivergenceDetector


def size(cfg: DictConfig) -> int:
    """The ensemble size the configuration asks for (1: an ordinary run)."""
    return int((cfg.get("ensemble") or {}).get("size", 1) or 1)


def member_configs(cfg: DictConfig) -> list[DictConfig]:
    """The plain run configuration of each member: its seed, its value of the varied key, and the
    ensemble section at its defaults."""
    ens = cfg.ensemble
    n = int(ens.size)
    vary = ens.get("vary")
    seeds = list(ens.seeds) if ens.get("seeds") is not None else [
        int(cfg.seed) + (0 if vary else i) for i in range(n)
    ]  # fmt: skip
    members = []
    for i in range(n):
        member = copy.deepcopy(cfg)
        member.ensemble = dict(DEFAULTS)
        member.seed = int(seeds[i])
        if vary:
            OmegaConf.update(member, vary, ens["values"][i], merge=False)
        members.append(member)
    dirs = [store.run_dir(m) for m in members]
    if len(set(dirs)) < n:
        raise ConfigError(
            "ensemble members must differ (by seed or by ensemble.values); some are the same run"
        )
    return members


def check_supported(cfg: DictConfig) -> None:
    """Raise ConfigError, before any training, where the ensemble cannot reproduce separate runs."""
    target = cfg.model.get("_target_")
    if target not in SUPPORTED_MODELS:
        raise ConfigError(
            f"ensemble.size>1 supports the models {', '.join(m.rsplit('.', 1)[1] for m in SUPPORTED_MODELS)};"
            f" {target} cannot be trained as a vectorised ensemble (run its seeds as a sweep instead)"
        )
    if cfg.optimizer.get("_target_") not in ELEMENTWISE_OPTIMIZERS:
        raise ConfigError(
            f"ensemble.size>1 needs an optimiser that updates each tensor on its own (sgd, momentum, "
            f"nesterov, adam, adamw, adagrad, rmsprop, book_momentum), not {cfg.optimizer.get('_target_')}"
        )
    extra = sorted(set(cfg.trainer) - set(TRAINER_KEYS))
    if extra:
        raise ConfigError(f"ensemble.size>1 does not reproduce the trainer settings {', '.join(extra)}")
    if cfg.get("callbacks"):
        raise ConfigError("ensemble.size>1 runs no callbacks; use callbacks=none")
    if cfg.data.get("augment", "none") != "none":
        raise ConfigError("ensemble.size>1 does not reproduce data augmentation; use data.augment=none")
    if cfg.store.get("checkpoint_every_n_steps"):
        raise ConfigError(
            "ensemble.size>1 checkpoints at the end only; leave store.checkpoint_every_n_steps null"
        )


class _Member:
    """One member: its configuration, folder, model, optimiser, schedule, loaders and records."""

    def __init__(self, cfg: DictConfig, device: torch.device) -> None:
        from mde_exp.run import _build_model  # the plain run's own construction

        self.cfg = cfg
        self.dir = store.run_dir(cfg)
        L.seed_everything(int(cfg.seed), workers=True, verbose=False)
        self.datamodule = instantiate(cfg.data)
        self.model = _build_model(cfg, self.datamodule).to(device)
        self.datamodule.setup("fit")
        self.datamodule.setup("test")
        self.epoch = 0
        self.train = self._loader(self.datamodule.train_dataloader(), device)
        self.evals = [self._loader(b, device) for b in self.datamodule.val_dataloader()]
        self.test = self._loader(self.datamodule.test_dataloader(), device)
        self.rows: list[tuple[int, dict[str, float]]] = []
        self.diverged_at: tuple[int, int] | None = None  # (step, epoch)
        self.metrics: dict[str, float] = {}

    def configure(self) -> None:
        """The member's optimiser and schedule, as the plain run's (on its parameters as they are now)."""
        configured = self.model.configure_optimizers()
        if isinstance(configured, dict):
            self.optimizer, self.scheduler = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
        else:
            self.optimizer, self.scheduler = configured, None

    def _loader(self, batches: Any, device: torch.device) -> TensorBatches:
        if not isinstance(batches, TensorBatches):
            raise ConfigError(
                f"ensemble.size>1 needs in-memory data (TensorBatches); {self.cfg.data._target_}"
            )
        batches.tensors = tuple(t.to(device) for t in batches.tensors)
        batches.epoch = lambda: self.epoch
        return batches

    @property
    def active(self) -> bool:
        return self.diverged_at is None


def _stack(batches: list[tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, ...]:
    try:
        return tuple(torch.stack(parts) for parts in zip(*batches, strict=True))
    except RuntimeError as err:
        raise ConfigError(
            f"ensemble members' batches differ in shape ({err}); their data must match"
        ) from None


class VectorisedModel:
    """The members' networks as one function of stacked parameters and buffers (torch.func).

    Each parameter is held once, stacked [N, ...] (stack_module_state) as a leaf that the vmapped
    forward uses directly; member i's own parameter becomes a view of row i of that storage, and after
    each backward its gradient is row i of the stacked gradient (`share_grads`). So each member's own
    optimiser (with its own learning rate) updates the stacked weights in place, and no copy is made per
    step. `unshare` gives the members their own storage again before their weights are saved.
    """

    def __init__(self, nets: list[nn.Module]) -> None:
        described = {repr(n) for n in nets}
        if len(described) > 1:
            raise ConfigError("ensemble members must share one architecture; vary a seed or an optimiser key")
        # Per-member buffers (batch-norm statistics) stay stacked and are updated in place under vmap.
        self.stacked, self.buffers = stack_module_state(nets)
        for name, stacked in self.stacked.items():
            owner = nets[0].get_submodule(name.rpartition(".")[0])
            if isinstance(owner, nn.Linear) and stacked.dim() == 3:
                # Laid out as the batched matmul's weight gradient comes ([N, in, out] transposed), so
                # that backward hands the gradient over without a transposing copy (~30% of a CPU step).
                n, out_features, in_features = stacked.shape
                laid_out = stacked.new_empty(n, in_features, out_features).transpose(1, 2).copy_(stacked)
                self.stacked[name] = laid_out.detach().requires_grad_(stacked.requires_grad)
        self.nets = nets
        self.members: list[dict[str, nn.Parameter]] = []
        for i, net in enumerate(nets):
            own = {}
            for name, param in list(net.named_parameters()):
                owner, _, leaf = name.rpartition(".")
                view = nn.Parameter(self.stacked[name].detach()[i], requires_grad=param.requires_grad)
                net.get_submodule(owner)._parameters[leaf] = view
                own[name] = view
            self.members.append(own)
        self.base = copy.deepcopy(nets[0]).to("meta")

    def __call__(self, x: torch.Tensor, train: bool) -> torch.Tensor:
        self.base.train(train)

        def one(params: dict, buffers: dict, xi: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, (params, buffers), (xi,))

        return vmap(one, randomness="different")(self.stacked, self.buffers, x)

    def share_grads(self) -> None:
        """Give each member's parameters their rows of the stacked gradients, and clear those."""
        for name, stacked in self.stacked.items():
            for i, own in enumerate(self.members):
                own[name].grad = None if stacked.grad is None else stacked.grad[i]
            stacked.grad = None

    def write_back(self) -> None:
        """Copy the stacked buffers into each member's module."""
        for i, net in enumerate(self.nets):
            for name, buf in net.named_buffers():
                buf.copy_(self.buffers[name][i])

    def unshare(self) -> None:
        """Give each member's parameters their own storage (a saved view would hold every member's)."""
        for own in self.members:
            for param in own.values():
                param.data = param.data.clone(memory_format=torch.contiguous_format)


def _losses(model: Any, out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-member mean loss [N], and per-member sum of the metric numerator [N] (correct predictions for
    a classifier, squared error for a regressor)."""
    if isinstance(model, ClassifierModule):
        loss = vmap(F.cross_entropy)(out, y)
        return loss, (out.argmax(-1) == y).sum(-1)
    pred = out.view_as(y)
    return vmap(F.mse_loss)(pred, y), ((pred - y) ** 2).flatten(1).sum(-1)


def _metric(model: Any) -> str:
    return "acc" if isinstance(model, ClassifierModule) else "mse"


def _evaluate(vec: VectorisedModel, members: list[_Member], which: str) -> list[dict[str, float]]:
    """Per-member loss (batch-size-weighted mean, as Lightning's epoch mean) and metric on each split of
    `which` ("evals": the stages of EVAL_STAGES, or "test")."""
    stages = EVAL_STAGES if which == "evals" else ("test",)
    results = [{} for _ in members]
    model = members[0].model
    with torch.no_grad():
        for k, stage in enumerate(stages):
            loaders = [m.evals[k] if which == "evals" else m.test for m in members]
            loss_sum, metric_sum, count, elements = 0.0, 0.0, 0, 0
            for batches in zip(*loaders, strict=True):
                x, y = _stack(list(batches))[:2]
                loss, metric = _losses(model, vec(x, train=False), y)
                loss_sum = loss_sum + loss * y.shape[1]
                metric_sum = metric_sum + metric
                count += y.shape[1]
                elements += y[0].numel()
            divisor = count if isinstance(model, ClassifierModule) else elements
            losses, metrics = (loss_sum / count).tolist(), (metric_sum / divisor).tolist()
            for i, (lo, me) in enumerate(zip(losses, metrics, strict=True)):
                results[i].update({f"{stage}/loss": lo, f"{stage}/{_metric(model)}": me})
    return results


def _device(cfg: DictConfig) -> torch.device:
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError(f"trainer.accelerator={accelerator}: no GPU here")
        return torch.device("cuda")
    return torch.device("cpu")


def train(members: list[_Member], max_epochs: int, log_every: int) -> int:
    """Train the members together; returns the number of training steps taken."""
    from mde_exp.run import log_interval  # the plain run's own log interval

    vec = VectorisedModel([m.model.net for m in members])
    for m in members:
        m.configure()
    model0 = members[0].model
    interval = log_interval(log_every, len(members[0].train))
    step = 0
    for epoch in range(max_epochs):
        if not any(m.active for m in members):
            break
        for m in members:
            m.epoch = epoch
        loss_sum, metric_sum, count, elements = 0.0, 0.0, 0, 0
        for batches in zip(*(m.train for m in members), strict=True):
            x, y = _stack(list(batches))[:2]
            out = vec(x, train=True)
            loss, metric = _losses(model0, out, y)
            loss.sum().backward()
            vec.share_grads()
            for m in members:
                if m.active:
                    m.optimizer.step()
                m.optimizer.zero_grad(set_to_none=True)
            loss = loss.detach()
            loss_sum = loss_sum + loss * y.shape[1]
            metric_sum = metric_sum + metric.detach()
            count += y.shape[1]
            elements += y[0].numel()
            if (step + 1) % interval == 0:
                for m, value in zip(members, loss.tolist(), strict=True):
                    if m.active:
                        m.rows.append((step, {"train/loss_step": value, "epoch": epoch}))
            step += 1
            if step % CHECK_EVERY == 0:
                _check_divergence(members, loss.tolist(), step, epoch)
        vec.write_back()
        evals = _evaluate(vec, members, "evals")
        divisor = count if isinstance(model0, ClassifierModule) else elements
        train_loss, train_metric = (loss_sum / count).tolist(), (metric_sum / divisor).tolist()
        for i, m in enumerate(members):
            if not m.active:
                continue
            m.rows.append((step - 1, {**evals[i], "epoch": epoch}))
            train_row = {f"train/{_metric(model0)}": train_metric[i], "train/loss_epoch": train_loss[i]}
            m.rows.append((step - 1, {**train_row, "epoch": epoch}))
            m.metrics = {**evals[i], f"train/{_metric(model0)}": train_metric[i], "train/loss": train_loss[i]}
            if m.scheduler is not None:
                m.scheduler.step()
        _check_divergence(members, train_loss, step, epoch)
        log.info("ensemble epoch %d: train loss %s", epoch, ", ".join(f"{v:.4f}" for v in train_loss))
        for m in members:
            if m.active:
                m.epochs_done, m.steps_done = epoch + 1, step
    tests = _evaluate(vec, members, "test")
    for i, m in enumerate(members):
        if m.active:
            m.rows.append((step, {**tests[i], "epoch": max_epochs}))
            m.metrics.update(tests[i])
    vec.unshare()
    return step


def _check_divergence(members: list[_Member], losses: list[float], step: int, epoch: int) -> None:
    for m, value in zip(members, losses, strict=True):
        if m.active and not math.isfinite(value):
            m.diverged_at = (step, epoch)
            m.epochs_done, m.steps_done = epoch, step


def _checkpoint(m: _Member) -> dict[str, Any]:
    """checkpoints/last.ckpt as Lightning writes it at the last epoch's end (weights, optimiser and
    schedule state, hyper-parameters, loop counters)."""
    steps, epochs, per_epoch = m.steps_done, m.epochs_done, len(m.train)
    progress = {"ready": steps, "completed": steps, "started": steps, "processed": steps}
    current = {k: per_epoch for k in progress}
    optim = {
        "step": {
            "total": {"ready": steps, "completed": steps},
            "current": {"ready": per_epoch, "completed": per_epoch},
        },
        "zero_grad": {
            "total": {k: steps for k in ("ready", "completed", "started")},
            "current": {k: per_epoch for k in ("ready", "completed", "started")},
        },
    }
    fit_loop = {
        "state_dict": {},
        "epoch_loop.state_dict": {"_batches_that_stepped": steps},
        "epoch_loop.batch_progress": {"total": progress, "current": current, "is_last_batch": True},
        "epoch_loop.automatic_optimization.state_dict": {},
        "epoch_loop.automatic_optimization.optim_progress": {"optimizer": optim},
        "epoch_progress": {
            k: {"ready": epochs, "completed": epochs - 1, "started": epochs, "processed": epochs}
            for k in ("total", "current")
        },
    }
    return {
        "epoch": epochs - 1,
        "global_step": steps,
        "pytorch-lightning_version": L.__version__,
        "state_dict": m.model.state_dict(),
        "loops": {"fit_loop": fit_loop},
        "callbacks": {},
        "optimizer_states": [m.optimizer.state_dict()],
        "lr_schedulers": [m.scheduler.state_dict()] if m.scheduler is not None else [],
        "hparams_name": None,
        "hyper_parameters": dict(m.model.hparams),
    }


def _record(
    m: _Member, started: float, wall: float, n: int, index: int, previous: dict[str, Any] | None
) -> dict[str, Any]:
    """Write the member's run folder as run.execute would; returns its summary."""
    from mde_exp.run import _build_loggers, _finish_wandb, start_summary

    cfg = m.cfg
    m.dir.mkdir(parents=True, exist_ok=True)
    (m.dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    ckpt = m.dir / "checkpoints" / checkpoints.LAST
    checkpoints.AtomicCheckpointIO().save_checkpoint(_checkpoint(m), ckpt)
    status = "finished" if m.active else "diverged"
    summary = start_summary(cfg, previous, started)
    summary.update(
        status=status,
        wall_time_s=round(wall / n, 3),  # its share of the ensemble's time
        ensemble={"size": n, "member": index, "wall_time_s": round(wall, 3)},
        diverged_at_step=m.diverged_at[0] if m.diverged_at else None,
        diverged_at_epoch=m.diverged_at[1] if m.diverged_at else None,
        epochs=int(cfg.trainer.max_epochs) if m.active else m.epochs_done,
        global_step=m.steps_done,
        metrics=m.metrics,
        parameters=sum(p.numel() for p in m.model.parameters() if p.requires_grad),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    loggers = _build_loggers(cfg, m.dir, None)
    try:
        for lg in loggers:
            lg.log_hyperparams(m.model.hparams)
            for step, row in m.rows:
                lg.log_metrics(row, step=step)
            lg.finalize("success")
            if isinstance(lg, WandbLogger) and lg._experiment is not None:
                summary["wandb"].update(
                    id=lg.experiment.id, group=str(cfg.experiment), dir=str(Path(lg.experiment.dir).parent)
                )
    finally:
        store.write_json(m.dir / "summary.json", summary)
        _finish_wandb(status)
    return summary


def execute_ensemble(cfg: DictConfig) -> list[Any]:
    """Train the members of `cfg`'s ensemble as one vectorised model and store each as its own run;
    members already finished in the store are skipped (read back). Returns one run.RunResult a member."""
    from mde_exp.run import RunResult

    check_supported(cfg)
    members_cfg = member_configs(cfg)
    # The full check (it builds data, model, optimiser and trainer) once, and again for each member whose
    # configuration differs from the first's by more than its seed (whose range _check_ensemble checked).
    check_config(members_cfg[0])
    for m in members_cfg[1:]:
        if store.config_hash(m) != store.config_hash(members_cfg[0]):
            check_config(m)
    results: dict[int, Any] = {}
    todo = []
    for i, m in enumerate(members_cfg):
        directory = store.run_dir(m)
        previous = store.read_summary(directory)
        if m.store.skip_finished and store.is_complete(directory):
            results[i] = RunResult(directory, previous["status"], previous.get("metrics", {}), True, previous)
        else:
            todo.append(i)
    if todo:
        device = _device(cfg)
        started = time.time()
        members = [_Member(members_cfg[i], device) for i in todo]
        previous = [store.read_summary(m.dir) for m in members]
        train(members, int(cfg.trainer.max_epochs), int(cfg.trainer.get("log_every_n_steps", 50)))
        wall = time.time() - started
        for k, (i, m) in enumerate(zip(todo, members, strict=True)):
            summary = _record(m, started, wall, len(members), k, previous[k])
            results[i] = RunResult(m.dir, summary["status"], summary["metrics"], summary=summary)
    return [results[i] for i in range(len(members_cfg))]
