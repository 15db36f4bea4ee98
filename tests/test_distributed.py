"""One run on several processes (trainer=ddp, ddp_cpu): the global batch shared out by TensorBatches, the
trainer options, the checks that refuse what cannot run on several processes, and (slow) a two-process
CPU run that must take the same steps as a one-process run and leave one complete run folder."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch.strategies import DDPStrategy
from omegaconf import OmegaConf

from mde_exp import store
from mde_exp.data.batches import TensorBatches
from mde_exp.distributed import check_multirun, is_multi_process, is_rank_zero
from mde_exp.errors import ConfigError
from mde_exp.validate import check_config

from .conftest import run_cli


def _tensors(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.arange(n, dtype=torch.float32).unsqueeze(1), torch.arange(n)


def _epoch(batches: TensorBatches) -> list[torch.Tensor]:
    return [labels for _, labels in batches]


@pytest.mark.parametrize("world_size", [2, 4])
def test_ranks_together_take_exactly_the_single_process_batches(world_size):
    n, batch = 96, 16
    single = _epoch(TensorBatches(_tensors(n), batch, shuffle=True, seed=3))
    shares = [
        _epoch(
            TensorBatches(_tensors(n), batch, shuffle=True, seed=3, rank=r, world_size=world_size, pad=True)
        )
        for r in range(world_size)
    ]
    assert all(len(s) == len(single) for s in shares)  # every rank takes every step
    for step, whole in enumerate(single):
        parts = [s[step] for s in shares]
        assert [len(p) for p in parts] == [batch // world_size] * world_size
        assert torch.equal(torch.cat(parts), whole)  # same examples, same order: the same global batch


def test_a_last_batch_that_does_not_share_out_is_padded_in_training_and_cut_in_evaluation():
    n, batch = 21, 8  # batches of 8, 8, 5: the last gives shares of 3 and 2
    single = _epoch(TensorBatches(_tensors(n), batch, shuffle=True, seed=1))
    train = [
        _epoch(TensorBatches(_tensors(n), batch, True, 1, rank=r, world_size=2, pad=True)) for r in (0, 1)
    ]
    assert [len(p) for p in (train[0][-1], train[1][-1])] == [3, 3]
    assert set(torch.cat([train[0][-1], train[1][-1]]).tolist()) == set(single[-1].tolist())
    evaluation = [_epoch(TensorBatches(_tensors(n), batch, rank=r, world_size=2)) for r in (0, 1)]
    seen = torch.cat([labels for share in evaluation for labels in share])
    assert sorted(seen.tolist()) == list(range(n))  # every example once: reduced metrics are exact
    tiny = [_epoch(TensorBatches(_tensors(3), 8, rank=r, world_size=4)) for r in range(4)]
    assert [len(share) for share in tiny] == [1, 1, 1, 0]  # an empty share is skipped, not an empty batch


def test_a_resumed_rank_skips_the_batches_done():
    whole = _epoch(TensorBatches(_tensors(64), 8, True, 5, rank=1, world_size=2, pad=True))
    resumed = TensorBatches(_tensors(64), 8, True, 5, rank=1, world_size=2, pad=True)
    resumed.load_state_dict({"epoch": 0, "batches_done": 3})
    assert [t.tolist() for t in _epoch(resumed)] == [t.tolist() for t in whole[3:]]


def test_a_rank_outside_the_world_is_refused():
    with pytest.raises(ValueError, match="rank 2"):
        TensorBatches(_tensors(8), 4, rank=2, world_size=2)


@pytest.mark.parametrize(
    ("overrides", "processes"),
    [
        (["trainer=ddp_cpu"], 2),
        (["trainer=ddp", "trainer.accelerator=cpu"], 2),
        (["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=3", "trainer.num_nodes=2"], 6),
    ],
)
def test_ddp_options_compose_and_build_a_ddp_trainer(overrides, processes):
    cfg = store.compose(overrides)
    assert is_multi_process(cfg.trainer)
    trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    assert isinstance(trainer, L.Trainer) and isinstance(trainer.strategy, DDPStrategy)
    assert trainer.world_size == processes
    assert trainer.max_epochs == cfg.profile.max_epochs
    if overrides[0] == "trainer=ddp_cpu":
        assert trainer.strategy._get_process_group_backend() == "gloo"


@pytest.mark.parametrize("option", ["cpu", "default", "gpu"])
def test_single_process_trainers_are_not_multi_process(option):
    assert not is_multi_process(store.compose([f"trainer={option}"]).trainer)


@pytest.mark.parametrize(
    "env",
    [{}, {"LOCAL_RANK": "1"}, {"SLURM_PROCID": "3"}, {"RANK": "1"}, {"NODE_RANK": "1", "LOCAL_RANK": "0"}],
)
def test_only_the_first_process_is_rank_zero(monkeypatch, env):
    for name in ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert is_rank_zero() == (not env)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["data=digits", "data.batch_size=63"],
            "data.batch_size=63 is the global batch and must be divisible",
        ),
        (["data=karate", "model=gcn"], "KarateClubDataModule is not shared out across processes"),
        (["data=digits", "optimizer=newton", "model=softmax_regression"], "would drift apart"),
        (["data=digits", "trainer.strategy=ddp_spawn"], "start the processes with strategy=ddp"),
    ],
)
def test_what_cannot_run_on_several_processes_is_refused(tmp_path, overrides, message):
    cfg = store.compose([*overrides, "trainer=ddp_cpu", "logger=none", f"store.root={tmp_path}"])
    with pytest.raises(ConfigError, match=message):
        check_config(cfg)


def test_a_ddp_run_in_a_sweep_is_refused_before_hydra(tmp_path):
    result = run_cli(["data=digits", "trainer=ddp_cpu", "seed=0,1", "-m", "logger=none"], cwd=tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "trainer=ddp_cpu runs one job on several processes" in line
    assert "BasicLauncher" in line and "without -m" in line
    assert not (tmp_path / "runs").exists()


def _run(tmp_path, trainer: str) -> tuple[dict, dict]:
    """One epoch of the MLP on 1,024 digits (16 full global batches of 64) with `trainer`."""
    root = tmp_path / trainer
    args = ["data=digits", "data.train_size=1024", "model=mlp", "trainer.max_epochs=1", "logger=none"]
    result = run_cli([*args, f"trainer={trainer}", f"store.root={root}"], cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = list(root.rglob("summary.json"))
    assert len(summaries) == 1 and len(list(root.rglob("metrics.csv"))) == 1
    weights = torch.load(summaries[0].parent / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    return json.loads(summaries[0].read_text()), weights


@pytest.mark.slow
def test_two_cpu_processes_take_the_steps_of_one(tmp_path):
    single, single_weights = _run(tmp_path, "cpu")
    ddp, ddp_weights = _run(tmp_path, "ddp_cpu")
    assert ddp["status"] == "finished" and ddp["attempt"] == 1
    assert ddp["global_step"] == single["global_step"] == 16  # the global batch: same number of steps
    assert set(ddp["metrics"]) == set(single["metrics"])
    # Same examples in every step; only the order of float32 sums differs (the gradient is averaged over
    # two halves of the batch): measured differences are ~5e-7 in the losses and ~1e-7 in the weights.
    for key, value in single["metrics"].items():
        if key.endswith("/acc"):  # a prediction on the decision boundary may flip: one example of 360
            assert abs(ddp["metrics"][key] - value) <= 1 / 360 + 1e-6, key
        else:
            assert ddp["metrics"][key] == pytest.approx(value, abs=1e-5), key
    for name, tensor in single_weights.items():
        assert torch.allclose(ddp_weights[name], tensor, atol=1e-5), name
    run_dir = next((tmp_path / "ddp_cpu").rglob("summary.json")).parent
    with (run_dir / "metrics.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    for key in ("train/loss_epoch", "val/acc", "train_eval/loss", "test/acc"):  # one writer: each once
        assert sum(1 for row in rows if row[key]) == 1, key
    assert {"config.yaml", "summary.json", "metrics.csv", "checkpoints"} <= {
        p.name for p in run_dir.iterdir()
    }


@pytest.mark.parametrize(
    ("launcher", "expected"),
    [
        ({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}, "BasicLauncher"),
        (
            {"_target_": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"},
            "JoblibLauncher",
        ),
        (
            {"_target_": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"},
            "tasks_per_node=2",
        ),
        (
            {
                "_target_": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher",
                "tasks_per_node": 2,
            },
            None,
        ),
    ],
)
def test_a_sweep_of_ddp_runs_needs_a_launcher_that_gives_each_its_processes(launcher, expected):
    trainer = store.compose(["trainer=ddp_cpu"]).trainer
    if expected is None:
        check_multirun(trainer, OmegaConf.create(launcher), "ddp_cpu")
    else:
        with pytest.raises(ConfigError, match=expected):
            check_multirun(trainer, OmegaConf.create(launcher), "ddp_cpu")
    check_multirun(store.compose(["trainer=cpu"]).trainer, OmegaConf.create(launcher), "cpu")  # one process


def _children(pid: int) -> list[int]:
    """The direct child processes of `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
def test_a_signal_to_one_process_of_a_ddp_run_stops_both_at_the_same_step_and_the_rerun_resumes(tmp_path):
    """SIGTERM to the second process only: the processes agree on it (preemption.AGREE_EVERY_N_STEPS),
    save one checkpoint together and stop; without the agreement the first process would wait forever
    in the collective save."""
    repo = Path(__file__).resolve().parents[1]
    args = ["data=digits", "data.train_size=1024", "model=mlp", "trainer=ddp_cpu", "trainer.max_epochs=4",
            "logger=none", f"store.root={tmp_path}", "+callbacks.slow._target_=tests.helpers.SlowSteps",
            "+callbacks.slow.seconds=0.05"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(repo), "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    process = subprocess.Popen(
        [sys.executable, "-m", "mde_exp", *args], cwd=repo, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.time() + 240
    while not list(tmp_path.glob("default/*/checkpoints/last.ckpt")):  # the first epoch is done
        assert process.poll() is None and time.time() < deadline, process.communicate()[0][-3000:]
        time.sleep(0.05)
    (worker,) = [pid for pid in _children(process.pid) if "LOCAL_RANK=1" in _environ(pid)]
    os.kill(worker, signal.SIGTERM)
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 143, out[-3000:]
    (summary_path,) = tmp_path.rglob("summary.json")
    stopped = json.loads(summary_path.read_text())
    assert stopped["status"] == "preempted" and 16 < stopped["preempted_at_step"] < 64
    rerun = subprocess.run(
        [sys.executable, "-m", "mde_exp", *args],
        cwd=repo,
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    resumed = json.loads(summary_path.read_text())
    assert resumed["status"] == "finished" and resumed["global_step"] == 64
    assert resumed["resumed_from_step"] == stopped["preempted_at_step"]


def _environ(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/environ").read_text(errors="replace").replace("\0", " ")
    except OSError:
        return ""
