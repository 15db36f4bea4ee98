"""Shared test set-up: W&B offline and quiet, runs and figures in temporary folders."""

import json
import os
import subprocess
import sys
from collections.abc import Sequence
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


def reproduce_at_smallest_scale(tmp_path: Path, ids: Sequence[str]) -> dict[str, dict]:
    """Runs recipes `ids` in the tiny profile (figures in tmp_path/figures, runs in tmp_path/runs, no
    W&B), checks what every recipe must give (exit code 0; each passes, with claims that all hold; a PNG
    over 10 kB and a PDF) and returns their JSON records by id."""
    from mde_exp.reproduce import main

    out = tmp_path / "figures"
    code = main(
        ["--profile", "tiny", "--only", ",".join(ids), "--out", str(out), "logger=none",
         f"store.root={tmp_path / 'runs'}"]
    )  # fmt: skip
    records = {rid: json.loads((out / f"{rid}.json").read_text()) for rid in ids}
    for rid, record in records.items():
        failure = (rid, record.get("error"), record.get("claims"))
        assert record["status"] == "pass" and record["claims"], failure
        assert all(claim["passed"] for claim in record["claims"]), (rid, record["claims"])
        assert (out / f"{rid}.png").stat().st_size > 10_000 and (out / f"{rid}.pdf").is_file()
    assert code == 0
    return records


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


def one_training_step(model: torch.nn.Module, shape: tuple[int, ...], n: int = 6) -> torch.Tensor:
    """One training step's loss of an image classifier on random images; every parameter must get a
    finite, non-zero gradient."""
    torch.manual_seed(0)
    x, y = torch.randn(n, *shape), torch.arange(n) % model.num_classes
    model.train()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"no gradient reaches {name}"
    return loss
