"""Preemption and kills: SIGTERM / SIGUSR1 save a checkpoint and exit with the signal's code (SIGUSR1 in a
SLURM job also requeues it), SIGKILL at a random moment loses nothing, and each rerun ends exactly as an
uninterrupted run does."""

import json
import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from mde_exp import preemption
from mde_exp.preemption import Preempted, exit_code, slurm_job_id

REPO = Path(__file__).resolve().parents[1]
# 17 steps an epoch; SlowSteps makes each step last 30 ms so that a signal lands mid-training.
ARGS = ["data=digits", "model=mlp", "dropout=0.3", "trainer.max_epochs=3", "logger=none", "profile=tiny",
        "store.checkpoint_every_n_steps=5", "trainer.log_every_n_steps=1",
        "+callbacks.slow._target_=tests.helpers.SlowSteps", "+callbacks.slow.seconds=0.03"]  # fmt: skip


def test_exit_codes_are_those_of_a_process_ended_by_the_signal():
    assert exit_code(signal.SIGTERM) == 143 and exit_code(signal.SIGUSR1) == 138
    err = Preempted(signal.SIGUSR1, 12, Path("last.ckpt"))
    assert str(err) == "preempted by SIGUSR1: checkpoint saved at step 12"
    assert not isinstance(err, Exception)  # a sweep stops rather than going on to its next job


def test_the_slurm_job_id_of_a_job_and_of_an_array_task(monkeypatch):
    for name in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(name, raising=False)
    assert slurm_job_id() is None
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    assert slurm_job_id() == "4242"
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "77")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert slurm_job_id() == "77_3"


def _fake_scontrol(folder: Path, code: int = 0) -> Path:
    """An `scontrol` that records its arguments in folder/calls and exits with `code`."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "scontrol"
    script.write_text(f'#!/bin/sh\necho "$@" >> "{folder / "calls"}"\nexit {code}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder


def test_request_requeue_calls_scontrol_and_reports_its_refusal(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("PATH", f"{_fake_scontrol(tmp_path / 'ok')}{os.pathsep}{os.environ['PATH']}")
    assert preemption.request_requeue("4242") is True
    assert (tmp_path / "ok" / "calls").read_text().split() == ["requeue", "4242"]
    monkeypatch.setenv("PATH", f"{_fake_scontrol(tmp_path / 'no', code=1)}{os.pathsep}{os.environ['PATH']}")
    assert preemption.request_requeue("4242") is False
    assert "scontrol requeue 4242 failed" in caplog.text


def _start(root: Path, env_extra: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "MDE_EXP_RUNS": str(root), "PYTHONPATH": str(REPO), **(env_extra or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "mde_exp", *ARGS], cwd=REPO, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _run(root: Path, env_extra: dict[str, str] | None = None) -> tuple[int, str]:
    process = _start(root, env_extra)
    out, _ = process.communicate(timeout=300)
    return process.returncode, out


def _run_dir(root: Path) -> Path:
    (directory,) = (root / "default").iterdir()
    return directory


def _summary(root: Path) -> dict:
    return json.loads((_run_dir(root) / "summary.json").read_text())


def _interrupt(root: Path, signum: int, delay: float, env_extra: dict[str, str] | None = None):
    """Start the run, wait for its first checkpoint, wait `delay` seconds more, send `signum`."""
    process = _start(root, env_extra)
    deadline = time.time() + 240
    while not list(root.glob("default/*/checkpoints/last.ckpt")):
        assert process.poll() is None and time.time() < deadline, process.communicate()[0][-3000:]
        time.sleep(0.02)
    time.sleep(delay)
    process.send_signal(signum)
    out, _ = process.communicate(timeout=300)
    return process.returncode, out


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp("uninterrupted")
    code, out = _run(root)
    assert code == 0, out[-3000:]
    return _summary(root), pd.read_csv(_run_dir(root) / "metrics.csv")


def _check_ends_as_uninterrupted(root: Path, uninterrupted) -> dict:
    summary, frame = uninterrupted
    code, out = _run(root)
    assert code == 0, out[-3000:]
    resumed = _summary(root)
    assert resumed["status"] == "finished" and resumed["resume"]["from"] in ("last.ckpt", "previous.ckpt")
    assert resumed["metrics"] == summary["metrics"]
    pd.testing.assert_frame_equal(pd.read_csv(_run_dir(root) / "metrics.csv"), frame)
    return resumed


def test_sigterm_saves_a_checkpoint_exits_143_and_the_rerun_ends_as_if_never_stopped(tmp_path, uninterrupted):
    code, out = _interrupt(tmp_path, signal.SIGTERM, delay=0.3)
    assert code == 143, out[-3000:]
    assert "preempted by SIGTERM: checkpoint saved at step" in out and "run the same command again" in out
    stopped = _summary(tmp_path)
    assert stopped["status"] == "preempted" and stopped["signal"] == "SIGTERM"
    resumed = _check_ends_as_uninterrupted(tmp_path, uninterrupted)
    assert resumed["resumed_from_step"] == stopped["preempted_at_step"] and resumed["attempt"] == 2


@pytest.mark.slow
def test_sigusr1_in_a_slurm_job_requeues_it_and_exits_138(tmp_path, uninterrupted):
    fake = _fake_scontrol(tmp_path / "bin")
    env = {"SLURM_JOB_ID": "4242", "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"}
    code, out = _interrupt(tmp_path / "runs", signal.SIGUSR1, delay=0.5, env_extra=env)
    assert code == 138, out[-3000:]
    assert "requeued SLURM job 4242" in out
    assert (fake / "calls").read_text().split() == ["requeue", "4242"]
    _check_ends_as_uninterrupted(tmp_path / "runs", uninterrupted)


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(3))
def test_sigkill_at_a_random_moment_loses_nothing(tmp_path, uninterrupted, trial):
    code, out = _interrupt(tmp_path, signal.SIGKILL, delay=random.Random(trial).uniform(0.0, 1.5))
    assert code == -signal.SIGKILL
    _check_ends_as_uninterrupted(tmp_path, uninterrupted)


@pytest.mark.slow
def test_a_preempted_sweep_stops_says_where_each_job_stands_and_resumes(tmp_path):
    env = {**os.environ, "MDE_EXP_RUNS": str(tmp_path), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "mde_exp", *ARGS, "seed=0,1", "-m"]
    process = subprocess.Popen(
        command, cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    while not list(tmp_path.glob("default/*-seed0/checkpoints/last.ckpt")):
        assert process.poll() is None
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 143, out[-3000:]
    assert "preempted  seed=0" in out and not list(tmp_path.glob("default/*-seed1"))
    rerun = subprocess.run(command, cwd=REPO, env=env, text=True, capture_output=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert "2 finished" in rerun.stdout
