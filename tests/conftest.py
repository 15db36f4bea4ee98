"""Shared test set-up: W&B offline and quiet, runs and figures in temporary folders."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ["HF_HUB_OFFLINE"] = "1"  # tests never reach the network (the Hugging Face path included)
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.pop("WANDB_API_KEY", None)

# Under pytest-xdist (`make test` runs one worker per core) each worker, and each CLI subprocess it
# starts, uses one torch thread: workers with several threads each would wait on one another.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


@pytest.fixture
def one_thread():
    """One torch intra-op thread for the test: tiny models step fastest on one, and on a machine whose
    few cores other jobs share, the threads of each small operation wait on one another."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    return tmp_path / "runs"


def run_cli(
    args: list[str], cwd: Path, module: str = "mde_exp", timeout: int = 300
) -> subprocess.CompletedProcess:
    """`python -m <module> <args>` in a subprocess, from `cwd`."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"},
    )
