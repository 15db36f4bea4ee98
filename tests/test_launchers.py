"""Sweeps past one process through Hydra's launcher plugins: joblib (local worker processes) and Ray (a local
cluster here, any cluster by address) give the same per-job results and outcomes as the basic launcher,
each job with its share of the cores; the SLURM launcher (submitit) writes the sbatch settings that make
preemption and the time limit end in a requeue that resumes from the run store (checked without SLURM)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import joblib
import pytest
from hydra.utils import instantiate

from mde_exp import store
from mde_exp.preemption import SIGNALS
from mde_exp.sweep_outcomes import sweep_jobs

from .conftest import run_cli
from .helpers import FAULT_SWITCH

REPO = Path(__file__).resolve().parents[1]
WORKS, RAISES = "0.01", "0.02"  # adam learning rates; the job with RAISES fails at step 2
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def dropout_sweep(root: Path, threads: Path, *launcher: str) -> list[str]:
    """The book's dropout sweep (+experiment=dropout_sweep) shrunk to seconds: digits, the tiny profile, two
    rates and two learning rates, the jobs with lr RAISES failing at step 2 (tests.helpers.RaiseAtStep);
    each job records the torch threads it got under `threads` (tests.helpers.RecordThreads)."""
    return [
        "+experiment=dropout_sweep",
        "data=digits",
        "profile=tiny",
        "logger=none",
        "trainer.accelerator=cpu",
        "model.hidden_sizes=[32,32,32]",
        "dropout=0.0,0.5",
        f"optimizer.lr={WORKS},{RAISES}",
        "+callbacks.fault._target_=tests.helpers.RaiseAtStep",
        f"+callbacks.fault.lr={RAISES}",
        "+callbacks.threads._target_=tests.helpers.RecordThreads",
        f"+callbacks.threads.folder={threads}",
        f"store.root={root}",
        *launcher,
        "-m",
    ]


@pytest.fixture
def cli_env(monkeypatch):
    """The CLI subprocess imports tests.helpers, injects its faults, and sets no thread limit of its own,
    so that what a job gets is the launcher's doing."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv(FAULT_SWITCH, "1")
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def run_sweep(tmp_path: Path, name: str, *launcher: str) -> tuple[subprocess.CompletedProcess, dict, list]:
    """Run the sweep with `launcher` overrides into tmp_path/name; its CLI result, each job's summary.json
    by its overrides, and the thread records of its jobs."""
    threads = tmp_path / name / "threads"
    args = dropout_sweep(tmp_path / name / "runs", threads, *launcher)
    result = run_cli(args, cwd=tmp_path, timeout=240)
    assert "sweep summary: 4 jobs: 2 finished, 0 diverged, 2 failed, 0 skipped" in result.stdout, (
        result.stdout[-3000:] + result.stderr[-3000:]
    )
    assert result.returncode == 1  # a failed job makes the sweep's exit code 1, whichever the launcher
    summaries = {}
    for job in sweep_jobs(args):
        key = " ".join(o for o in job.overrides if o.startswith(("dropout=", "optimizer.lr=")))
        summaries[key] = store.read_summary(job.dir)
    records = [json.loads(p.read_text()) for p in sorted(threads.glob("*.json"))]
    return result, summaries, records


def assert_same_results(summaries: dict, reference: dict) -> None:
    """Same jobs, same statuses, the same final metrics (to rounding: the jobs' thread counts differ)."""
    assert summaries.keys() == reference.keys()
    for key, summary in summaries.items():
        expected = reference[key]
        assert summary["status"] == expected["status"] == ("failed" if RAISES in key else "finished"), key
        metrics, expected_metrics = summary.get("metrics", {}), expected.get("metrics", {})
        assert metrics.keys() == expected_metrics.keys(), key
        assert metrics == pytest.approx(expected_metrics, rel=1e-4, abs=1e-6), key
        if summary["status"] == "failed":
            assert "RuntimeError: injected fault at step 2" in summary["error"], key
    finished = [s for s in summaries.values() if s["status"] == "finished"]
    assert finished and all(s["metrics"]["test/acc"] > 0 for s in finished)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The sweep through the basic launcher (one job after another in the CLI's process)."""
    with pytest.MonkeyPatch.context() as patch:
        tmp_path = tmp_path_factory.mktemp("basic")
        patch.setenv("PYTHONPATH", str(REPO))
        patch.setenv(FAULT_SWITCH, "1")
        for name in THREAD_VARIABLES:
            patch.delenv(name, raising=False)
        _, summaries, _ = run_sweep(tmp_path, "basic", "hydra/launcher=basic")
    return summaries


def test_a_joblib_sweep_gives_the_basic_launchers_results_with_cores_shared_among_its_jobs(
    tmp_path, cli_env, reference
):
    result, summaries, records = run_sweep(
        tmp_path, "joblib", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"
    )
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr
    assert_same_results(summaries, reference)
    share = max(joblib.cpu_count() // 2, 1)  # loky's limit for each of 2 workers: cores // n_jobs
    assert len(records) == 4
    assert all(r == {"torch_threads": share, "OMP_NUM_THREADS": str(share)} for r in records), records


@pytest.mark.slow  # a local Ray cluster starts in ~10 s and its workers import torch: ~45 s in all
def test_a_ray_sweep_on_a_local_cluster_gives_the_basic_launchers_results(tmp_path, cli_env, reference):
    result, summaries, records = run_sweep(
        tmp_path,
        "ray",
        "hydra/launcher=ray",
        "+hydra.launcher.ray.init.num_cpus=2",  # the local cluster the launcher starts
        "+hydra.launcher.ray.init.include_dashboard=false",
    )
    assert "Started a local Ray instance" in result.stdout + result.stderr
    assert_same_results(summaries, reference)
    # A Ray task asks for one CPU unless hydra.launcher.ray.remote.num_cpus says otherwise; Ray sets
    # OMP_NUM_THREADS in its worker to that, and torch there takes it.
    assert len(records) == 4
    assert all(r == {"torch_threads": 1, "OMP_NUM_THREADS": "1"} for r in records), records


@pytest.mark.parametrize(
    ("launcher", "object_store_memory"),
    [("ray_cluster", None), ("ray", 78643200)],  # the plugin's own asks for 75 MB: a running cluster refuses
)
def test_the_ray_launchers_call_ray_init_with_the_cluster_address(
    tmp_path, monkeypatch, launcher, object_store_memory
):
    cfg = store.compose(
        [f"hydra/launcher={launcher}", "hydra.launcher.ray.init.address=ray://head:10001"],
        return_hydra_config=True,
    )
    cfg.hydra.sweep.dir = str(tmp_path / "sweep")
    import ray  # after composing: Hydra's first plugin scan (re)loads the plugins' modules
    from hydra_plugins.hydra_ray_launcher import _core
    from hydra_plugins.hydra_ray_launcher.ray_launcher import RayLauncher

    ray_launcher = instantiate(cfg.hydra.launcher)
    assert isinstance(ray_launcher, RayLauncher)
    ray_launcher.setup(hydra_context=object(), task_function=print, config=cfg)
    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs))
    assert _core.launch(ray_launcher, job_overrides=[], initial_job_idx=0) == []
    assert calls == [{"address": "ray://head:10001", "object_store_memory": object_store_memory}]


