"""`python -m mde_exp`: the Hydra entry point (checks the command line, then runs each job)."""

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from mde_exp import ensemble
from mde_exp.distributed import is_rank_zero
from mde_exp.errors import UserError
from mde_exp.paths import config_dir
from mde_exp.preemption import Preempted, exit_code
from mde_exp.preflight import check_command_line
from mde_exp.quiet import quiet_library_warnings
from mde_exp.run import execute
from mde_exp.sweep_outcomes import report, sweep_jobs

log = logging.getLogger("mde_exp")


@hydra.main(config_path=str(config_dir()), config_name="config", version_base=None)
def app(cfg: DictConfig) -> None:
    """One job: a single run, or one member of a sweep (a failure there is recorded and the sweep goes on)."""
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    if multirun:
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    try:
        if ensemble.size(cfg) > 1:  # N members trained as one vectorised model, stored as N runs
            for member in ensemble.execute_ensemble(cfg):
                note = " (already done: skipped)" if member.skipped else ""
                log.info("%s: %s%s%s", member.dir, member.status, _headline(member.metrics), note)
            return
        result = execute(cfg, progress_bar=not multirun)
    except UserError:
        raise
    except Preempted as err:
        # The whole command stops (a sweep too) with the signal's exit code; run it again to resume.
        log.warning("%s; run the same command again to resume it", err)
        sys.exit(exit_code(err.signum))
    except Exception as err:
        if not multirun:
            raise
        log.error("job failed (%s); recorded in the store, the sweep goes on", err)
        return
    if not is_rank_zero():  # under DDP the first process says how the run ended
        return
    note = " (already done: skipped)" if result.skipped else ""
    log.info("%s: %s%s%s", result.dir, result.status, _headline(result.metrics), note)


# The test metric a run's closing line shows, by what the model logs: (key, words), first found wins.
HEADLINES = (
    ("test/acc", "test accuracy"),
    ("test/mse", "test mse"),
    ("test/return", "test return"),
    ("test/pair_acc", "test pair accuracy (same vs different)"),
)


def _headline(metrics: dict[str, float]) -> str:
    for key, words in HEADLINES:
        if key in metrics:
            return f", {words} {metrics[key]:.4f}"
    return ""


def main() -> None:
    """Console entry point: refuse a bad command line in one line (exit 2), else hand it to Hydra; after a
    sweep, print each job's outcome and exit 1 if any job failed (see sweep_outcomes)."""
    quiet_library_warnings()
    try:
        check_command_line(sys.argv[1:])
    except UserError as err:
        print(f"mde_exp: error: {err}", file=sys.stderr)
        sys.exit(2)
    jobs = sweep_jobs(sys.argv[1:])
    try:
        app()
    except SystemExit as stop:
        if jobs and stop.code not in (0, None):  # preempted mid-sweep: say where each job stands
            report(jobs)
        raise
    if jobs:
        sys.exit(report(jobs))


if __name__ == "__main__":
    main()
