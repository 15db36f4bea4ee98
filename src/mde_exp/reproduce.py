"""`python -m mde_exp.reproduce`: runs the recipes, writes figures/<id>.{png,pdf,json} and the report.

A recipe whose record in --out passed in the same profile with the same overrides is skipped
("skipped (done)"); --rerun runs it again. Either way each training run goes through the run store,
which skips runs it has finished: a rerun redraws the figure and rechecks its claims from the stored
runs (point store.root= at a new folder, or delete the runs, to train again).
"""

import argparse
import functools
import json
import logging
import multiprocessing
import os
import shlex
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from mde_exp.errors import UserError
from mde_exp.quiet import quiet_library_warnings
from mde_exp.recipes import PROFILES, Recipe, RecipeContext, load_recipes
from mde_exp.report import write_report
from mde_exp.reproduce_checks import check_full_data, check_overrides, select
from mde_exp.store import write_json
from mde_exp.wandb_figures import log_figure_run


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mde_exp.reproduce", description=__doc__)
    p.add_argument(
        "--profile",
        choices=PROFILES,
        default="quick",
        help="quick: CPU, embedded data, minutes; full: book scale, full data, GPU; tiny: tests",
    )
    p.add_argument("--only", help="comma-separated recipe ids (see --list)")
    p.add_argument("--chapter", help="comma-separated book chapters, e.g. 2 or 2,3 (with --only: either)")
    p.add_argument(
        "--rerun",
        action="store_true",
        help="run recipes whose record in --out already passed in this profile (without it they are "
        "skipped); stored training runs are reused either way",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="recipes run at once, each in its own process with cores/jobs torch threads (default 1)",
    )
    p.add_argument("--out", type=Path, default=Path("figures"), help="where figures and the report go")
    p.add_argument("--list", action="store_true", help="list the recipes and exit")
    p.add_argument(
        "overrides", nargs="*", help="Hydra overrides added to every training run (e.g. logger=none)"
    )
    return p


def is_done(out: Path, recipe: Recipe, profile: str, overrides: list[str]) -> bool:
    """Whether `out` holds a passing record of `recipe` from `profile` and `overrides`, with its figure."""
    path = out / f"{recipe.id}.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict)
        and record.get("status") == "pass"
        and record.get("profile") == profile
        and record.get("overrides", []) == overrides
        and (out / f"{recipe.id}.png").is_file()
    )


def summary_line(outcomes: dict[str, int], total: int) -> str:
    """The closing count: pass, fail, error and skipped (done) of the recipes selected."""
    parts = [f"{outcomes.get(s, 0)} {s}" for s in ("pass", "fail", "error")]
    return f"{', '.join(parts)}, {outcomes.get('skipped', 0)} skipped (done) of {_recipes(total)}"


def _recipes(n: int) -> str:
    return f"{n} recipe{'' if n == 1 else 's'}"


def run_recipe(recipe: Recipe, ctx: RecipeContext, out: Path) -> dict:
    """Run one recipe, write its record `out/<id>.json` (and its W&B figure run) and return the record;
    a recipe that raises is recorded with status "error" (the others still run)."""
    started = time.time()
    record = {
        "id": recipe.id,
        "title": recipe.title,
        "book_ref": recipe.book_ref,
        "chapter": recipe.chapter,
        "claim": recipe.claim,
        "profile": ctx.profile,
        "overrides": list(ctx.overrides),
        "command": shlex.join(
            [
                "python",
                "-m",
                "mde_exp.reproduce",
                "--only",
                recipe.id,
                "--profile",
                ctx.profile,
                "--rerun",
                *ctx.overrides,
            ]
        ),  # fmt: skip
    }
    try:
        output = recipe.run(ctx.for_recipe(recipe))
        status = "pass" if all(c.passed for c in output.claims) and output.claims else "fail"
        record.update(
            status=status,
            claims=[c.to_dict() for c in output.claims],
            values=output.values,
            runs=output.runs,
            figure=output.figure.name,
        )
    except Exception as err:  # one broken recipe is reported; the others still run
        status = "error"
        record.update(status=status, claims=[], error="".join(traceback.format_exception(err)))
    record["wall_time_s"] = round(time.time() - started, 2)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / f"{recipe.id}.json", record)
    log_figure_run(record, out, list(ctx.overrides))
    return record


