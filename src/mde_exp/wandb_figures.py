"""A recipe's finished figure and claim table as a W&B run of job_type "figure" (one per recipe and profile).

`mde_exp.reproduce` calls `log_figure_run` after it writes a recipe's record: the run is named by the
recipe id, grouped as `figures-<profile>`, tagged `chapter-<n>` and the id, and holds the figure (PNG) as
a `wandb.Image`, the claims as a `wandb.Table` and the record's fields as its config and summary. W&B
follows the training runs' settings: off with `logger=none` (or any logger but wandb) among the
overrides or WANDB_MODE=disabled, online with credentials, else offline under
`<store.root>/_figures/<profile>/<id>/wandb/` (`make wandb-sync` uploads it).
"""

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mde_exp import loggers, store

log = logging.getLogger(__name__)

CLAIM_COLUMNS = ["description", "book value", "expected", "measured", "passed"]
FIGURES_DIR = "_figures"  # under the store's root, beside the experiments' run folders


def figure_run_settings(profile: str, overrides: Sequence[str] = ()) -> dict[str, Any] | None:
    """Where and how the figure runs of `profile` log under these overrides (those of every training
    run): W&B's mode, project, entity and the folder, or None when W&B is off."""
    settings = _composed_settings(profile, tuple(overrides))
    if settings is None:
        return None
    mode = loggers.resolve_wandb_mode(settings["requested_mode"])
    if mode == "disabled":
        return None
    if mode == "online" and loggers.online_failure():
        mode = "offline"  # online failed for this command's training runs already
    return {**settings, "mode": mode}


@functools.cache
def _composed_settings(profile: str, overrides: tuple[str, ...]) -> dict[str, Any] | None:
    """The W&B logger's settings and the figure runs' folder from the composed config (once per command)."""
    cfg = store.compose([f"profile={profile}", *overrides])
    spec = (cfg.logger or {}).get("wandb")
    if spec is None:
        return None
    root = Path(cfg.store.root) / FIGURES_DIR / profile
    return {"requested_mode": spec.get("mode", "auto"), "project": spec.get("project"),
            "entity": spec.get("entity"), "root": root}  # fmt: skip


def claim_table(claims: Sequence[dict[str, Any]]) -> Any:
    """The claims as a wandb.Table; values are written as text (a claim's value may be a number, a list or
    a name), `passed` as a boolean."""
    import wandb

    def text(value: Any) -> str:
        return "" if value is None else str(value)

    rows = [
        [text(c.get("description")), text(c.get("book_value")), text(c.get("expected")),
         text(c.get("measured")), bool(c.get("passed"))]
        for c in claims
    ]  # fmt: skip
    return wandb.Table(columns=CLAIM_COLUMNS, data=rows)


def log_figure_run(record: dict[str, Any], out_dir: Path, overrides: Sequence[str] = ()) -> Path | None:
    """Log the recipe record `record` (as written to `<out_dir>/<id>.json`) with its figure as a W&B run;
    returns the W&B run's folder, or None when W&B is off. A failure to log is a warning, not an error:
    the reproduction's results are on disk either way."""
    try:
        settings = figure_run_settings(str(record["profile"]), overrides)
        if settings is None:
            return None
        return _log(record, Path(out_dir), settings)
    except Exception as err:  # W&B trouble must not fail a reproduction whose files are written
        log.warning("the W&B figure run of %s was not logged: %s", record.get("id"), err)
        return None


def _log(record: dict[str, Any], out_dir: Path, settings: dict[str, Any]) -> Path:
    import wandb

    recipe_id, profile = str(record["id"]), str(record["profile"])
    directory = settings["root"] / recipe_id
    directory.mkdir(parents=True, exist_ok=True)
    config = {k: record.get(k) for k in ("id", "title", "book_ref", "chapter", "claim", "profile", "command")}
    init = dict(
        project=settings["project"], entity=settings["entity"], dir=str(directory), name=recipe_id,
        group=f"figures-{profile}", job_type="figure", tags=[f"chapter-{record['chapter']}", recipe_id],
        config={**config, "runs": record.get("runs", [])}, reinit="finish_previous",
    )  # fmt: skip
    try:
        run = wandb.init(mode=settings["mode"], **init)
    except Exception as err:
        if settings["mode"] != "online":
            raise
        log.warning("W&B online failed for the figure run of %s (%s); logging it offline", recipe_id, err)
        run = wandb.init(mode="offline", **init)
    with run:
        figure = out_dir / str(record.get("figure") or "")
        data: dict[str, Any] = {"claims": claim_table(record.get("claims", []))}
        if record.get("figure") and figure.is_file():
            data["figure"] = wandb.Image(str(figure), caption=f"{recipe_id}: {record.get('title', '')}")
        run.log(data)
        claims = record.get("claims", [])
        run.summary.update(
            {
                "status": record.get("status"),
                "claims_passed": sum(bool(c.get("passed")) for c in claims),
                "claims_total": len(claims),
                "wall_time_s": record.get("wall_time_s"),
            }
        )
        return Path(run.dir).parent
