"""`python -m mde_exp.reproduce`: runs the recipes, writes figures/<id>.{png,pdf,json} and the report.

A recipe whose record in --out passed in the same profile with the same overrides is skipped
("skipped (done)"); --rerun runs it again. Either way each training run goes through the run store,
which skips runs it has finished: a rerun redraws the figure and rechecks its claims from the stored
runs (point store.root= at a new folder, or delete the runs, to train again).
"""

import argparse
import json
import logging
import shlex
import sys
import time
import traceback
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from mde_exp.errors import UserError
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


def main(argv: list[str] | None = None) -> int:
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
        recipes = select(recipes, args.only, args.chapter)
        check_overrides(args.overrides, args.profile)
        if args.profile == "full":
            check_full_data(recipes, args.overrides)
    except UserError as err:
        console.print(f"mde_exp.reproduce: error: {err}", markup=False, highlight=False, soft_wrap=True)
        return 2
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
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
        for recipe in recipes.values():
            progress.update(task, description=f"{recipe.id}")
            if recipe.id in done:
                outcomes["skipped"] = outcomes.get("skipped", 0) + 1
                progress.console.print(f"{recipe.id:<14} [yellow]skipped (done)[/]  (--rerun runs it again)")
                progress.advance(task)
                continue
            started = time.time()
            record = {
                "id": recipe.id,
                "title": recipe.title,
                "book_ref": recipe.book_ref,
                "chapter": recipe.chapter,
                "claim": recipe.claim,
                "profile": args.profile,
                "overrides": args.overrides,
                "command": shlex.join(
                    [
                        "python",
                        "-m",
                        "mde_exp.reproduce",
                        "--only",
                        recipe.id,
                        "--profile",
                        args.profile,
                        "--rerun",
                        *args.overrides,
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
            args.out.mkdir(parents=True, exist_ok=True)
            write_json(args.out / f"{recipe.id}.json", record)
            log_figure_run(record, args.out, args.overrides)
            outcomes[status] = outcomes.get(status, 0) + 1
            mark = {"pass": "[green]pass[/]", "fail": "[red]FAIL[/]", "error": "[red]ERROR[/]"}[status]
            progress.console.print(f"{recipe.id:<14} {mark}  {record['wall_time_s']:.1f} s")
            if status == "error":
                progress.console.print(record["error"].strip().splitlines()[-1])
            progress.advance(task)
    args.out.mkdir(parents=True, exist_ok=True)
    report = write_report(args.out)
    elapsed = time.time() - started_all
    summary = f"{summary_line(outcomes, len(recipes))} in {elapsed:.0f} s; report: {report}"
    console.print(summary, soft_wrap=True)
    return 1 if outcomes.get("fail") or outcomes.get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
