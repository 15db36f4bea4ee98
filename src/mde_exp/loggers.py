"""Loggers of a run: the run store's resumable CSV, and W&B (online where configured, else offline)."""

import csv
import logging
import netrc
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from lightning.pytorch import Callback
from lightning.pytorch.loggers import CSVLogger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

log = logging.getLogger(__name__)


class _ResumingWriter(ExperimentWriter):
    """Lightning's CSV writer, except that a resumed run keeps the rows logged before the training step
    its checkpoint was taken at (the rows after it will be logged again)."""

    def __init__(self, log_dir: str, keep_before_step: int | None) -> None:
        self.keep_before_step = keep_before_step
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        if self.keep_before_step is None:
            path.unlink()
            return
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            keys = list(reader.fieldnames or [])
            rows = [r for r in reader if r.get("step") and float(r["step"]) < self.keep_before_step]
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
        self.metrics_keys = keys


class StoreCSVLogger(CSVLogger):
    """Writes metrics.csv straight into the run folder, flushing it as each row arrives and around every
    checkpoint, so that the metrics on disk cover the checkpoint a resumed run starts from.

    Lightning logs an epoch's reduced training metrics (train/loss_epoch, train/acc) just after the
    epoch-end checkpoint is written; the checkpoint holds that row too (resume_state.ExactResume), and a
    run resumed after a kill in between writes it (`has_row` says whether it is there).
    """

    def __init__(self, run_dir: Path, keep_before_step: int | None = None) -> None:
        super().__init__(save_dir=str(run_dir), name="", version="")
        self.keep_before_step = keep_before_step

    @property
    @rank_zero_experiment  # under DDP only the first process opens (and, resuming, rewrites) metrics.csv
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._experiment = _ResumingWriter(self.log_dir, self.keep_before_step)
        return self._experiment

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        super().log_metrics(metrics, step)
        self.save()  # every row goes to disk as it is logged (an append, every log_every_n_steps at most)

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        self.save()

    def has_row(self, step: int, metrics: dict[str, Any]) -> bool:
        """Whether metrics.csv (as written so far) has a row at `step` with a value for each of `metrics`."""
        self.save()
        path = Path(self.log_dir) / ExperimentWriter.NAME_METRICS_FILE
        if not path.is_file():
            return False
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                if row.get("step") and int(float(row["step"])) == step and all(row.get(k) for k in metrics):
                    return True
        return False


class FlushMetricsBeforeCheckpoint(Callback):
    """Writes the run's metrics.csv while each checkpoint is being built, before its file appears, so a
    run killed just after a checkpoint still has every row that checkpoint's epochs logged (the
    logger's own flush, after the save, comes too late for a kill in between)."""

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, StoreCSVLogger):
                logger.save()


def wandb_credentials_configured() -> bool:
    """Whether W&B has an API key here (environment or netrc), so that online logging can work."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc().authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


WANDB_MODES = ("auto", "online", "offline", "disabled")


def resolve_wandb_mode(requested: str = "auto") -> str:
    """WANDB_MODE from the environment wins; `auto` means online with credentials, else offline."""
    env = os.environ.get("WANDB_MODE")
    if env:
        return {"dryrun": "offline", "run": "online"}.get(env, env)
    if requested not in WANDB_MODES:
        raise ValueError(f"unknown W&B mode {requested!r}; choose one of: {', '.join(WANDB_MODES)}")
    if requested != "auto":
        return requested
    return "online" if wandb_credentials_configured() else "offline"


def wandb_tags(book_section: Any, figure_id: Any, extra: Any = ()) -> list[str]:
    """A run's W&B tags: `chapter-<n>` and `section-<s>` from its book section, its figure id, then the
    config's own `tags` (a recipe adds its `chapter-<n>` and id there), each once, in that order."""
    section = str(book_section) if book_section not in (None, "") else None
    chapter = section and section.split(".")[0].strip()
    tags = [
        chapter and chapter.isdigit() and f"chapter-{chapter}",
        section and f"section-{section}",
        figure_id,
    ]
    return list(dict.fromkeys(str(t) for t in [*tags, *(extra or ())] if t))


# Why online W&B failed in this process (None: it has not): later runs go offline without trying again.
_online_failure: str | None = None


def wandb_logger(
    save_dir: str,
    id: str,
    name: str,
    group: str,
    job_type: str,
    tags: list[str],
    config: dict[str, Any],
    project: str = "mde_exp",
    entity: str | None = None,
    mode: str = "auto",
    init_timeout: float = 30.0,
) -> WandbLogger:
    """Lightning's WandbLogger for one run of the store: a stable id (so a resumed run continues the
    same W&B run), grouped by experiment, tagged, with the resolved config in full.

    The W&B run starts here. When online W&B fails (no credentials, the service unreachable within
    `init_timeout` seconds), the run goes on with W&B offline beside the CSV (`make wandb-sync` uploads
    it later): a warning says so once per process, and later runs go offline straight away."""
    global _online_failure
    kwargs = dict(save_dir=save_dir, id=id, name=name, project=project, entity=entity, group=group,
                  job_type=job_type, tags=tags, config=config)  # fmt: skip
    resolved = resolve_wandb_mode(mode)
    if resolved == "online" and _online_failure is None:
        logger = WandbLogger(**kwargs, mode="online", settings=_wandb_settings(init_timeout))
        try:
            logger.experiment  # noqa: B018 (starts the W&B run)
            return logger
        except Exception as err:  # wandb raises UsageError (no API key), CommError (unreachable), ...
            _online_failure = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            log.warning(
                "W&B online logging failed (%s); the run goes on with W&B offline in the run folder "
                "(upload later with `make wandb-sync`), and so will later runs of this command",
                _online_failure,
            )
            _finish_failed_wandb()
    if resolved == "online":
        resolved = "offline"
    logger = WandbLogger(**kwargs, mode=resolved)
    logger.fallback = _online_failure if mode != "offline" and resolved == "offline" else None
    return logger


def online_failure() -> str | None:
    """Why online W&B failed in this process, or None."""
    return _online_failure


def _wandb_settings(init_timeout: float) -> Any:
    import wandb

    return wandb.Settings(init_timeout=float(init_timeout))


def _finish_failed_wandb() -> None:
    """Clear whatever a failed wandb.init left behind (its service still holds the run id), so that the
    offline run can start under the same id."""
    import wandb

    try:
        if wandb.run is not None:
            wandb.finish(exit_code=1, quiet=True)
        wandb.teardown()
    except Exception:  # nothing more to clean up
        pass
