"""`python -m mde_exp.reproduce`: runs the recipes, writes figures/<id>.{png,pdf,json} and the report."""

import argparse
import logging
import sys
import time
import traceback
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from mde_exp.recipes import PROFILES, RecipeContext, load_recipes
from mde_exp.report import write_report
from mde_exp.store import write_json


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mde_exp.reproduce", description=__doc__)
    p.add_argument(
        "--profile",
        choices=PROFILES,
        default="quick",
        help="quick: CPU, embedded data, minutes; full: book scale, full data, GPU; tiny: tests",
    )
    p.add_argument("--only", help="comma-separated recipe ids (see --list)")
    p.add_argument("--out", type=Path, default=Path("figures"), help="where figures and the report go")
    p.add_argument("--list", action="store_true", help="list the recipes and exit")
    p.add_argument(
        "overrides", nargs="*", help="Hydra overrides added to every training run (e.g. logger=none)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(stderr=True)
    recipes = load_recipes()
    if args.list:
        for r in recipes.values():
            print(f"{r.id:<18} {r.book_ref:<28} ~{r.minutes_quick:g} min quick  {r.title}")
        return 0
    if args.only:
        wanted = [i.strip() for i in args.only.split(",") if i.strip()]
        unknown = [i for i in wanted if i not in recipes]
        if unknown:
            console.print(
                f"mde_exp.reproduce: error: unknown recipe id {', '.join(unknown)}; "
                f"known: {', '.join(recipes)}"
            )
            return 2
        recipes = {i: recipes[i] for i in wanted}
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    ctx = RecipeContext(profile=args.profile, out_dir=args.out, overrides=args.overrides)
    failures = 0
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
            started = time.time()
            record = {
                "id": recipe.id,
                "title": recipe.title,
                "book_ref": recipe.book_ref,
                "chapter": recipe.chapter,
                "claim": recipe.claim,
                "profile": args.profile,
                "command": f"python -m mde_exp.reproduce --only {recipe.id} --profile {args.profile}",
            }
            try:
                output = recipe.run(ctx)
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
            failures += status != "pass"
            mark = {"pass": "[green]pass[/]", "fail": "[red]FAIL[/]", "error": "[red]ERROR[/]"}[status]
            progress.console.print(f"{recipe.id:<14} {mark}  {record['wall_time_s']:.1f} s")
            if status == "error":
                progress.console.print(record["error"].strip().splitlines()[-1])
            progress.advance(task)
    report = write_report(args.out)
    console.print(f"{len(recipes) - failures} of {len(recipes)} recipes pass; report: {report}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
