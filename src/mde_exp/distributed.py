"""One run on several processes (Lightning's DDP strategy, trainer=ddp or ddp_cpu): which process writes the
run store, how many processes a trainer config asks for, and the checks that refuse, before any work, what
cannot run on several processes.

`data.batch_size` is the GLOBAL batch: each of the k processes takes its 1/k share of every batch
(TensorBatches with rank and world_size), and DDP averages their gradients, so a run on k devices takes
the same optimisation steps as a run on one (up to floating-point summation order).
"""

import os
from typing import Any

from hydra.utils import get_class
from omegaconf import DictConfig

from mde_exp.errors import ConfigError

# Strategies that run one job on several processes (Lightning's names and their registered variants).
_MULTI_PROCESS_STRATEGIES = ("ddp", "fsdp", "deepspeed")
# Launcher-set variables that name a process other than the first (torchrun, SLURM, Lightning's own).
_RANK_VARIABLES = ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK")
# Hydra launchers that give each job its own processes (a SLURM job of trainer.devices tasks a node).
PROCESS_GIVING_LAUNCHERS = ("SlurmLauncher",)


def is_rank_zero() -> bool:
    """Whether this process is the run's first (global rank 0), the one that writes the run store.

    Before the Trainer exists, the rank comes from what the launcher set (Lightning's re-launched children
    have LOCAL_RANK, srun's tasks SLURM_PROCID, torchrun's RANK); after it, Lightning's rank_zero_only
    holds the global rank. A process that is not part of a distributed run is rank zero.
    """
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    if any(int(os.environ.get(name) or 0) != 0 for name in _RANK_VARIABLES):
        return False
    return getattr(rank_zero_only, "rank", 0) == 0


def _device_count(devices: Any) -> int | None:
    """The devices a node uses by the Trainer's `devices` (None: decided at run time, 'auto' or -1)."""
    if isinstance(devices, int) and not isinstance(devices, bool):
        return None if devices == -1 else devices
    if isinstance(devices, str):
        text = devices.strip()
        if text.lstrip("-").isdigit():
            return _device_count(int(text))
        if "," in text:  # "0,1": these GPUs
            return len([d for d in text.split(",") if d.strip()])
        return None
    if devices is None:
        return None
    return len(list(devices))  # a list of device indices


def is_multi_process(trainer: DictConfig) -> bool:
    """Whether a trainer config runs one job on several processes (a DDP-like strategy on more than one
    device or node, or several devices with Lightning's automatic strategy)."""
    strategy = trainer.get("strategy", "auto")
    if isinstance(strategy, DictConfig):  # a strategy built from its class (`_target_`): DDPStrategy, ...
        strategy = str(strategy.get("_target_", "")).rsplit(".", 1)[-1].lower()
    strategy = str(strategy)
    count = _device_count(trainer.get("devices", "auto"))
    nodes = int(trainer.get("num_nodes", 1) or 1)
    if nodes > 1:
        return True
    if strategy.startswith(_MULTI_PROCESS_STRATEGIES):
        return count is None or count > 1
    return strategy == "auto" and count is not None and count > 1


def check_multirun(trainer: DictConfig, launcher: DictConfig, choice: str) -> None:
    """Refuse a multi-process trainer in a sweep whose launcher runs jobs inside one process (basic) or in
    worker processes (joblib, Ray): Lightning's DDP starts the other ranks by re-running the command line,
    which in a sweep would re-run the whole sweep once per rank. A SLURM launcher gives each job its own
    tasks (Lightning's SLURMEnvironment takes them), one per device: tasks_per_node = trainer.devices."""
    if not is_multi_process(trainer):
        return
    name = str(launcher.get("_target_", "")).rsplit(".", 1)[-1]
    if name in PROCESS_GIVING_LAUNCHERS:
        devices, tasks = _device_count(trainer.get("devices", "auto")), launcher.get("tasks_per_node")
        if devices is not None and tasks != devices:
            raise ConfigError(
                f"trainer={choice} runs {devices} processes a node, one per SLURM task: set "
                f"hydra.launcher.tasks_per_node={devices} (and gpus_per_node) to match, not {tasks}"
            )
        return
    raise ConfigError(
        f"trainer={choice} runs one job on several processes, which Lightning starts by re-running the "
        f"command line; in a sweep (-m) with the {name} that would re-run the whole sweep once per "
        f"process. Run each job on its own (without -m), sweep with a single-process trainer "
        f"(trainer=cpu, gpu), or use hydra/launcher=slurm (one SLURM job per run, with "
        f"hydra.launcher.tasks_per_node and gpus_per_node = trainer.devices)"
    )


def check_run_on(cfg: DictConfig, world_size: int) -> None:
    """Refuse, before any work, a run on `world_size` > 1 processes that would not be correct there: a
    global batch that the processes cannot share equally, data not sharded across processes, an optimiser
    that steps on its own process's loss."""
    if world_size <= 1:
        return
    from mde_exp.data.base import TensorSplitsDataModule

    strategy = cfg.trainer.get("strategy", "auto")
    if isinstance(strategy, str) and any(word in strategy for word in ("spawn", "fork", "notebook")):
        raise ConfigError(
            f"trainer.strategy={strategy}: start the processes with strategy=ddp (trainer=ddp or ddp_cpu); "
            f"spawned or forked processes would need the data modules and models pickled"
        )

    data_class = get_class(cfg.data._target_)
    if not issubclass(data_class, TensorSplitsDataModule):
        raise ConfigError(
            f"data {data_class.__name__} is not shared out across processes ({world_size} asked for by "
            f"the trainer): run it on one device (trainer=cpu or gpu); several devices need an in-memory "
            f"data set (TensorSplitsDataModule: images, tabular, generated, sequences)"
        )
    batch = cfg.data.get("batch_size")
    if batch is not None and batch % world_size:
        raise ConfigError(
            f"data.batch_size={batch} is the global batch and must be divisible by the {world_size} "
            f"processes (trainer.devices x trainer.num_nodes), each taking an equal share; "
            f"try data.batch_size={max(world_size, batch // world_size * world_size)}"
        )
    target = str(cfg.optimizer.get("_target_", ""))
    if target.rsplit(".", 1)[-1] in ("ExactLineSearch", "Newton"):
        raise ConfigError(
            f"optimizer {target.rsplit('.', 1)[-1]} steps on its own process's batch loss and would drift "
            f"apart across {world_size} processes: run it on one device"
        )
