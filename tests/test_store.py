"""The run store: determinism, skipping finished runs, resuming interrupted ones, recording outcomes."""

import json
import signal
import time

import pandas as pd
import pytest

from mde_exp import run as run_module
from mde_exp import store
from mde_exp.run import execute

from .conftest import run_cli

BASE = ["data=digits", "trainer.max_epochs=2", "logger=none", "trainer.accelerator=cpu"]


def test_same_seed_gives_identical_metrics(tmp_path):
    a = execute(store.compose([*BASE, f"store.root={tmp_path / 'a'}", "dropout=0.2"]))
    b = execute(store.compose([*BASE, f"store.root={tmp_path / 'b'}", "dropout=0.2"]))
    c = execute(store.compose([*BASE, f"store.root={tmp_path / 'c'}", "dropout=0.2", "seed=1"]))
    assert a.metrics == b.metrics
    assert a.metrics != c.metrics
    pd.testing.assert_frame_equal(store.read_epoch_metrics(a.dir), store.read_epoch_metrics(b.dir))


def test_finished_run_is_skipped_and_a_changed_config_is_a_new_run(store_root):
    cfg = store.compose([*BASE, f"store.root={store_root}"])
    first = execute(cfg)
    stamp = (first.dir / "metrics.csv").stat().st_mtime_ns
    again = execute(cfg)
    assert again.skipped and again.metrics == first.metrics and again.dir == first.dir
    assert (first.dir / "metrics.csv").stat().st_mtime_ns == stamp
    other = execute(store.compose([*BASE, f"store.root={store_root}", "optimizer.lr=0.01"]))
    assert other.dir != first.dir and not other.skipped
    summary = json.loads((first.dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs"] == 2 and summary["wall_time_s"] > 0
    assert {"torch", "lightning", "hydra-core"} <= set(summary["versions"])


def test_a_diverging_run_is_recorded_as_diverged(store_root):
    cfg = store.compose(
        [*BASE, f"store.root={store_root}", "optimizer=sgd", "optimizer.lr=1e6", "trainer.max_epochs=5"]
    )
    result = execute(cfg)
    assert result.status == "diverged"
    summary = store.read_summary(result.dir)
    assert summary["diverged_at_epoch"] is not None and summary["epochs"] < 5


def test_a_failing_run_is_recorded_as_failed(store_root, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("model exploded")

    monkeypatch.setattr(run_module, "_build_model", broken)
    with pytest.raises(RuntimeError):
        execute(store.compose([*BASE, f"store.root={store_root}"]))
    (directory,) = (store_root / "default").iterdir()
    summary = store.read_summary(directory)
    assert summary["status"] == "failed" and "model exploded" in summary["error"]


def test_a_killed_run_resumes_and_keeps_its_epoch_count(tmp_path):
    import subprocess
    import sys

    args = [
        "data=mnist_5k",
        "model.hidden_sizes=[256]",
        "data.batch_size=32",
        "trainer.max_epochs=4",
        "logger=none",
        f"store.root={tmp_path / 'runs'}",
        "trainer.accelerator=cpu",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mde_exp", *args],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    checkpoint = None
    while time.time() < deadline and proc.poll() is None:
        found = list((tmp_path / "runs").glob("default/*/checkpoints/last.ckpt"))
        if found:
            checkpoint = found[0]
            break
        time.sleep(0.05)
    assert checkpoint is not None, "the run wrote no checkpoint"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    directory = checkpoint.parent.parent
    assert store.read_summary(directory)["status"] == "running", "the run was killed before it finished"

    result = run_cli(args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = store.read_summary(directory)
    assert summary["status"] == "finished" and summary["epochs"] == 4 and summary["attempt"] == 2
    assert summary["resumed_from_epoch"] >= 1
    epochs = store.read_epoch_metrics(directory)
    assert list(epochs.index) == [0, 1, 2, 3]
    assert epochs["val/acc"].notna().all()
    # The checkpointed epoch's reduced training row is logged just after its checkpoint (see
    # StoreCSVLogger), and the kill above lands right after the checkpoint: only later epochs are sure.
    resumed = summary["resumed_from_epoch"]
    assert epochs["train/loss"].loc[resumed:].notna().all()
    rows = pd.read_csv(directory / "metrics.csv")
    assert rows.dropna(subset=["val/acc"])["epoch"].tolist() == [0, 1, 2, 3], "each epoch logged once"


def test_a_run_held_by_another_process_is_waited_for(tmp_path):
    """store.run_lock: a second process asking for a run that another holds waits until it is let go
    (two recipes of a parallel reproduction never train the same run at once)."""
    import subprocess
    import sys

    directory = tmp_path / "runs" / "default" / "abc-seed0"
    held, released = tmp_path / "held", tmp_path / "released"
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import pathlib, time\nfrom mde_exp import store\n"
            f"with store.run_lock(pathlib.Path({str(directory)!r})):\n"
            f"    pathlib.Path({str(held)!r}).touch(); time.sleep(1.5)\n"
            f"    pathlib.Path({str(released)!r}).touch()\n"
        )]
    )  # fmt: skip
    deadline = time.time() + 60
    while not held.exists():
        assert holder.poll() is None and time.time() < deadline
        time.sleep(0.02)
    with store.run_lock(directory):
        assert released.exists()  # entered only once the other process let go
    assert holder.wait(timeout=60) == 0
    assert not directory.parent.exists()  # the lock file is kept out of the experiment's folder
