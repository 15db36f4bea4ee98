"""`python -m mde_exp.reproduce`: recipe selection (--only, --chapter), skipping what is done (--rerun),
the closing summary, and the message (and exit code 2, before any work) for each common mistake."""

import json

import pytest
from PIL import Image

from mde_exp import reproduce
from mde_exp.data.full_vision import IDX_FILES
from mde_exp.errors import DataNotFoundError
from mde_exp.recipes import Claim, Recipe, RecipeOutput, load_recipes
from mde_exp.reproduce_checks import check_full_data, full_data_sets, select

from .conftest import run_cli


@pytest.fixture(scope="module")
def recipes():
    return load_recipes()


def error_of(capsys, argv: list[str], tmp_path) -> str:
    """The message of a refused command line: exit code 2, nothing written to --out."""
    out = tmp_path / "figures"
    assert reproduce.main([*argv, "--out", str(out)]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert err.startswith("mde_exp.reproduce: error: ")
    return err


def test_an_unknown_id_suggests_close_ones(capsys, tmp_path):
    err = error_of(capsys, ["--only", "fig-2.3,fig-2.33"], tmp_path)
    assert "unknown recipe id fig-2.33: did you mean fig-2.3 or " in err
    assert "python -m mde_exp.reproduce --list shows every recipe" in err
    err = error_of(capsys, ["--only", "zzzz"], tmp_path)
    assert "unknown recipe id zzzz: no recipe has a similar id (python -m" in err
    err = error_of(capsys, ["--only", ","], tmp_path)
    assert "--only names no recipe id; give ids separated by commas" in err


def test_an_unknown_chapter_lists_the_chapters(capsys, tmp_path, recipes):
    chapters = ", ".join(map(str, sorted({r.chapter for r in recipes.values()})))
    err = error_of(capsys, ["--chapter", "2,9"], tmp_path)
    assert f"no recipe in chapter 9; chapters with recipes: {chapters}" in err
    err = error_of(capsys, ["--chapter", "two"], tmp_path)
    assert "--chapter two: give chapter numbers separated by commas, e.g. --chapter 2" in err


def test_only_and_chapter_select_their_union_in_book_order(recipes):
    chosen = select(recipes, "abl-dropout,fig-2.3", "3")
    in_3 = [rid for rid, r in recipes.items() if r.chapter == 3]
    assert list(chosen) == [rid for rid in recipes if rid in {"abl-dropout", "fig-2.3", *in_3}]
    assert len(in_3) > 1 and list(select(recipes, None, None)) == list(recipes)


def test_the_full_profile_names_missing_data_and_what_can_run(capsys, tmp_path, monkeypatch, recipes):
    monkeypatch.setenv("MDE_EXP_DATA", str(tmp_path / "data"))
    err = error_of(capsys, ["--profile", "full", "--chapter", "2"], tmp_path)
    in_2 = [rid for rid, r in recipes.items() if r.chapter == 2]
    needing = [rid for rid in in_2 if "mnist" in full_data_sets(recipes[rid])]
    assert needing == ["tab-2.1"]
    assert f"--profile full needs data sets that are not here (1 of {len(in_2)} recipes):" in err
    assert "data=mnist for tab-2.1:" in err and f"MNIST files missing in {tmp_path / 'data' / 'mnist'}" in err
    runnable = ",".join(rid for rid in in_2 if rid != "tab-2.1")
    assert f"or run the recipes that need none of them: --only {runnable}" in err
    # CIFAR-10 serves two data configs: one entry names both
    err = error_of(capsys, ["--profile", "full", "--only", "abl-residual,abl-cifar3"], tmp_path)
    assert "data=cifar10 for abl-residual; data=cifar3 for abl-cifar3:" in err
    assert err.count("CIFAR-10 files missing") == 1 and "need none of them (none here)" in err


def test_the_full_profile_runs_when_the_files_are_there(tmp_path, monkeypatch, recipes):
    monkeypatch.setenv("MDE_EXP_DATA", str(tmp_path))
    (tmp_path / "mnist").mkdir()
    for name in IDX_FILES.values():
        (tmp_path / "mnist" / name).write_bytes(b"")  # the check looks for the files; reading comes later
    check_full_data(select(recipes, None, "2"))
    with pytest.raises(DataNotFoundError, match="data=cora for gnn-karate"):
        check_full_data(select(recipes, "gnn-karate,tab-2.1", None))


def test_bad_overrides_are_refused_before_any_work(capsys, tmp_path):
    err = error_of(capsys, ["--only", "fig-2.3", "profile=tiny"], tmp_path)
    assert "'profile=tiny': choose the profile with --profile, not as an override" in err
    err = error_of(capsys, ["--only", "fig-2.3", "logger"], tmp_path)
    assert "'logger' is not an override: write key=value (e.g. logger=none)" in err
    err = error_of(capsys, ["--only", "fig-2.3", "mdoel.hidden_sizes=[3]"], tmp_path)
    assert "unknown key 'mdoel.hidden_sizes'; did you mean 'model'?" in err


def test_the_command_line_exits_2_with_the_message(tmp_path):
    done = run_cli(["--chapter", "9"], cwd=tmp_path, module="mde_exp.reproduce")
    assert done.returncode == 2 and "mde_exp.reproduce: error: no recipe in chapter 9" in done.stderr


def test_list_gives_ids_book_references_and_estimates(capsys, recipes):
    assert reproduce.main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert "fig-2.3" in listed and "Figure 2.3, section 2.3" in listed and "min quick" in listed
    total = sum(r.minutes_quick for r in recipes.values())
    assert f"{len(recipes)} recipes, ~{total:.0f} min in the quick profile" in listed


def fake_recipes(calls: list[str], passes: bool = True, raises: bool = False) -> dict[str, Recipe]:
    """One instant recipe that counts its runs: draws a small PNG and checks one claim."""

    def run(ctx):
        calls.append(ctx.profile)
        if raises:
            raise ValueError("broken recipe")
        ctx.out_dir.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (20, 10)).save(ctx.out_dir / "fake-1.png")
        return RecipeOutput(ctx.out_dir / "fake-1.png", [Claim("d", "e", 1.0, passes)])

    return {"fake-1": Recipe("fake-1", "a fake", "Figure 2.1", 2, "a claim", run, minutes_quick=0.01)}


