"""`python -m mde_exp.dashboards`: a W&B workspace with one section per book chapter (wandb-workspaces).

Each chapter's section has its recipes' figures and claim tables (from their figure runs,
`mde_exp.wandb_figures`) and line plots of val/acc and train/loss against the epoch, grouped by
experiment. Needs the `dashboards` extra (`pip install mde_exp[dashboards]`) and, to save the
workspace, W&B credentials; without them (or with `--dry-run`) it prints the sections it would save.
W&B applies a workspace's run filter to all its panels, so a chapter's section shows every run that
has those keys; `--chapter N` makes a workspace of chapter N's section alone, its runs filtered by the
`chapter-<n>` tag.
"""

import argparse
import sys
from collections import defaultdict
from typing import Any

from omegaconf import OmegaConf

from mde_exp.loggers import resolve_wandb_mode
from mde_exp.paths import config_dir
from mde_exp.recipes import Recipe, load_recipes

TRAINING_METRICS = ("val/acc", "train/loss_epoch")


def _workspaces() -> tuple[Any, Any]:
    try:
        import wandb_workspaces.reports.v2 as wr
        import wandb_workspaces.workspaces as ws
    except ImportError as err:
        raise SystemExit(
            f"mde_exp.dashboards: error: {err.name} is missing; "
            "install the extra: pip install 'mde_exp[dashboards]'"
        ) from err
    return ws, wr


def experiments_by_figure() -> dict[str, list[str]]:
    """The experiments (conf/experiment/*.yaml) whose runs each figure id uses, by their `figure_id`."""
    out: dict[str, list[str]] = defaultdict(list)
    for path in sorted((config_dir() / "experiment").glob("*.yaml")):
        cfg = OmegaConf.load(path)
        if cfg.get("figure_id"):
            out[str(cfg.figure_id)].append(str(cfg.get("experiment", path.stem)))
    return dict(out)


def chapter_panels(
    chapter: int, recipes: list[Recipe], experiments: dict[str, list[str]], wr: Any
) -> list[Any]:
    """The panels of one chapter: its recipes' figures and claim tables (their figure runs), and the
    training curves of its recipes' experiments, averaged per experiment (min-max band over seeds)."""
    names = sorted({e for r in recipes for e in experiments.get(r.id, [])})
    ids = ", ".join(r.id for r in recipes)
    panels = [
        wr.MediaBrowser(title=f"chapter {chapter} figures: {ids}", media_keys=["figure"], mode="gallery"),
        wr.WeavePanelSummaryTable(table_name="claims"),
    ]
    for metric in TRAINING_METRICS if names else ():
        panels.append(
            wr.LinePlot(
                title=f"{metric}: {', '.join(names)}",
                x="epoch",
                y=[metric],
                groupby=wr.Config("experiment"),
                groupby_aggfunc="mean",
                groupby_rangefunc="minmax",
            )
        )
    return panels


def build_workspace(
    entity: str,
    project: str,
    name: str = "mde_exp: the book's figures",
    chapter: int | None = None,
    recipes: dict[str, Recipe] | None = None,
) -> Any:
    """The workspace (not saved): one section per chapter in book order, or with `chapter` that chapter's
    section alone and a run filter on its `chapter-<n>` tag."""
    ws, wr = _workspaces()
    recipes = load_recipes() if recipes is None else recipes
    experiments = experiments_by_figure()
    by_chapter: dict[int, list[Recipe]] = defaultdict(list)
    for recipe in recipes.values():
        if chapter is None or recipe.chapter == chapter:
            by_chapter[recipe.chapter].append(recipe)
    if not by_chapter:
        raise ValueError(
            f"no recipe of chapter {chapter}; chapters: {sorted({r.chapter for r in recipes.values()})}"
        )
    sections = [
        ws.Section(
            name=f"Chapter {n}", panels=chapter_panels(n, chapter_recipes, experiments, wr), is_open=True
        )
        for n, chapter_recipes in by_chapter.items()
    ]
    filters = [ws.Tags().isin([f"chapter-{chapter}"])] if chapter is not None else []
    return ws.Workspace(
        entity=entity,
        project=project,
        name=name if chapter is None else f"{name} (chapter {chapter})",
        sections=sections,
        runset_settings=ws.RunsetSettings(
            filters=filters, order=[ws.Ordering(ws.Metric("CreatedTimestamp"), ascending=False)]
        ),
    )


def describe(workspace: Any) -> str:
    """One line per section: its name and its panels' titles."""
    lines = [f"workspace {workspace.name!r} for {workspace.entity}/{workspace.project}:"]
    for section in workspace.sections:
        titles = [getattr(p, "title", None) or type(p).__name__ for p in section.panels]
        lines.append(f"  {section.name}: {len(titles)} panels: {'; '.join(titles)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mde_exp.dashboards", description=__doc__.splitlines()[0])
    p.add_argument("--entity", required=True, help="W&B entity (user or team) that holds the project")
    p.add_argument("--project", default="mde_exp", help="W&B project of the runs (default: mde_exp)")
    p.add_argument("--name", default="mde_exp: the book's figures", help="the workspace's name")
    p.add_argument("--chapter", type=int, help="only this chapter's section, and only its runs (by tag)")
    p.add_argument("--dry-run", action="store_true", help="print the sections; save nothing")
    args = p.parse_args(argv)
    try:
        workspace = build_workspace(args.entity, args.project, args.name, args.chapter)
    except ValueError as err:
        p.error(str(err))
    print(describe(workspace))
    if args.dry_run:
        return 0
    if resolve_wandb_mode("auto") != "online":
        print("not saved: W&B is not online here (no credentials, or WANDB_MODE says otherwise); "
              "run `wandb login` first", file=sys.stderr)  # fmt: skip
        return 1
    saved = workspace.save()
    print(f"saved: {saved.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
