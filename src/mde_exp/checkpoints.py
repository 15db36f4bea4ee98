"""A run's checkpoints: written atomically beside the previous good one, loaded weights-only, and
checked before a resume, so that a corrupt or truncated file costs at most the work since the one before.

Every checkpoint is written to `<name>.partial` in its own folder, flushed to disk and renamed into
place; the file it replaces is kept as `previous.ckpt` (for `last.ckpt`). A kill at any moment leaves
at least one whole checkpoint: before the rename both old files are intact, after it both new ones are.
Before a run resumes, `choose_resume` loads last.ckpt, then previous.ckpt, with `weights_only=True`
and checks that Lightning can resume from it; an unusable file is reported once, moved aside as
`<name>.corrupt`, and the next one is tried, or the run starts from scratch when none is left.
"""

import logging
import os
import pickle
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.cloud_io import _is_local_file_protocol
from lightning.pytorch.callbacks import ModelCheckpoint

log = logging.getLogger(__name__)

LAST = "last.ckpt"
PREVIOUS = "previous.ckpt"
# What Lightning's Trainer.fit(ckpt_path=...) reads to resume training where the checkpoint left it.
RESUME_KEYS = ("state_dict", "epoch", "global_step", "loops", "optimizer_states")


class UnusableCheckpoint(ValueError):
    """A checkpoint file that cannot be resumed from; the message says why in a few words."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch.save / torch.load checkpoint IO, except that a local file is written beside its
    target and renamed into place (never half-written), the file it replaces is kept under the name
    `keep_previous` gives it, and loading defaults to `weights_only=True`."""

    def __init__(self, keep_previous: Mapping[str, str] | None = None) -> None:
        self.keep_previous = dict({LAST: PREVIOUS} if keep_previous is None else keep_previous)

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None or not _is_local_file_protocol(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        previous = self.keep_previous.get(path.name)
        if previous and path.is_file():
            os.replace(path, path.with_name(previous))
        os.replace(partial, path)

    def load_checkpoint(
        self,
        path: Any,
        map_location: Callable | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        return super().load_checkpoint(path, map_location, True if weights_only is None else weights_only)


def _load_failure(path: Path, err: Exception) -> str:
    """Why `torch.load` could not read `path`, in a few words."""
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive, its index at the end
        with path.open("rb") as f:
            starts_as_archive = f.read(4) == b"PK\x03\x04"
        return "truncated (incomplete archive)" if starts_as_archive else "not a checkpoint (garbage bytes)"
    if isinstance(err, pickle.UnpicklingError) and "weights_only" in str(err).lower():
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        detail = f": {found.group(1)}" if found else ""
        return f"refused by weights_only loading (it holds an arbitrary Python object{detail})"
    return f"unreadable ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"


def verify(path: Path) -> dict[str, Any]:
    """Load checkpoint `path` on the CPU with `weights_only=True` and check that Lightning can resume
    from it; returns it, or raises UnusableCheckpoint saying why not."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise UnusableCheckpoint("empty file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several kinds (RuntimeError, UnpicklingError, EOFError, ...)
        raise UnusableCheckpoint(_load_failure(path, err)) from err
    if not isinstance(checkpoint, dict):
        raise UnusableCheckpoint(f"not a Lightning checkpoint (holds a {type(checkpoint).__name__})")
    missing = [key for key in RESUME_KEYS if key not in checkpoint]
    if missing:
        raise UnusableCheckpoint(f"missing {', '.join(missing)}")
    return checkpoint


def position(checkpoint: Mapping[str, Any]) -> tuple[int, int]:
    """Where a loaded checkpoint resumes: (epochs completed, training steps taken). One from the middle
    of an epoch has not completed that epoch (its batches so far are in the loops' state)."""
    try:
        fit = checkpoint["loops"]["fit_loop"]
        last_batch_done = fit["epoch_loop.batch_progress"]["is_last_batch"]
        done = fit["epoch_progress"]["current"]["completed"] + int(last_batch_done)
    except (KeyError, TypeError):
        done = int(checkpoint["epoch"]) + 1
    return int(done), int(checkpoint["global_step"])


@dataclass
class ResumePoint:
    """The checkpoint a run resumes from (None: from scratch), where it resumes (epochs completed,
    steps taken), and the files passed over, with why."""

    path: Path | None = None
    skipped: list[str] = field(default_factory=list)
    epochs: int | None = None
    step: int | None = None

    def record(self) -> dict[str, Any]:
        """What summary.json says about it: {"from": "previous.ckpt" or "scratch", "skipped": [...]}."""
        return {"from": self.path.name if self.path else "scratch", "skipped": list(self.skipped)}


def choose_resume(checkpoint_dir: Path, candidates: tuple[str, ...] = (LAST, PREVIOUS)) -> ResumePoint:
    """The newest usable checkpoint among `candidates` in `checkpoint_dir`. Each unusable one is
    reported in a warning and moved aside as `<name>.corrupt`, so that it is neither tried again nor
    kept as the previous good checkpoint; when any was skipped, a warning says where the run resumes."""
    point = ResumePoint()
    for name in candidates:
        path = Path(checkpoint_dir) / name
        if not path.is_file():
            continue
        try:
            checkpoint = verify(path)
        except UnusableCheckpoint as err:
            aside = path.with_name(name + ".corrupt")
            os.replace(path, aside)
            log.warning("checkpoint %s is unusable: %s; moved aside to %s", path, err, aside.name)
            point.skipped.append(f"{name}: {err}")
            continue
        point.path = path
        point.epochs, point.step = position(checkpoint)
        break
    if point.skipped:
        if point.path:
            log.warning("resuming from the previous good checkpoint %s", point.path)
        else:
            log.warning("no usable checkpoint left in %s: training from scratch", checkpoint_dir)
    return point


class StepCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint every `every_n_train_steps` steps, except after an epoch's last batch:
    a run resumed from there would skip that epoch's validation (Lightning counts the epoch as done),
    and the epoch-end checkpoint follows a moment later anyway."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
