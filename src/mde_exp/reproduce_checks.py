"""Checks of a `python -m mde_exp.reproduce` command line before any recipe runs: which recipes it
selects (--only, --chapter), whether the full profile's data sets are there, and the Hydra overrides.
Each mistake raises UserError with a message that says what to do."""

import difflib
import re
from collections.abc import Iterator, Sequence
from typing import Any

from hydra.utils import instantiate

from mde_exp import store
from mde_exp.errors import ConfigError, DataNotFoundError, UserError
from mde_exp.recipes import Recipe

LIST_HINT = "python -m mde_exp.reproduce --list shows every recipe"


def _ids(text: str) -> list[str]:
    return [i.strip() for i in text.split(",") if i.strip()]


def _unknown_id(rid: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(rid, known, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}?" if close else "no recipe has a similar id"
    return f"unknown recipe id {rid}: {hint} ({LIST_HINT})"


def select(recipes: dict[str, Recipe], only: str | None, chapter: str | None) -> dict[str, Recipe]:
    """The recipes that --only (ids) and --chapter (numbers) name, in book order: all without either,
    those that either names with both (their union)."""
    if only is None and chapter is None:
        return recipes
    wanted: set[str] = set()
    if only is not None:
        ids = _ids(only)
        if not ids:
            raise UserError(f"--only names no recipe id; give ids separated by commas ({LIST_HINT})")
        for rid in ids:
            if rid not in recipes:
                raise UserError(_unknown_id(rid, list(recipes)))
        wanted |= set(ids)
    if chapter is not None:
        chapters = sorted({r.chapter for r in recipes.values()})
        have = ", ".join(map(str, chapters))
        for part in _ids(chapter) or [chapter]:
            if not re.fullmatch(r"\d+", part):
                raise UserError(
                    f"--chapter {chapter}: give chapter numbers separated by commas, e.g. --chapter 2 "
                    f"or --chapter 2,3 (chapters with recipes: {have})"
                )
            if int(part) not in chapters:
                raise UserError(f"no recipe in chapter {part}; chapters with recipes: {have}")
            wanted |= {rid for rid, r in recipes.items() if r.chapter == int(part)}
    return {rid: r for rid, r in recipes.items() if rid in wanted}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def full_data_sets(recipe: Recipe) -> list[str]:
    """The data configs (`data=<name>`) a recipe's full profile asks for: the overrides in the "full"
    entry of its module's SETTINGS table (the convention every recipe with profile settings follows)."""
    settings = recipe.run.__globals__.get("SETTINGS")
    if not isinstance(settings, dict) or "full" not in settings:
        return []
    names = {m.group(1) for s in _strings(settings["full"]) if (m := re.fullmatch(r"data=(\w+)", s.strip()))}
    return sorted(names)


def check_full_data(recipes: dict[str, Recipe], overrides: Sequence[str] = ()) -> None:
    """Raise UserError when a selected recipe's full-profile data set is missing: per data set, what is
    missing and where it goes, which recipes need it, and which of the selected recipes can run now."""
    needs: dict[str, list[str]] = {}
    for rid, recipe in recipes.items():
        for name in full_data_sets(recipe):
            needs.setdefault(name, []).append(rid)
    missing: dict[str, str] = {}
    for name in needs:
        cfg = store.compose(["profile=full", f"data={name}", *overrides])
        try:
            instantiate(cfg.data).check_available()
        except DataNotFoundError as err:
            missing[name] = str(err)
    if not missing:
        return
    blocked = {rid for name in missing for rid in needs[name]}
    runnable = [rid for rid in recipes if rid not in blocked]
    lines = [f"--profile full needs data sets that are not here ({len(blocked)} of {len(recipes)} recipes):"]
    by_why: dict[str, list[str]] = {}  # data configs that read the same files (cifar10, cifar3) go together
    for name, why in missing.items():
        by_why.setdefault(why, []).append(name)
    for why, names in by_why.items():
        users = "; ".join(f"data={name} for {', '.join(needs[name])}" for name in names)
        lines.append(f"  {users}:\n    {why}")
    lines.append(
        "Put the files there (MDE_EXP_DATA=<folder> moves every data folder), or run the recipes that "
        + (f"need none of them: --only {','.join(runnable)}" if runnable else "need none of them (none here)")
    )
    raise DataNotFoundError("\n".join(lines))


def check_overrides(overrides: Sequence[str], profile: str) -> None:
    """The Hydra overrides given to every training run: --profile sets the profile, and each override
    must compose and validate with it (the checks `python -m mde_exp` makes before a run)."""
    for override in overrides:
        if "=" not in override and not override.startswith("~"):
            raise ConfigError(
                f"'{override}' is not an override: write key=value (e.g. logger=none); "
                "options start with -- (python -m mde_exp.reproduce --help)"
            )
        if override.split("=", 1)[0].lstrip("+~") == "profile":
            raise ConfigError(f"'{override}': choose the profile with --profile, not as an override")
    if overrides:
        from mde_exp.preflight import check_command_line  # imports Lightning: only when needed

        check_command_line([f"profile={profile}", *overrides])