def test_done_recipes_are_skipped_and_rerun_runs_them(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    calls: list[str] = []
    monkeypatch.setattr(reproduce, "load_recipes", lambda: fake_recipes(calls))
    out = ["--out", str(tmp_path), "--profile", "tiny"]
    assert reproduce.main(out) == 0 and calls == ["tiny"]
    assert "1 pass, 0 fail, 0 error, 0 skipped (done) of 1 recipe" in capsys.readouterr().err
    record = json.loads((tmp_path / "fake-1.json").read_text())
    assert record["command"] == "python -m mde_exp.reproduce --only fake-1 --profile tiny --rerun"

    assert reproduce.main(out) == 0 and calls == ["tiny"]  # done: not run again
    err = capsys.readouterr().err
    assert "fake-1         skipped (done)" in err and "0 pass, 0 fail, 0 error, 1 skipped (done) of 1" in err
    assert (tmp_path / "index.html").is_file()

    assert reproduce.main([*out, "--rerun"]) == 0 and calls == ["tiny", "tiny"]
    err = capsys.readouterr().err
    assert "--rerun: running 1 recipe again" in err and "reused, not retrained" in err

    assert reproduce.main(["--out", str(tmp_path), "--profile", "quick"]) == 0  # another profile: runs
    assert calls == ["tiny", "tiny", "quick"]
    assert reproduce.main([*out, "seed=1"]) == 0 and len(calls) == 4  # other overrides: runs
    assert json.loads((tmp_path / "fake-1.json").read_text())["command"].endswith("--rerun seed=1")


def test_failed_and_broken_recipes_run_again_and_exit_1(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    calls: list[str] = []
    monkeypatch.setattr(reproduce, "load_recipes", lambda: fake_recipes(calls, passes=False))
    assert reproduce.main(["--out", str(tmp_path)]) == 1
    assert reproduce.main(["--out", str(tmp_path)]) == 1 and len(calls) == 2  # a failed record is not done
    assert "0 pass, 1 fail, 0 error, 0 skipped (done) of 1 recipe" in capsys.readouterr().err
    monkeypatch.setattr(reproduce, "load_recipes", lambda: fake_recipes(calls, raises=True))
    assert reproduce.main(["--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "ValueError: broken recipe" in err and "0 pass, 0 fail, 1 error, 0 skipped (done) of 1" in err


def test_a_jobs_count_below_one_is_refused(capsys, tmp_path):
    err = error_of(capsys, ["--only", "fig-2.6", "--jobs", "0"], tmp_path)
    assert "--jobs 0: give how many recipes run at once, 1 or more" in err


def test_recipes_run_in_parallel_worker_processes_write_the_same_records(tmp_path):
    """--jobs 2: two recipes at once in spawned workers; their records and the report are as a serial
    run writes them (the workers' W&B is off through the override)."""
    out = tmp_path / "figures"
    args = ["--only", "fig-2.6,fig-5.6", "--profile", "tiny", "--jobs", "2", "--out", str(out)]
    assert reproduce.main([*args, "logger=none", f"store.root={tmp_path / 'runs'}"]) == 0
    records = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert set(records) == {"fig-2.6", "fig-5.6"}
    assert all(r["status"] == "pass" and r["wall_time_s"] > 0 for r in records.values())
    assert (out / "fig-2.6.png").is_file() and (out / "index.html").is_file()
