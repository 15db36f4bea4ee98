"""The end of a sweep: each job's outcome read back from the run store, a summary line each, the exit code.

Outcomes are read from each job's summary.json, not from the jobs' return values, so that the summary is the
same whichever Hydra launcher ran the jobs: the basic one in this process, or joblib's worker processes.
A job counts as skipped when its attempt count did not change during the sweep and the store already held a
result (finished or diverged). Only a failed job (or one that left no result) makes the exit code non-zero:
a diverged run is a result, not a failure.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mde_exp import store, sweep

_MULTIRUN_FLAGS = ("-m", "--multirun")
ORDER = ("finished", "diverged", "failed", "preempted", "skipped")


@dataclass
class SweepJob:
    """One job of a sweep: its overrides, its run folder and its attempt count before the sweep ran."""

    overrides: list[str]
    dir: Path
    attempts_before: int


@dataclass
class JobOutcome:
    """What one job of the sweep came to: finished, diverged, failed or skipped, with a short detail."""

    job: SweepJob
    status: str
    detail: str = ""


def _attempts(directory: Path) -> int:
    return int((store.read_summary(directory) or {}).get("attempt", 0))


def sweep_jobs(argv: Sequence[str]) -> list[SweepJob]:
    """The jobs of a multirun command line `argv` (without the program name), with their run folders and
    their attempt counts now; [] for a single run or a command line with Hydra's own flags. Call it after
    the preflight (preflight.check_command_line), which has refused every job that cannot be composed."""
    if any(a.startswith("-") and a not in _MULTIRUN_FLAGS for a in argv):
        return []
    overrides = [a for a in argv if not a.startswith("-")]
    parsed = sweep.override_parser().parse_overrides(overrides)
    base = store.compose(
        [o.input_line for o in parsed if not o.is_sweep_override()], return_hydra_config=True
    )
    if not any(a in _MULTIRUN_FLAGS for a in argv) and str(base.hydra.mode) != "RunMode.MULTIRUN":
        return []
    jobs = []
    for job in sweep.expand(overrides, sweep.sweep_params(base.hydra)):
        directory = store.run_dir(store.compose(job))
        jobs.append(SweepJob(job, directory, _attempts(directory)))
    return jobs


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else "no error recorded"


def outcome(job: SweepJob) -> JobOutcome:
    """The outcome of `job` after the sweep, from its summary.json."""
    summary = store.read_summary(job.dir) or {}
    status = summary.get("status", "not started")
    diverged = f"at step {summary.get('diverged_at_step')}" if status == "diverged" else ""
    if _attempts(job.dir) == job.attempts_before:
        if status in store.FINAL_STATUSES:
            return JobOutcome(job, "skipped", f"already {status} {diverged}".strip())
        return JobOutcome(job, "failed", f"did not run (stored status: {status})")
    if status in ("finished", "diverged"):
        return JobOutcome(job, status, diverged)
    if status == "failed":
        return JobOutcome(job, "failed", _first_line(summary.get("error")))
    if status == "preempted":
        return JobOutcome(job, "preempted", f"{_first_line(summary.get('error'))}; resumes when run again")
    return JobOutcome(job, "failed", f"ended without a result (stored status: {status})")


def _labels(jobs: Sequence[SweepJob]) -> list[str]:
    """Each job's overrides that not every job shares (what the sweep varies), or all of them for one job."""
    shared = set.intersection(*(set(j.overrides) for j in jobs))
    labels = [" ".join(o for o in j.overrides if o not in shared) for j in jobs]
    return [label or " ".join(j.overrides) or "(no overrides)" for label, j in zip(labels, jobs, strict=True)]


def summary_lines(outcomes: Sequence[JobOutcome]) -> list[str]:
    """The sweep's summary: a count line, then one line per job (status, overrides, run folder, detail)."""
    shown = [s for s in ORDER if s != "preempted" or any(o.status == s for o in outcomes)]
    counts = ", ".join(f"{sum(o.status == s for o in outcomes)} {s}" for s in shown)
    lines = [f"sweep summary: {len(outcomes)} jobs: {counts}"]
    labels = _labels([o.job for o in outcomes])
    width = max(map(len, labels))
    for o, label in zip(outcomes, labels, strict=True):
        lines.append(f"  {o.status:<8}  {label:<{width}}  {o.job.dir}  {o.detail}".rstrip())
    failed = sum(o.status == "failed" for o in outcomes)
    if failed:
        lines.append(
            f"{failed} job(s) failed: run the same command again to rerun only them "
            "(finished and diverged runs are skipped)"
        )
    return lines


def report(jobs: Sequence[SweepJob]) -> int:
    """Print the summary of the sweep that ran `jobs`; return the exit code: 1 if any job failed, else 0."""
    outcomes = [outcome(job) for job in jobs]
    print("\n".join(summary_lines(outcomes)), flush=True)
    return int(any(o.status == "failed" for o in outcomes))
