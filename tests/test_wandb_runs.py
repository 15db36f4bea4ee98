"""What W&B receives, read back from the offline run files: a sweep's runs as one group (job_type train,
chapter / section / figure tags, the swept values as config keys), a recipe's runs with its id and
chapter, the recipes' figure runs (job_type figure: image and claim table), `make wandb-sync`, and the
dashboards' workspace (built, not saved)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from mde_exp import store
from mde_exp.loggers import wandb_tags
from mde_exp.recipes import RecipeContext, load_recipes
from mde_exp.wandb_figures import CLAIM_COLUMNS, log_figure_run
from tests.conftest import run_cli
from tests.wandb_records import run_info

ROOT = Path(__file__).resolve().parents[1]


def offline_runs(root: Path) -> list[Path]:
    return sorted(root.rglob("offline-run-*/*.wandb"))


def test_tags_name_chapter_section_figure_then_the_configs_own_once_each():
    assert wandb_tags("5.7", "abl-dropout", ["chapter-5", "mine"]) == [
        "chapter-5", "section-5.7", "abl-dropout", "mine",
    ]  # fmt: skip
    assert wandb_tags(None, None, []) == []
    assert wandb_tags("8.4, equation 8.72", "q-learning") == [
        "chapter-8",
        "section-8.4, equation 8.72",
        "q-learning",
    ]


def test_a_recipes_runs_carry_its_id_and_chapter_and_keep_their_store_folder(tmp_path):
    recipe = load_recipes()["abl-dropout"]
    plain = RecipeContext("tiny", tmp_path)
    ctx = plain.for_recipe(recipe)
    cfg = ctx.compose(["+experiment=dropout_sweep", "dropout=0.2"])
    assert cfg.figure_id == "abl-dropout" and list(cfg.tags) == ["chapter-5"]
    assert store.run_dir(cfg) == store.run_dir(plain.compose(["+experiment=dropout_sweep", "dropout=0.2"]))
    # a recipe naming another figure's runs (fig-3.16 reads fig-3.12's) keeps its own figure_id override
    assert ctx.compose(["+experiment=dropout_sweep", "figure_id=other"]).figure_id == "other"


def test_a_sweeps_offline_runs_are_one_group_tagged_with_the_swept_values_in_config(tmp_path):
    root = tmp_path / "runs"
    result = run_cli(
        ["+experiment=dropout_sweep", "profile=tiny", "trainer.max_epochs=1", "data=digits",
         "model.hidden_sizes=[16]", "dropout=0.0,0.5", f"store.root={root}", "-m"],
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    files = offline_runs(root / "dropout_sweep")
    assert len(files) == 2, files
    runs = [run_info(f) for f in files]
    for run in runs:
        assert run["group"] == "dropout_sweep" and run["job_type"] == "train", run
        assert run["tags"] == ["chapter-5", "section-5.7", "abl-dropout"]
        assert run["name"].startswith("dropout_sweep/") and run["id"].startswith("dropout_sweep-")
        config = run["config"]
        assert config["experiment"] == "dropout_sweep" and config["figure_id"] == "abl-dropout"
        assert config["model"]["hidden_sizes"] == [16] and config["data"]["_target_"].endswith(
            "DigitsDataModule"
        )
        assert {"val/acc", "train/loss_epoch", "test/acc"} <= run["history_keys"]
    assert sorted(json.dumps(r["config"]["dropout"]) for r in runs) == ["[0.0]", "[0.5]"]


def _record(tmp_path: Path, **extra) -> dict:
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [1, 0])
    fig.savefig(tmp_path / "fig-9.9.png")
    plt.close(fig)
    claims = [
        {"description": "the gap narrows", "expected": "< 0.9", "measured": 0.64, "passed": True,
         "book_value": None},
        {"description": "accuracies", "expected": ">= 0.9", "measured": {"0": 0.94}, "passed": False,
         "book_value": 0.95},
    ]  # fmt: skip
    return {"id": "fig-9.9", "title": "a test figure", "book_ref": "Figure 9.9", "chapter": 9,
            "claim": "c", "profile": "tiny", "command": "python -m mde_exp.reproduce --only fig-9.9",
            "status": "fail", "claims": claims, "runs": ["r1"], "figure": "fig-9.9.png",
            "wall_time_s": 1.5, **extra}  # fmt: skip


def test_a_figure_run_holds_the_figure_and_the_claim_table(tmp_path):
    directory = log_figure_run(_record(tmp_path), tmp_path, [f"store.root={tmp_path / 'runs'}"])
    assert (
        directory is not None
        and directory.parent.parent == tmp_path / "runs" / "_figures" / "tiny" / "fig-9.9"
    )
    (file,) = directory.glob("*.wandb")
    run = run_info(file)
    assert (run["group"], run["job_type"], run["name"]) == ("figures-tiny", "figure", "fig-9.9")
    assert run["tags"] == ["chapter-9", "fig-9.9"]
    assert run["config"]["book_ref"] == "Figure 9.9" and run["config"]["runs"] == ["r1"]
    assert {"figure/_type", "claims/_type"} <= run["history_keys"]
    (image,) = (directory / "files" / "media" / "images").glob("figure_*.png")
    assert image.stat().st_size > 1000
    (table,) = (directory / "files" / "media" / "table").glob("claims_*.table.json")
    data = json.loads(table.read_text())
    assert data["columns"] == CLAIM_COLUMNS
    assert data["data"] == [
        ["the gap narrows", "", "< 0.9", "0.64", True],
        ["accuracies", "0.95", ">= 0.9", "{'0': 0.94}", False],
    ]


@pytest.mark.parametrize("how", ["logger=none", "logger=tensorboard", "WANDB_MODE=disabled"])
def test_no_figure_run_when_wandb_is_off(tmp_path, monkeypatch, how):
    overrides = [f"store.root={tmp_path / 'runs'}"]
    if how.startswith("WANDB_MODE"):
        monkeypatch.setenv("WANDB_MODE", "disabled")
    else:
        overrides.append(how)
    assert log_figure_run(_record(tmp_path), tmp_path, overrides) is None
    assert not (tmp_path / "runs").exists()


def test_a_figure_that_failed_to_log_is_a_warning_not_an_error(tmp_path, caplog):
    assert log_figure_run(_record(tmp_path), tmp_path, ["store.root=" + str(tmp_path), "nokey=1"]) is None
    assert "W&B figure run of fig-9.9 was not logged" in caplog.text


def test_reproduce_logs_each_recipe_as_a_figure_run_and_its_runs_with_its_tags(tmp_path):
    from mde_exp.reproduce import main

    root = tmp_path / "runs"
    code = main(
        ["--profile", "tiny", "--only", "fig-2.6", "--out", str(tmp_path / "figures"), f"store.root={root}"]
    )
    assert code == 0
    (file,) = offline_runs(root / "_figures")
    run = run_info(file)
    assert (run["group"], run["job_type"], run["name"], run["tags"]) == (
        "figures-tiny", "figure", "fig-2.6", ["chapter-2", "fig-2.6"],
    )  # fmt: skip


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_wandb_sync_finds_training_and_figure_runs_and_says_when_there_are_none(tmp_path):
    log_figure_run(_record(tmp_path), tmp_path, [f"store.root={tmp_path / 'runs'}"])
    # -o: leave the environment as it is (no reinstall), --dry-run: list, upload nothing
    make = ["make", "-s", "-C", str(ROOT), "-o", ".venv/.installed", "wandb-sync", "SYNC_ARGS=--dry-run"]
    env = {k: v for k, v in os.environ.items() if k not in ("MDE_EXP_RUNS", "MAKEFLAGS", "MFLAGS")}
    found = subprocess.run([*make, f"RUNS={tmp_path / 'runs'}"], capture_output=True, text=True, env=env)
    assert found.returncode == 0, found.stderr
    assert "1 offline W&B run(s)" in found.stdout and "1 figure run(s)" in found.stdout
    assert "Would sync 1 run(s)" in found.stdout + found.stderr
    none = subprocess.run([*make, f"RUNS={tmp_path / 'empty'}"], capture_output=True, text=True, env=env)
    assert none.returncode == 0 and f"no offline W&B runs under {tmp_path / 'empty'}/" in none.stdout


def test_the_dashboard_has_one_section_per_chapter_with_figures_claims_and_curves():
    pytest.importorskip("wandb_workspaces", reason="the dashboards extra: pip install 'mde_exp[dashboards]'")
    import wandb_workspaces.reports.v2 as wr

    from mde_exp.dashboards import build_workspace, describe

    recipes = load_recipes()
    workspace = build_workspace("someone", "mde_exp", recipes=recipes)
    chapters = sorted({r.chapter for r in recipes.values()})
    assert [s.name for s in workspace.sections] == [f"Chapter {n}" for n in chapters]
    for section in workspace.sections:
        kinds = [type(p) for p in section.panels]
        assert kinds[:2] == [wr.MediaBrowser, wr.WeavePanelSummaryTable] and section.panels[0].media_keys == [
            "figure"
        ]
        plots = [p for p in section.panels if isinstance(p, wr.LinePlot)]
        assert [p.y for p in plots] in ([], [["val/acc"], ["train/loss_epoch"]])
    chapter5 = workspace.sections[chapters.index(5)]
    assert "abl-dropout" in chapter5.panels[0].title and "dropout_sweep" in chapter5.panels[2].title
    assert not workspace.runset_settings.filters  # every run of the project
    assert workspace._to_model() is not None  # the spec converts to W&B's saved form (not saved here)
    one = build_workspace("someone", "mde_exp", chapter=5, recipes=recipes)
    assert [s.name for s in one.sections] == ["Chapter 5"] and "chapter-5" in str(one.runset_settings.filters)
    assert "Chapter 5: 4 panels" in describe(one)
