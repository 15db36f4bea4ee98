"""A sweep with a raising job and a diverging job: the others complete, each outcome is in the store, a
summary is printed, the exit code is non-zero, and a rerun runs only the failed job."""

from pathlib import Path

import pytest

from mde_exp import store
from mde_exp.sweep_outcomes import sweep_jobs

from .conftest import run_cli
from .helpers import FAULT_SWITCH

REPO = Path(__file__).resolve().parents[1]
FINISHES, DIVERGES, RAISES = "0.05", "1000000.0", "0.02"  # sgd learning rates on digits


def sweep_args(root: Path, *extra: str) -> list[str]:
    """A three-job sweep over sgd's learning rate; the job with lr RAISES fails at step 2 while the
    fault switch is on (tests.helpers.RaiseAtStep), the one with lr DIVERGES diverges."""
    return [
        "data=digits",
        "optimizer=sgd",
        f"optimizer.lr={FINISHES},{DIVERGES},{RAISES}",
        "trainer.max_epochs=2",
        "logger=none",
        "trainer.accelerator=cpu",
        "+callbacks.fault._target_=tests.helpers.RaiseAtStep",
        f"+callbacks.fault.lr={RAISES}",
        f"store.root={root}",
        *extra,
        "-m",
    ]


@pytest.fixture
def fault_on(monkeypatch):
    """The CLI subprocess can import tests.helpers, and its fault switch is on until the test turns it off."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv(FAULT_SWITCH, "1")
    return monkeypatch


def job_dirs(args: list[str]) -> dict[str, Path]:
    """Each job's run folder, by its learning rate."""
    jobs = sweep_jobs(args)
    return {next(o for o in j.overrides if o.startswith("optimizer.lr=")).split("=")[1]: j.dir for j in jobs}


def summary_line(stdout: str, lr: str) -> list[str]:
    """The words of the summary line of the job with learning rate `lr`."""
    summary = stdout.split("sweep summary:")[1].splitlines()[1:]
    (line,) = [line for line in summary if f"optimizer.lr={lr} " in line]
    return line.split()


def test_a_sweep_with_a_raising_and_a_diverging_job_reports_them_and_a_rerun_runs_only_the_failed_one(
    tmp_path, fault_on
):
    args = sweep_args(tmp_path / "runs")
    dirs = job_dirs(args)
    first = run_cli(args, cwd=tmp_path)
    assert first.returncode == 1, first.stderr
    assert "sweep summary: 3 jobs: 1 finished, 1 diverged, 1 failed, 0 skipped" in first.stdout
    summaries = {lr: store.read_summary(d) for lr, d in dirs.items()}
    assert {lr: s["status"] for lr, s in summaries.items()} == {
        FINISHES: "finished",
        DIVERGES: "diverged",
        RAISES: "failed",
    }
    assert summary_line(first.stdout, FINISHES) == [
        "finished",
        f"optimizer.lr={FINISHES}",
        str(dirs[FINISHES]),
    ]
    assert summary_line(first.stdout, DIVERGES) == [
        "diverged",
        f"optimizer.lr={DIVERGES}",
        str(dirs[DIVERGES]),
        "at",
        "step",
        str(summaries[DIVERGES]["diverged_at_step"]),
    ]
    assert summary_line(first.stdout, RAISES)[:3] == ["failed", f"optimizer.lr={RAISES}", str(dirs[RAISES])]
    assert "RuntimeError: injected fault at step 2" in first.stdout
    assert "RuntimeError: injected fault at step 2" in summaries[RAISES]["error"]
    stamps = {lr: (d / "metrics.csv").stat().st_mtime_ns for lr, d in dirs.items() if lr != RAISES}

    fault_on.delenv(FAULT_SWITCH)  # the fault is gone: the same command again
    again = run_cli(args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # a diverged job alone does not make the exit non-zero
    assert "sweep summary: 3 jobs: 1 finished, 0 diverged, 0 failed, 2 skipped" in again.stdout
    assert summary_line(again.stdout, FINISHES)[0] == "skipped"
    assert summary_line(again.stdout, DIVERGES)[0] == "skipped"
    assert summary_line(again.stdout, RAISES)[0] == "finished"
    after = {lr: store.read_summary(d) for lr, d in dirs.items()}
    assert {lr: (s["status"], s["attempt"]) for lr, s in after.items()} == {
        FINISHES: ("finished", 1),
        DIVERGES: ("diverged", 1),
        RAISES: ("finished", 2),
    }
    assert {lr: (dirs[lr] / "metrics.csv").stat().st_mtime_ns for lr in stamps} == stamps


@pytest.mark.slow
def test_the_joblib_launcher_gives_the_same_summary_and_exit_code(tmp_path, fault_on):
    args = sweep_args(tmp_path / "runs", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    dirs = job_dirs(args)
    result = run_cli(args, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "sweep summary: 3 jobs: 1 finished, 1 diverged, 1 failed, 0 skipped" in result.stdout
    assert store.read_summary(dirs[RAISES])["status"] == "failed"
    assert summary_line(result.stdout, RAISES)[0] == "failed"


def test_only_a_multirun_has_jobs_to_report():
    assert sweep_jobs(["data=digits", "logger=none"]) == []
    assert sweep_jobs(["data=digits", "--cfg", "job", "-m"]) == []
    assert len(sweep_jobs(["data=digits", "dropout=0,0.5", "-m"])) == 2
    assert len(sweep_jobs(["+experiment=dropout_sweep"])) == 4  # the experiment sets hydra.mode: MULTIRUN