def _run_in_worker(recipe_id: str, profile: str, overrides: list[str], out: Path, threads: int) -> dict:
    """run_recipe in a worker process of a parallel reproduction (--jobs), with `threads` torch threads."""
    import torch

    torch.set_num_threads(threads)
    quiet_library_warnings()
    _quiet_lightning()
    recipe = _recipes_by_id()[recipe_id]
    return run_recipe(recipe, RecipeContext(profile=profile, out_dir=out, overrides=overrides), out)


@functools.cache
def _recipes_by_id() -> dict[str, Recipe]:
    return load_recipes()


def _quiet_lightning() -> None:
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _run_parallel(todo: list[Recipe], args: argparse.Namespace, progress, task, finished) -> None:
    """Run `todo` in `args.jobs` worker processes (spawned: each imports torch afresh), the longest
    recipes first (by their quick-profile estimate) so that the last ones to finish are short; the
    run store's lock keeps two recipes from training the same run at once."""
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    longest_first = sorted(todo, key=lambda r: -r.minutes_quick)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool:
        futures = {
            pool.submit(_run_in_worker, r.id, args.profile, args.overrides, args.out, threads): r
            for r in longest_first
        }
        progress.update(task, description=f"{args.jobs} at a time")
        for future in as_completed(futures):
            finished(future.result())


def main(argv: list[str] | None = None) -> int:
    quiet_library_warnings()
    args = _parser().parse_args(argv)
    console = Console(stderr=True)
    recipes = load_recipes()
    if args.list:
        for r in recipes.values():
            print(f"{r.id:<18} {r.book_ref:<28} ~{r.minutes_quick:g} min quick  {r.title}")
        total = sum(r.minutes_quick for r in recipes.values())
        print(f"{len(recipes)} recipes, ~{total:.0f} min in the quick profile on a 2-core CPU")
        return 0
    try:
        if args.jobs < 1:
            raise UserError(f"--jobs {args.jobs}: give how many recipes run at once, 1 or more")
        recipes = select(recipes, args.only, args.chapter)
        check_overrides(args.overrides, args.profile)
        if args.profile == "full":
            check_full_data(recipes, args.overrides)
    except UserError as err:
        console.print(f"mde_exp.reproduce: error: {err}", markup=False, highlight=False, soft_wrap=True)
        return 2
    _quiet_lightning()
    ctx = RecipeContext(profile=args.profile, out_dir=args.out, overrides=args.overrides)
    done = (
        set()
        if args.rerun
        else {rid for rid, r in recipes.items() if is_done(args.out, r, args.profile, args.overrides)}
    )
    if args.rerun:
        console.print(
            f"--rerun: running {_recipes(len(recipes))} again (figures and claim checks); finished training "
            "runs in the store are reused, not retrained (store.root=<new folder> trains afresh)",
            soft_wrap=True,
        )
    outcomes: dict[str, int] = {}
    started_all = time.time()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("reproducing", total=len(recipes))

        def finished(record: dict) -> None:
            status = record["status"]
            outcomes[status] = outcomes.get(status, 0) + 1
            mark = {"pass": "[green]pass[/]", "fail": "[red]FAIL[/]", "error": "[red]ERROR[/]"}[status]
            progress.console.print(f"{record['id']:<14} {mark}  {record['wall_time_s']:.1f} s")
            if status == "error":
                progress.console.print(record["error"].strip().splitlines()[-1])
            progress.advance(task)

        for rid in (rid for rid in recipes if rid in done):  # in book order
            outcomes["skipped"] = outcomes.get("skipped", 0) + 1
            progress.console.print(f"{rid:<14} [yellow]skipped (done)[/]  (--rerun runs it again)")
            progress.advance(task)
        todo = [r for r in recipes.values() if r.id not in done]
        if args.jobs == 1:
            for recipe in todo:
                progress.update(task, description=recipe.id)
                finished(run_recipe(recipe, ctx, args.out))
        else:
            _run_parallel(todo, args, progress, task, finished)
    args.out.mkdir(parents=True, exist_ok=True)
    report = write_report(args.out)
    elapsed = time.time() - started_all
    summary = f"{summary_line(outcomes, len(recipes))} in {elapsed:.0f} s; report: {report}"
    console.print(summary, soft_wrap=True)
    return 1 if outcomes.get("fail") or outcomes.get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
