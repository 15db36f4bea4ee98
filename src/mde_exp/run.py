"""One run: seed, build data, model and trainer from the config, fit, test, and write the run folder."""

import contextlib
import logging
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from mde_exp import checkpoints, speed, store
from mde_exp.callbacks import DivergenceDetector
from mde_exp.data.base import BookDataModule
from mde_exp.distributed import is_rank_zero
from mde_exp.errors import ConfigError
from mde_exp.loggers import FlushMetricsBeforeCheckpoint, StoreCSVLogger, resolve_wandb_mode, wandb_tags
from mde_exp.preemption import Preempted, PreemptionCheckpoint
from mde_exp.resume_state import ExactResume
from mde_exp.validate import check_config, model_inputs_for

log = logging.getLogger(__name__)

VERSIONED = ("mde_exp", "torch", "lightning", "hydra-core", "torchmetrics", "wandb")


@dataclass
class RunResult:
    """What a run left in the store: its folder, status and final metrics."""

    dir: Path
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    skipped: bool = False
    summary: dict[str, Any] = field(default_factory=dict)


def _versions() -> dict[str, str]:
    return {name: version(name) for name in VERSIONED}


def _floats(metrics: dict[str, Any]) -> dict[str, float]:
    return {k.removesuffix("_epoch"): float(v) for k, v in metrics.items() if not k.endswith("_step")}


def _build_model(cfg: DictConfig, datamodule: BookDataModule) -> L.LightningModule:
    scheduler = instantiate(cfg.scheduler) if cfg.scheduler.get("_target_") else None
    return instantiate(
        cfg.model,
        **model_inputs_for(cfg.model, datamodule.model_inputs()),
        optimizer=instantiate(cfg.optimizer),
        scheduler=scheduler,
        _convert_="all",
    )


def log_interval(configured: int, batches: int) -> int:
    """Steps between step-level logs: the configured interval, or once an epoch when an epoch of
    `batches` steps is shorter (small data sets, whole-graph batches), so that the training curve still
    has points."""
    return max(1, min(configured, batches))


def _log_interval(configured: int, datamodule: BookDataModule) -> int:
    """log_interval for the training batches of `datamodule`."""
    try:
        datamodule.setup("fit")
        batches = len(datamodule.train_dataloader())
    except TypeError:  # an iterable without a length (a replay buffer's stream)
        return configured
    return log_interval(configured, batches)


def start_summary(
    cfg: DictConfig, previous: dict[str, Any] | None, started: float, resume: Any = None
) -> dict[str, Any]:
    """The summary.json a run starts with (status running): what it is, its attempt and the time of the
    attempts before it (`previous`: the folder's summary, if any), where it resumes from, the versions."""
    return {
        "status": "running",
        "experiment": str(cfg.experiment),
        "seed": int(cfg.seed),
        "config_hash": store.config_hash(cfg),
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "attempt": (previous or {}).get("attempt", 0) + 1,
        "resumed_from_epoch": None,
        "resumed_from_step": None,
        "resume": (resume or checkpoints.ResumePoint()).record(),
        "versions": _versions(),
        "git_commit": store.git_commit(),
        "wandb": {"mode": resolve_wandb_mode(cfg.logger.wandb.get("mode", "auto"))}
        if "wandb" in (cfg.logger or {})
        else None,
        "wall_time_s": (previous or {}).get("wall_time_s", 0.0),
    }


def _step_checkpoints(cfg: DictConfig, directory: Path) -> list[ModelCheckpoint]:
    """Also checkpoints/last.ckpt every `store.checkpoint_every_n_steps` training steps (null: only at
    each epoch's end), so that a kill costs at most that many steps; the resume is exact (ExactResume)."""
    every = cfg.store.get("checkpoint_every_n_steps")
    if not every:
        return []
    return [
        checkpoints.StepCheckpoint(
            dirpath=directory / "checkpoints",
            filename="last",
            every_n_train_steps=int(every),
            enable_version_counter=False,
        )
    ]


def _build_loggers(cfg: DictConfig, directory: Path, keep_before_step: int | None) -> list:
    loggers: list = [StoreCSVLogger(directory, keep_before_step)]
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for name, spec in (cfg.logger or {}).items():
        factory = instantiate(spec)
        if name == "wandb":
            tags = wandb_tags(cfg.book_section, cfg.figure_id, cfg.tags)
            loggers.append(
                factory(
                    save_dir=str(directory),
                    id=f"{cfg.experiment}-{directory.name}",
                    name=f"{cfg.experiment}/{directory.name}",
                    group=str(cfg.experiment),
                    job_type="train",
                    tags=tags,
                    config=resolved,
                )
            )
        else:
            loggers.append(factory(save_dir=str(directory), name=name, version=""))
    return loggers


def execute(cfg: DictConfig, *, progress_bar: bool = False) -> RunResult:
    """Run the configuration `cfg` through the store: skip it if finished, resume it if interrupted,
    otherwise train from scratch. Raises on bad configuration before anything is written; a run
    that fails while training is recorded as failed and the exception is raised again."""
    check_config(cfg)
    if (cfg.get("ensemble") or {}).get("size", 1) > 1:
        raise ConfigError("ensemble.size>1 trains several runs: call mde_exp.ensemble.execute_ensemble(cfg)")
    directory = store.run_dir(cfg)
    # One process at a time per run (under DDP the first process holds it for all of them).
    with store.run_lock(directory) if is_rank_zero() else contextlib.nullcontext():
        return _execute(cfg, directory, progress_bar)


