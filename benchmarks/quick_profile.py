"""Wall time of the quick profile: every recipe's `wall_time_s` and their total, against 15 minutes.

Reads the records that `python -m mde_exp.reproduce --profile quick --out DIR` wrote (DIR/<id>.json, each
with its recipe's `wall_time_s`), or with `--run` first runs that command itself into DIR (a fresh
temporary run store unless --runs is given, so that every run trains rather than being read back; the
whole quick profile takes about 19 minutes on a 2-core CPU, 10 with `--jobs 2`; `--only` picks recipes
for a check).
Prints the slowest recipes and, on one line, the total against the target (all recipes of the quick
profile in 15 minutes); the numbers go to benchmarks/results/<device>.json (key quick_profile). Without
records (no DIR, or none from the quick profile) it says so and exits 0, so `make bench` goes on.

    python benchmarks/quick_profile.py [--dir figures]                          # read the records there
    python benchmarks/quick_profile.py --run --only fig-2.3,fig-2.4 --dir /tmp/q  # run, then read
    python benchmarks/quick_profile.py --run --jobs 2 --dir /tmp/q           # all, 2 at once
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from benchlib.results import record  # noqa: E402
from mde_exp.recipes import load_recipes  # noqa: E402
from mde_exp.report import read_records as read_report_records  # noqa: E402

TARGET_S = 15 * 60
PROFILE = "quick"


def read_records(folder: Path, only: list[str] | None = None) -> dict[str, float]:
    """Seconds per recipe id from the quick-profile records in `folder` (restricted to `only`), read as the
    report reads them."""
    return {
        r["id"]: float(r["wall_time_s"])
        for r in read_report_records(folder)
        if r.get("profile") == PROFILE and "wall_time_s" in r and (only is None or r["id"] in only)
    }


def run_profile(folder: Path, only: str | None, runs: Path | None, jobs: int = 1) -> float:
    """Run the quick profile (or `only` its recipes) into `folder`, `jobs` recipes at a time; the
    process's wall seconds."""
    command = [
        sys.executable,
        "-m",
        "mde_exp.reproduce",
        "--profile",
        PROFILE,
        "--out",
        str(folder),
        "--rerun",
        "--jobs",
        str(jobs),
    ]
    if only:
        command += ["--only", only]
    with tempfile.TemporaryDirectory() as fresh:
        env = {
            **os.environ,
            "MDE_EXP_RUNS": str(runs or fresh),
            "WANDB_MODE": "offline",
            "WANDB_SILENT": "true",
        }
        start = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1: a recipe's claim failed; its time still counts
        sys.exit(f"reproduce failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("figures"), help="the reproduce --out folder")
    parser.add_argument("--run", action="store_true", help="run the quick profile into --dir first")
    parser.add_argument("--only", help="comma-separated recipe ids (with --run: run only these)")
    parser.add_argument(
        "--runs", type=Path, help="with --run: the run store (default: a fresh temporary one)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="with --run: recipes at once (reproduce --jobs)")
    parser.add_argument("--top", type=int, default=8, help="how many of the slowest recipes to list")
    parser.add_argument("--no-record", action="store_true", help="do not write benchmarks/results")
    args = parser.parse_args()
    process_s = run_profile(args.dir, args.only, args.runs, args.jobs) if args.run else None
    only = args.only.split(",") if args.only else None
    times = read_records(args.dir, only) if args.dir.is_dir() else {}
    if not times:
        print(
            f"quick_profile: no quick-profile records in {args.dir} (run `python -m mde_exp.reproduce "
            f"--profile quick --out {args.dir}`, or this script with --run)"
        )
        return
    total = sum(times.values())
    expected = len(load_recipes()) if only is None else len(only)
    missing = expected - len(times)
    for rid, seconds in sorted(times.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"  {rid:28s} {seconds:8.1f} s")
    extra = f"; the reproduce process took {process_s:.0f} s" if process_s is not None else ""
    subset = "" if only is None else " (a subset: --only)"
    if missing > 0:
        verdict = f"INCOMPLETE: {missing} of {expected} recipes have no quick-profile record"
    else:
        # The wall time of the command when this script ran it (with --jobs > 1 less than the sum).
        wall = process_s if process_s is not None else total
        verdict = "ok" if wall <= TARGET_S else "OVER TARGET"
    print(
        f"quick_profile: {len(times)} recipes{subset} in {total / 60:.1f} min (sum of wall_time_s{extra}) "
        f"(target: all recipes <= {TARGET_S // 60} min) {verdict}"
    )
    if not args.no_record:
        record(
            "quick_profile",
            {
                "recipes": len(times),
                "recipes_expected": expected,
                "subset": only,
                "total_s": round(total, 1),
                "target_s": TARGET_S,
                "process_s": None if process_s is None else round(process_s, 1),
                "jobs": args.jobs if args.run else None,
                "per_recipe_s": times,
            },
        )


if __name__ == "__main__":
    main()
