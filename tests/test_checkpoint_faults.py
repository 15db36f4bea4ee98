"""Checkpoint faults: a corrupt, truncated, empty, incomplete or unsafe checkpoint is reported, set aside,
and the run resumes from the previous good one (or from scratch) and ends as an uninterrupted run does."""

import pickle
import shutil
from pathlib import Path

import lightning as L
import pandas as pd
import pytest
import torch

from mde_exp import checkpoints, store
from mde_exp import run as run_module
from mde_exp.callbacks import DivergenceDetector
from mde_exp.run import execute

EPOCHS = 4
CRASH_AT_EPOCH = 2  # the first run fails as epoch 2 starts: last.ckpt holds epochs 0-1, previous.ckpt epoch 0
ARGS = ["data=digits", f"trainer.max_epochs={EPOCHS}", "logger=none", "trainer.accelerator=cpu"]


class Crash(RuntimeError):
    """The failure that interrupts the first run."""


class CrashingDivergenceDetector(DivergenceDetector):
    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == CRASH_AT_EPOCH:
            raise Crash(f"crash at epoch {CRASH_AT_EPOCH}")


class Payload:
    """An arbitrary object: unpickling it would run code (it creates a file), which weights-only refuses."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _cfg(root: Path):
    return store.compose([*ARGS, f"store.root={root}"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run, and a run of the same config that crashed after two epochs (a template
    that each test copies and damages)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("reference")
    uninterrupted = execute(_cfg(root / "uninterrupted"))
    patch = pytest.MonkeyPatch()
    patch.setattr(run_module, "DivergenceDetector", CrashingDivergenceDetector)
    with pytest.raises(Crash):
        execute(_cfg(root / "crashed"))
    patch.undo()
    (crashed,) = (root / "crashed" / "default").iterdir()
    return uninterrupted, crashed


@pytest.fixture
def crashed_run(reference, tmp_path) -> Path:
    """A copy of the crashed run (its folder name is the config's, under tmp_path/runs)."""
    _, crashed = reference
    directory = tmp_path / "runs" / "default" / crashed.name
    shutil.copytree(crashed, directory)
    return directory


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(torch.randint(0, 256, (path.stat().st_size,), dtype=torch.uint8).numpy().tobytes())


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _without_state_dict(path: Path) -> None:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    del checkpoint["state_dict"]
    torch.save(checkpoint, path)


def _with_payload(path: Path) -> None:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    checkpoint["payload"] = Payload(path.with_name("payload-ran"))
    torch.save(checkpoint, path)


FAULTS = {
    "truncated": (_truncate, "truncated"),
    "garbage": (_garbage, "not a checkpoint"),
    "empty": (_empty, "empty file"),
    "no_state_dict": (_without_state_dict, "missing state_dict"),
    "unsafe_object": (_with_payload, "refused by weights_only"),
}


def _check_finished_like(result, uninterrupted) -> None:
    """The resumed run ends as the uninterrupted one: each epoch logged once, the same final metrics."""
    assert result.status == "finished" and result.summary["epochs"] == EPOCHS
    rows = pd.read_csv(result.dir / "metrics.csv")
    assert rows.dropna(subset=["val/acc"])["epoch"].tolist() == list(range(EPOCHS)), "each epoch once"
    epochs = store.read_epoch_metrics(result.dir)
    assert list(epochs.index) == list(range(EPOCHS))
    assert epochs["train/loss"].notna().all() and epochs["val/loss"].notna().all()
    assert result.metrics == uninterrupted.metrics
    pd.testing.assert_frame_equal(epochs, store.read_epoch_metrics(uninterrupted.dir))


@pytest.mark.parametrize("fault", FAULTS)
def test_a_damaged_last_checkpoint_resumes_from_the_previous_one(fault, reference, crashed_run, caplog):
    uninterrupted, _ = reference
    damage, reason = FAULTS[fault]
    last = crashed_run / "checkpoints" / "last.ckpt"
    damage(last)
    with caplog.at_level("WARNING", logger="mde_exp.checkpoints"):
        result = execute(_cfg(crashed_run.parents[1]))
    assert result.dir == crashed_run
    assert result.summary["resume"]["from"] == "previous.ckpt"
    (skipped,) = result.summary["resume"]["skipped"]
    assert skipped.startswith("last.ckpt: ") and reason in skipped
    assert result.summary["resumed_from_epoch"] == 1 and result.summary["attempt"] == 2
    assert any(str(last) in m and reason in m for m in caplog.messages), caplog.messages
    assert any("previous good checkpoint" in m for m in caplog.messages), caplog.messages
    assert (crashed_run / "checkpoints" / "last.ckpt.corrupt").is_file()
    assert not (crashed_run / "checkpoints" / "payload-ran").exists(), "the unsafe object was unpickled"
    _check_finished_like(result, uninterrupted)


def test_no_good_checkpoint_trains_from_scratch(reference, crashed_run, caplog):
    uninterrupted, _ = reference
    _truncate(crashed_run / "checkpoints" / "last.ckpt")
    _empty(crashed_run / "checkpoints" / "previous.ckpt")
    with caplog.at_level("WARNING", logger="mde_exp.checkpoints"):
        result = execute(_cfg(crashed_run.parents[1]))
    assert result.summary["resume"] == {
        "from": "scratch",
        "skipped": ["last.ckpt: truncated (incomplete archive)", "previous.ckpt: empty file"],
    }
    assert result.summary["resumed_from_epoch"] is None
    assert any("training from scratch" in m for m in caplog.messages), caplog.messages
    _check_finished_like(result, uninterrupted)


def test_a_good_last_checkpoint_is_resumed_and_recorded(reference, crashed_run):
    uninterrupted, _ = reference
    result = execute(_cfg(crashed_run.parents[1]))
    assert result.summary["resume"] == {"from": "last.ckpt", "skipped": []}
    assert result.summary["resumed_from_epoch"] == CRASH_AT_EPOCH
    _check_finished_like(result, uninterrupted)
    assert uninterrupted.summary["resume"] == {"from": "scratch", "skipped": []}


def test_each_save_keeps_the_previous_checkpoint_and_an_interrupted_write_harms_neither(reference, tmp_path):
    uninterrupted, _ = reference
    folder = uninterrupted.dir / "checkpoints"
    assert checkpoints.verify(folder / "previous.ckpt")["epoch"] == EPOCHS - 2
    assert checkpoints.verify(folder / "last.ckpt")["epoch"] == EPOCHS - 1
    shutil.copytree(folder, tmp_path / "checkpoints")
    last, previous = tmp_path / "checkpoints" / "last.ckpt", tmp_path / "checkpoints" / "previous.ckpt"
    before = last.read_bytes(), previous.read_bytes()

    def dies_mid_write(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt  # what a kill mid-write leaves: a partial file

    io = checkpoints.AtomicCheckpointIO()
    patch = pytest.MonkeyPatch()
    patch.setattr(checkpoints.torch, "save", dies_mid_write)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"epoch": 99}, last)
    patch.undo()
    assert (last.read_bytes(), previous.read_bytes()) == before
    assert checkpoints.choose_resume(last.parent).path == last
    io.save_checkpoint({"epoch": 99}, last)
    assert previous.read_bytes() == before[0] and io.load_checkpoint(last) == {"epoch": 99}


