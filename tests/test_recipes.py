"""The reproduction pipeline: recipes at their smallest scale, their JSON claims, figures and report."""

import json

from mde_exp.recipes import load_recipes
from mde_exp.reproduce import main

from .conftest import run_cli


def test_recipes_are_discovered_with_book_references():
    recipes = load_recipes()
    assert {"abl-dropout", "fig-5.6"} <= set(recipes)
    for recipe in recipes.values():
        assert recipe.book_ref and recipe.claim and recipe.chapter > 0


def test_abl_dropout_and_fig_5_6_at_the_smallest_scale(tmp_path):
    out = tmp_path / "figures"
    code = main(
        [
            "--profile",
            "tiny",
            "--only",
            "abl-dropout,fig-5.6",
            "--out",
            str(out),
            "logger=none",
            f"store.root={tmp_path / 'runs'}",
        ]
    )
    assert code == 0
    for rid in ("abl-dropout", "fig-5.6"):
        record = json.loads((out / f"{rid}.json").read_text())
        assert record["status"] == "pass" and record["claims"]
        for claim in record["claims"]:
            assert {"description", "expected", "measured", "passed"} <= set(claim) and claim["passed"]
        assert (out / f"{rid}.png").stat().st_size > 10_000 and (out / f"{rid}.pdf").is_file()
    dropout = json.loads((out / "abl-dropout.json").read_text())
    gaps = dropout["values"]["gap"]
    assert set(gaps) == {"0", "0.2", "0.5", "0.4/0.3/0.2"}
    assert gaps["0"] > gaps["0.2"] > gaps["0.5"] and gaps["0.4/0.3/0.2"] < gaps["0"]
    assert len(dropout["runs"]) == 4
    report = (out / "index.html").read_text()
    assert 'id="count-pass">2<' in report and 'id="count-total">2<' in report
    assert "abl-dropout.png" in report and "fig-5.6.png" in report


def test_list_and_unknown_id(tmp_path):
    listed = run_cli(["--list"], cwd=tmp_path, module="mde_exp.reproduce")
    assert listed.returncode == 0 and "abl-dropout" in listed.stdout and "Figure 5.6" in listed.stdout
    unknown = run_cli(["--only", "fig-99"], cwd=tmp_path, module="mde_exp.reproduce")
    assert unknown.returncode == 2 and "unknown recipe id fig-99" in unknown.stderr


def test_recipes_come_in_book_order():
    ids = list(load_recipes())
    assert ids.index("fig-2.3") < ids.index("fig-2.10") < ids.index("fig-3.1")
    assert ids.index("fig-4.9") < ids.index("fig-4.10") < ids.index("abl-autodiff") < ids.index("fig-5.2")


def test_the_report_lists_records_in_book_order(tmp_path):
    from mde_exp.report import write_report

    for rid, chapter in (("fig-2.10", 2), ("abl-dropout", 5), ("fig-2.3", 2), ("fig-5.2", 5), ("tab-2.1", 2)):
        record = {"id": rid, "chapter": chapter, "title": rid, "book_ref": "x", "claim": "c",
                  "status": "pass", "wall_time_s": 1.0, "profile": "tiny", "command": "make"}  # fmt: skip
        (tmp_path / f"{rid}.json").write_text(json.dumps(record))
    page = write_report(tmp_path).read_text()
    order = sorted(
        ["fig-2.10", "abl-dropout", "fig-2.3", "fig-5.2", "tab-2.1"], key=lambda r: page.index(f"id='{r}'")
    )
    assert order == ["tab-2.1", "fig-2.3", "fig-2.10", "fig-5.2", "abl-dropout"]  # as --list gives them
