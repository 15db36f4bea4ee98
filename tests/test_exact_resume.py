"""Checkpoints every N steps and an exact resume: a run stopped at any step and run again ends with the same
metrics and the same metrics.csv, to the last bit, as a run that was never stopped (CPU, same seed)."""

import os
import random
import signal

import numpy as np
import pandas as pd
import pytest
import torch

from mde_exp import store
from mde_exp.data.batches import TensorBatches
from mde_exp.preemption import Preempted
from mde_exp.resume_state import random_states, set_random_states
from mde_exp.run import execute

from .helpers import FAULT_SWITCH

# Dropout draws from the global random state and train/acc is a torchmetrics accumulator: both must be
# carried across the resume. 1078 training digits in batches of 64: 17 steps an epoch.
ARGS = ["data=digits", "model=mlp", "dropout=0.3", "trainer.max_epochs=3", "logger=none", "profile=tiny",
        "store.checkpoint_every_n_steps=4", "trainer.log_every_n_steps=1"]  # fmt: skip
STEPS_PER_EPOCH = 17


def _batches(passes: int = 1, epoch: int = 0, position: int = 0) -> TensorBatches:
    x = torch.arange(10.0)[:, None]
    return TensorBatches((x, x.clone()), 3, shuffle=True, seed=7, epoch=lambda: epoch, passes=passes,
                         position=lambda: position)  # fmt: skip


@pytest.mark.parametrize("passes, done", [(1, 0), (1, 1), (1, 3), (2, 0), (2, 3), (2, 4), (2, 7)])
def test_batches_resume_after_the_batches_an_epoch_completed(passes, done):
    full = [b[0].flatten().tolist() for b in _batches(passes, epoch=2)]
    state = _batches(passes, epoch=2, position=done).state_dict()
    assert state == {"epoch": 2, "batches_done": done}
    resumed = _batches(passes, epoch=2)
    resumed.load_state_dict(state)
    assert [b[0].flatten().tolist() for b in resumed] == full[done:]
    # the state applies once: the next epoch (and a second pass over this one) is whole
    assert [b[0].flatten().tolist() for b in resumed] == full


def test_batches_state_of_another_epoch_is_ignored():
    batches = _batches(epoch=3)
    batches.load_state_dict({"epoch": 2, "batches_done": 2})
    assert len(list(batches)) == len(batches) == 4