def test_checkpoints_are_loaded_weights_only(reference, tmp_path):
    """A checkpoint holding an arbitrary object is refused by every loader the project uses."""
    uninterrupted, _ = reference
    shutil.copytree(uninterrupted.dir, tmp_path / "run")
    path = tmp_path / "run" / "checkpoints" / "last.ckpt"
    _with_payload(path)
    marker = path.with_name("payload-ran")
    with pytest.raises(pickle.UnpicklingError):
        store.load_model(tmp_path / "run")
    with pytest.raises(pickle.UnpicklingError):
        checkpoints.AtomicCheckpointIO().load_checkpoint(path)
    cfg = _cfg(tmp_path / "unused")
    datamodule = run_module.instantiate(cfg.data)
    model = run_module._build_model(cfg, datamodule)
    trainer = L.Trainer(
        max_epochs=EPOCHS + 1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        plugins=[checkpoints.AtomicCheckpointIO()],
        accelerator="cpu",
    )
    with pytest.raises(pickle.UnpicklingError):
        trainer.fit(model, datamodule=datamodule, ckpt_path=path)  # weights_only left to the default
    assert not marker.exists(), "the arbitrary object was unpickled"
    # The same checkpoint without the object loads: what the project saves is plain data.
    assert store.load_model(uninterrupted.dir).training is False
