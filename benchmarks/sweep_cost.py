"""Seconds per job of a sweep's fixed cost: a 12-job in-process sweep of 1-batch runs.

`python -m mde_exp -m seed=0,...,11` (Hydra's basic launcher: one process runs the jobs one after the
other) with every run cut to one training, one validation and one test batch of the default MLP on
mnist_5k, W&B offline: what remains is each job's fixed cost (composing and checking its config, building
data, model and Trainer, starting and finishing its W&B run, the CSV, checkpoint and summary writes,
teardown). The process's wall time (interpreter start and imports included) over the jobs is the number;
each run's own `wall_time_s` (summary.json: from the run's start to its teardown) is shown beside it.
Target: at most 2 s per job. The result goes to benchmarks/results/<device>.json (key sweep_cost).

    python benchmarks/sweep_cost.py [--jobs 12] [--model mlp] [--data mnist_5k]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from benchlib.results import record  # noqa: E402

TARGET_S = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--data", default="mnist_5k")
    parser.add_argument("--no-record", action="store_true", help="do not write benchmarks/results")
    args = parser.parse_args()
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    with tempfile.TemporaryDirectory() as root:
        command = [
            sys.executable, "-m", "mde_exp", "-m", f"seed={','.join(map(str, range(args.jobs)))}",
            f"model={args.model}", f"data={args.data}", "logger=wandb", f"store.root={root}",
            "trainer.max_epochs=1", "+trainer.limit_train_batches=1",
            "+trainer.limit_val_batches=1", "+trainer.limit_test_batches=1",
        ]  # fmt: skip
        start = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode:
            sys.exit(f"sweep failed ({done.returncode}):\n{done.stderr[-3000:]}")
        summaries = [json.loads(p.read_text()) for p in Path(root).glob("default/*/summary.json")]
    statuses = {s["status"] for s in summaries}
    if len(summaries) != args.jobs or statuses != {"finished"}:
        sys.exit(f"expected {args.jobs} finished runs, found {len(summaries)} ({statuses})")
    if any((s.get("wandb") or {}).get("mode") != "offline" for s in summaries):
        sys.exit("a run did not log to W&B offline")
    per_job = seconds / args.jobs
    in_run = [s["wall_time_s"] for s in summaries]
    print(
        f"sweep_cost ({args.jobs} one-batch jobs, W&B offline): {per_job:.2f} s per job "
        f"({seconds:.1f} s in all, process start included; each run {statistics.median(in_run):.2f} s median "
        f"from start to teardown) (target <= {TARGET_S}) {'ok' if per_job <= TARGET_S else 'OVER TARGET'}"
    )
    if not args.no_record:
        record(
            "sweep_cost",
            {"jobs": args.jobs, "seconds_per_job": round(per_job, 3), "total_s": round(seconds, 2),
             "run_wall_time_s_median": statistics.median(in_run), "target_s": TARGET_S},
        )  # fmt: skip


if __name__ == "__main__":
    main()