def slurm_sweep(tmp_path: Path, monkeypatch, *overrides: str) -> tuple[object, list, str]:
    """Launch a two-job sweep with hydra/launcher=slurm up to submission, with `sbatch` replaced by an echo
    of its answer and no waiting for results; the launcher, the jobs submitit made and the sbatch script."""
    cfg = store.compose(
        ["hydra/launcher=slurm", f"hydra.sweep.dir={tmp_path / 'sweep'}", "data=digits", *overrides],
        return_hydra_config=True,
    )
    # Imported after composing: Hydra's first plugin scan (re)loads the plugins' modules.
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
    from submitit.slurm.slurm import SlurmExecutor, SlurmJob

    launcher = instantiate(cfg.hydra.launcher)
    assert isinstance(launcher, SlurmLauncher)
    launcher.setup(hydra_context=None, task_function=print, config=cfg)
    monkeypatch.setattr(SlurmExecutor, "affinity", classmethod(lambda cls: 1))  # as if srun were here
    monkeypatch.setattr(
        SlurmExecutor, "_make_submission_command", lambda self, path: ["echo", "Submitted batch job 4242"]
    )
    jobs = []
    monkeypatch.setattr(SlurmJob, "results", lambda self: jobs.append(self) or [None])
    launcher.launch([["dropout=0.0"], ["dropout=0.5"]], initial_job_idx=0)
    script = tmp_path / "sweep" / ".submitit" / "4242" / "4242_submission.sh"  # submitit's copy of it
    return launcher, jobs, script.read_text()


def test_the_slurm_launcher_submits_an_array_whose_signals_requeue_and_resume(tmp_path, monkeypatch):
    from submitit.helpers import DelayedSubmission

    launcher, jobs, script = slurm_sweep(
        tmp_path, monkeypatch, "hydra.launcher.partition=gpu", "hydra.launcher.timeout_min=90"
    )
    assert [j.job_id for j in jobs] == ["4242_0", "4242_1"]
    # What each array task runs: the launcher with the job's overrides (the same run folder when requeued).
    submitted = [DelayedSubmission.load(j.paths.submitted_pickle) for j in jobs]
    assert [type(s.function) for s in submitted] == [type(launcher)] * 2
    assert [s.args[0] for s in submitted] == [["dropout=0.0"], ["dropout=0.5"]]
    lines = set(script.splitlines())
    for line in (
        "#SBATCH --partition=gpu",
        "#SBATCH --time=90",
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=32GB",
        "#SBATCH --array=0-1%2",
        "#SBATCH --signal=USR1@120",
        "#SBATCH --requeue",
        "#SBATCH --export=ALL,SUBMITIT_PREEMPT_SIGNAL=USR1",
    ):
        assert line in lines, (line, script)
    assert "USR2" not in script
    # The signal SLURM sends before the time limit is one the run catches to save last.ckpt ...
    assert signal.SIGUSR1 in SIGNALS
    # ... and the one that submitit's own handler takes in the job (outside training), from the export line.
    job_side = subprocess.run(
        [
            sys.executable,
            "-c",
            "from submitit.slurm.slurm import SlurmJobEnvironment as E; print(E._usr_sig().name)",
        ],
        env={**os.environ, "SUBMITIT_PREEMPT_SIGNAL": "USR1"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert job_side.stdout.strip() == "SIGUSR1"
    # submitit's requeue resubmits the same job (the same overrides: the same run folder, which resumes),
    # at most max_num_timeout times after the time limit.
    assert launcher.params["max_num_timeout"] == 20
    requeued = launcher.checkpoint(["dropout=0.5"], "hydra.sweep.dir", 1, "job_id_for_1", {})
    assert requeued.function is launcher and requeued.args[0] == ["dropout=0.5"]


def test_the_slurm_launcher_takes_a_cpu_only_setting(tmp_path, monkeypatch):
    _, _, script = slurm_sweep(
        tmp_path, monkeypatch, "hydra.launcher.gpus_per_node=null", "hydra.launcher.partition=cpu"
    )
    assert "--gpus-per-node" not in script and "#SBATCH --partition=cpu" in script.splitlines()