def _execute(cfg: DictConfig, directory: Path, progress_bar: bool) -> RunResult:
    previous = store.read_summary(directory)
    if cfg.store.skip_finished and store.is_complete(directory):
        log.info("run %s is already %s: skipped", directory, previous["status"])
        return RunResult(
            directory, previous["status"], previous.get("metrics", {}), skipped=True, summary=previous
        )

    # The newest checkpoint that loads and can be resumed from; unusable ones are reported, set aside.
    resume = checkpoints.choose_resume(directory / "checkpoints") if cfg.store.resume else None
    resume_from = resume.path if resume else None
    directory.mkdir(parents=True, exist_ok=True)
    writer = is_rank_zero()  # under DDP only the first process writes the store (Lightning's own: rank 0)
    if writer:
        (directory / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    started = time.time()
    summary = start_summary(cfg, previous, started, resume)
    if resume_from:
        summary["resumed_from_epoch"], summary["resumed_from_step"] = resume.epochs, resume.step
    if writer:
        store.write_json(directory / "summary.json", summary)
    if resume_from:
        log.info(
            "resuming %s from %s: %d epochs and %d steps done",
            directory, resume_from.name, summary["resumed_from_epoch"], summary["resumed_from_step"],
        )  # fmt: skip

    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    divergence = DivergenceDetector()
    loggers: list = []
    try:
        datamodule = instantiate(cfg.data)
        model = _build_model(cfg, datamodule)
        speed_options = speed.apply(cfg.get("speed"), model)  # compile, matmul and Trainer precision
        loggers = _build_loggers(cfg, directory, summary["resumed_from_step"])
        callbacks = [
            FlushMetricsBeforeCheckpoint(),
            # The newest epoch's state as checkpoints/last.ckpt, rewritten at every epoch's end (with
            # no monitor, top-1 keeps the latest; Lightning 2.6 writes save_last copies only when
            # another checkpoint is saved, so save_last alone would save nothing until the end).
            ModelCheckpoint(
                dirpath=directory / "checkpoints",
                filename="last",
                every_n_epochs=1,
                save_on_train_epoch_end=True,
                enable_version_counter=False,
            ),
            *_step_checkpoints(cfg, directory),
            ExactResume(),
            PreemptionCheckpoint(directory / "checkpoints" / checkpoints.LAST),
            divergence,
            *[instantiate(spec) for spec in (cfg.callbacks or {}).values()],
        ]
        if progress_bar:
            callbacks.append(RichProgressBar())
        trainer: L.Trainer = instantiate(
            cfg.trainer,
            log_every_n_steps=_log_interval(cfg.trainer.get("log_every_n_steps", 50), datamodule),
            logger=loggers,
            callbacks=callbacks,
            default_root_dir=str(directory),
            enable_progress_bar=progress_bar,
            plugins=[checkpoints.AtomicCheckpointIO()],  # atomic writes, previous.ckpt, weights-only
            **speed_options,
        )
        trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
        fit_metrics = _floats(trainer.callback_metrics)
        test_metrics = {}
        if divergence.diverged_at_step is None:
            test_metrics = _floats(trainer.test(model, datamodule=datamodule, verbose=False)[0])
        summary.update(
            status="diverged" if divergence.diverged_at_step is not None else "finished",
            diverged_at_step=divergence.diverged_at_step,
            diverged_at_epoch=divergence.diverged_at_epoch,
            epochs=trainer.current_epoch,
            global_step=trainer.global_step,
            metrics={**fit_metrics, **test_metrics},
            parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
        )
    except BaseException as err:
        summary.update(
            status=_stopped_status(err),
            error="".join(traceback.format_exception_only(err)).strip(),
            traceback=traceback.format_exc(),
        )
        if isinstance(err, Preempted):
            summary.update(preempted_at_step=err.step, signal=signal.Signals(err.signum).name)
        raise
    finally:
        summary["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        summary["wall_time_s"] = round(summary["wall_time_s"] + time.time() - started, 3)
        for lg in loggers:
            if isinstance(lg, WandbLogger) and lg._experiment is not None:
                summary["wandb"].update(
                    id=lg.experiment.id, group=str(cfg.experiment), dir=str(Path(lg.experiment.dir).parent)
                )
                if getattr(lg, "fallback", None):  # online was asked for and failed: offline instead
                    summary["wandb"].update(mode="offline", online_failed=lg.fallback)
        if is_rank_zero():  # the rank Lightning gave this process, now that the strategy has set up
            store.write_json(directory / "summary.json", summary)
        _finish_wandb(summary["status"])
    return RunResult(directory, summary["status"], summary["metrics"], summary=summary)


def _stopped_status(err: BaseException) -> str:
    """How a run that raised ended: preempted (a signal; it resumes when run again), interrupted
    (Ctrl-C and the like), or failed (an error)."""
    if isinstance(err, Preempted | SIGTERMException):
        return "preempted"
    return "failed" if isinstance(err, Exception) else "interrupted"


def _finish_wandb(status: str) -> None:
    """End the W&B run of this job, if any, so the next job of a sweep starts its own."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        if status == "preempted":
            wandb.run.mark_preempting()  # shown as preempted in W&B; the rerun resumes the same id
        wandb.finish(exit_code=0 if status in store.FINAL_STATUSES else 1)