def test_random_states_round_trip_through_a_weights_only_checkpoint(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    path = tmp_path / "states.pt"
    torch.save(random_states(), path)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    set_random_states(torch.load(path, weights_only=True))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    torch.set_num_threads(1)
    return execute(store.compose([*ARGS, f"store.root={tmp_path_factory.mktemp('ref')}"]))


def _stopped_and_resumed(root, step: int, monkeypatch, args=ARGS):
    """A run that raises at training step `step` (its last checkpoint: the step multiple of 4 before,
    or the epoch's end), then the same command again."""
    fault = ["+callbacks.fault._target_=tests.helpers.RaiseAtStep", "+callbacks.fault.lr=0.001"]
    cfg = store.compose([*args, f"store.root={root}", *fault, f"+callbacks.fault.step={step}"])
    monkeypatch.setenv(FAULT_SWITCH, "1")
    with pytest.raises(RuntimeError, match=f"injected fault at step {step}"):
        execute(cfg)
    monkeypatch.delenv(FAULT_SWITCH)
    return execute(cfg)


@pytest.mark.parametrize(
    "step",
    [6, STEPS_PER_EPOCH + 1, 2 * STEPS_PER_EPOCH + 3],
    ids=["mid-first-epoch", "just-after-an-epoch", "mid-last-epoch"],
)
def test_a_run_stopped_at_any_step_ends_exactly_as_an_uninterrupted_one(
    uninterrupted, tmp_path, step, monkeypatch, one_thread
):
    resumed = _stopped_and_resumed(tmp_path, step, monkeypatch)
    summary = resumed.summary
    checkpoint_step = max(
        s for s in (4 * (step // 4), STEPS_PER_EPOCH * (step // STEPS_PER_EPOCH)) if s < step
    )
    assert summary["status"] == "finished" and summary["attempt"] == 2
    assert summary["resumed_from_step"] == checkpoint_step
    assert summary["resumed_from_epoch"] == checkpoint_step // STEPS_PER_EPOCH
    assert resumed.metrics == uninterrupted.metrics  # bit for bit: train/loss, train/acc, val, test
    pd.testing.assert_frame_equal(
        pd.read_csv(resumed.dir / "metrics.csv"), pd.read_csv(uninterrupted.dir / "metrics.csv")
    )


def test_without_step_checkpoints_a_run_resumes_from_the_last_epoch(
    uninterrupted, tmp_path, monkeypatch, one_thread
):
    epochs_only = [a for a in ARGS if not a.startswith("store.checkpoint_every")]
    resumed = _stopped_and_resumed(tmp_path, STEPS_PER_EPOCH + 6, monkeypatch, epochs_only)
    assert resumed.summary["resumed_from_step"] == STEPS_PER_EPOCH
    assert resumed.metrics == uninterrupted.metrics  # the step checkpoints changed nothing either


@pytest.mark.parametrize(
    "step", [5, STEPS_PER_EPOCH - 1, 2 * STEPS_PER_EPOCH - 1], ids=["mid-epoch", "last-batch", "last-batch-2"]
)
def test_a_preempted_run_ends_exactly_as_an_uninterrupted_one(
    uninterrupted, tmp_path, step, monkeypatch, one_thread
):
    """SIGTERM just after step `step`: at the next step's end (or, after an epoch's last batch, at the
    epoch's end, once its validation has run) the run saves and stops; run again, it ends as if never
    stopped, metrics.csv included (the epoch's validation and training rows are there once)."""
    signal_at = ["+callbacks.signal._target_=tests.helpers.SignalAtStep", f"+callbacks.signal.step={step}",
                 f"+callbacks.signal.signum={int(signal.SIGTERM)}"]  # fmt: skip
    cfg = store.compose([*ARGS, f"store.root={tmp_path}", *signal_at])
    monkeypatch.setenv(FAULT_SWITCH, "1")
    with pytest.raises(Preempted) as stopped:
        execute(cfg)
    monkeypatch.delenv(FAULT_SWITCH)
    expected = step + 1  # saved after the next step, or (after an epoch's last batch) at the epoch's end
    assert stopped.value.step == expected and stopped.value.signum == signal.SIGTERM
    assert store.read_summary(store.run_dir(cfg))["status"] == "preempted"
    resumed = execute(cfg)
    assert resumed.summary["resumed_from_step"] == expected
    assert resumed.metrics == uninterrupted.metrics
    pd.testing.assert_frame_equal(
        pd.read_csv(resumed.dir / "metrics.csv"), pd.read_csv(uninterrupted.dir / "metrics.csv")
    )


def test_an_epoch_row_lost_between_the_checkpoint_and_its_logging_is_written_on_resume(
    uninterrupted, tmp_path, monkeypatch, one_thread
):
    """Lightning logs an epoch's training row just after the epoch-end checkpoint: a kill in between
    leaves the checkpoint without the row on disk. The resumed run writes it from the checkpoint."""
    epochs_only = [a for a in ARGS if not a.startswith("store.checkpoint_every")]
    fault = ["+callbacks.fault._target_=tests.helpers.RaiseAtStep", "+callbacks.fault.lr=0.001"]
    cfg = store.compose(
        [*epochs_only, f"store.root={tmp_path}", *fault, f"+callbacks.fault.step={STEPS_PER_EPOCH + 2}"]
    )
    monkeypatch.setenv(FAULT_SWITCH, "1")
    with pytest.raises(RuntimeError):
        execute(cfg)
    monkeypatch.delenv(FAULT_SWITCH)
    path = store.run_dir(cfg) / "metrics.csv"
    frame = pd.read_csv(path)
    lost = frame["train/loss_epoch"].notna() & (frame["epoch"] == 0)
    assert lost.sum() == 1
    frame[~lost].to_csv(path, index=False)  # the disk as a kill in the gap leaves it
    resumed = execute(cfg)
    assert resumed.summary["resumed_from_step"] == STEPS_PER_EPOCH
    pd.testing.assert_frame_equal(
        pd.read_csv(resumed.dir / "metrics.csv"), pd.read_csv(uninterrupted.dir / "metrics.csv")
    )
    assert resumed.metrics == uninterrupted.metrics


def test_no_step_checkpoint_is_taken_after_an_epochs_last_batch(tmp_path, one_thread):
    """Lightning resumes from a checkpoint taken after an epoch's last batch as if that epoch's
    validation had run: only the epoch-end checkpoint may hold that step."""
    args = [*ARGS, "trainer.max_epochs=2", f"store.checkpoint_every_n_steps={STEPS_PER_EPOCH}"]
    result = execute(store.compose([*args, f"store.root={tmp_path}"]))
    folder = result.dir / "checkpoints"
    assert store.checkpoint_position(folder / "previous.ckpt") == (1, STEPS_PER_EPOCH)  # epoch 0's end
    assert store.checkpoint_position(folder / "last.ckpt") == (2, 2 * STEPS_PER_EPOCH)


def test_step_checkpoints_do_not_change_the_run_hash():
    assert store.config_hash(store.compose(ARGS)) == store.config_hash(
        store.compose([*ARGS, "store.checkpoint_every_n_steps=null"])
    )
    assert os.environ.get(FAULT_SWITCH) is None
