"""The run store: where a run writes, how its folder is named, and how a finished run is read back.

A run's folder is `<store.root>/<experiment>/<config hash>-seed<seed>/`, so the same configuration
always lands in the same place. It holds config.yaml (resolved), metrics.csv (the source of truth),
summary.json (status finished / diverged / failed / running, final metrics, wall time, versions, git
commit), checkpoints/last.ckpt (and previous.ckpt, the one before it: see checkpoints.py) and the W&B
files.
"""

import hashlib
import json
import os
import subprocess
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from mde_exp.paths import config_dir

# Keys that do not change what a run computes, and so are left out of its hash.
# `ensemble` is how runs are trained together, not what each computes: a member hashes as its plain run.
HASH_EXCLUDE = (
    "experiment", "seed", "store", "logger", "tags", "book_section", "figure_id", "hydra", "ensemble",
)  # fmt: skip
# Keys left out of the hash while they hold these values (conf/speed/default.yaml: all speed options off),
# so that adding them kept the hashes, and run folders, of the runs stored before.
HASH_DEFAULTS = {
    "speed": {"compile": False, "compile_mode": None, "matmul_precision": "highest", "precision": None}
}
FINAL_STATUSES = ("finished", "diverged")


def config_hash(cfg: DictConfig) -> str:
    """A short hash of the resolved configuration, without the keys in HASH_EXCLUDE."""
    data = OmegaConf.to_container(cfg, resolve=True)
    for key in HASH_EXCLUDE:
        data.pop(key, None)
    for key, default in HASH_DEFAULTS.items():
        if data.get(key) == default:
            del data[key]
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def run_dir(cfg: DictConfig) -> Path:
    """The folder of the run that `cfg` describes."""
    return Path(cfg.store.root) / str(cfg.experiment) / f"{config_hash(cfg)}-seed{cfg.seed}"


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically: a reader never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)


@contextmanager
def run_lock(directory: Path):
    """Hold `directory`'s run for this process: a second process asking for the same run (two recipes of
    a parallel reproduction, two sweeps) waits here, then finds it finished and reads it back. An
    advisory lock (flock) on `<store root>/.locks/<experiment>/<name>.lock`, released when the process
    ends, even by SIGKILL."""
    import fcntl

    directory = Path(directory)
    locks = directory.parent.parent / ".locks" / directory.parent.name  # <root>/.locks/<experiment>/
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{directory.name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_summary(directory: Path) -> dict[str, Any] | None:
    """The run's summary.json, or None where the run has not started."""
    path = Path(directory) / "summary.json"
    return json.loads(path.read_text()) if path.is_file() else None


def is_complete(directory: Path) -> bool:
    """Whether the run ended as a result (finished or diverged), so asking again can skip it."""
    summary = read_summary(directory)
    return summary is not None and summary.get("status") in FINAL_STATUSES


def checkpoint_position(path: Path) -> tuple[int, int]:
    """Where checkpoint `path` resumes: (epochs completed, training steps taken); see
    checkpoints.position."""
    import torch

    from mde_exp.checkpoints import position

    return position(torch.load(path, map_location="cpu", weights_only=True))


def checkpoint_epoch(path: Path) -> int:
    """The number of epochs checkpoint `path` holds complete (the epoch a run resumes at)."""
    return checkpoint_position(path)[0]


def load_model(directory: Path, checkpoint: str = "last.ckpt") -> Any:
    """A stored run's trained model: its class from the run's config.yaml, its weights from
    checkpoints/<checkpoint>, on the CPU, in eval mode."""
    from hydra.utils import get_class

    module = get_class(OmegaConf.load(Path(directory) / "config.yaml").model._target_)
    path = Path(directory) / "checkpoints" / checkpoint
    return module.load_from_checkpoint(path, map_location="cpu", weights_only=True).eval()


def load_datamodule(directory: Path) -> Any:
    """A stored run's data module, built from its config.yaml and set up (its splits in memory)."""
    from hydra.utils import instantiate

    datamodule = instantiate(OmegaConf.load(Path(directory) / "config.yaml").data)
    datamodule.setup()
    return datamodule


def read_epoch_metrics(directory: Path) -> pd.DataFrame:
    """metrics.csv reduced to one row per epoch of training (per-step and test rows dropped), by epoch."""
    frame = pd.read_csv(Path(directory) / "metrics.csv")
    epoch_cols = [
        c
        for c in frame.columns
        if c not in ("step", "epoch") and not c.endswith("_step") and not c.startswith("test/")
    ]
    per_epoch = frame.dropna(subset=["epoch"]).groupby("epoch")[epoch_cols].last()
    per_epoch.columns = [c.removesuffix("_epoch") for c in per_epoch.columns]
    per_epoch.index = per_epoch.index.astype(int)
    return per_epoch.dropna(how="all")


@contextmanager
def _hydra_configs():
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        yield
    else:
        with initialize_config_dir(config_dir=str(config_dir()), version_base=None):
            yield


def compose(overrides: Sequence[str] = (), return_hydra_config: bool = False) -> DictConfig:
    """Compose the app's configuration with overrides, as the command line would (no sweeps)."""
    from hydra import compose as hydra_compose

    with _hydra_configs():
        return hydra_compose("config", overrides=list(overrides), return_hydra_config=return_hydra_config)


def git_commit() -> str | None:
    """The commit of the checkout the package runs from, where it is one."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=config_dir().parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
