"""fig-2.7, fig-2.8, fig-4.1, fig-4.4, fig-4.5 and abl-autodiff at the smallest scale."""

import json
from pathlib import Path

import pytest

from mde_exp.reproduce import main

IDS = ("fig-2.7", "fig-2.8", "fig-4.1", "fig-4.4", "fig-4.5", "abl-autodiff")


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("sup")
    out = tmp / "figures"
    argv = ["--profile", "tiny", "--only", ",".join(IDS), "--out", str(out), "logger=none"]
    code = main([*argv, f"store.root={tmp / 'runs'}"])
    found = {rid: json.loads((out / f"{rid}.json").read_text()) for rid in IDS}
    for rid in IDS:
        assert (out / f"{rid}.png").stat().st_size > 10_000 and (out / f"{rid}.pdf").is_file()
    assert code == 0, {
        rid: r.get("error") or [c for c in r["claims"] if not c["passed"]] for rid, r in found.items()
    }
    return {"root": tmp / "runs", **found}


@pytest.mark.parametrize("rid", IDS)
def test_every_claim_passes(records, rid):
    record = records[rid]
    assert record["status"] == "pass" and record["claims"]
    assert all(claim["passed"] for claim in record["claims"])


def test_fig_2_7_numbers_are_the_notebooks(records):
    values = records["fig-2.7"]["values"]
    runs = values["runs"]
    assert runs["0.01"]["iterates"] == 3109 and runs["0.0235"]["iterates"] == 1446
    assert runs["0.01"]["converged"] and runs["0.0235"]["converged"] and not runs["0.024"]["converged"]
    assert runs["0.024"]["numpy_first_nan_iterate"] > 20_000  # float64 overflows near step 28,400
    assert values["bound_n_over_lambda_max"] == pytest.approx(0.02370547910183882, abs=1e-12)
    assert runs["0.01"]["last"] == pytest.approx([-30.44502456, 8.3096164], abs=1e-7)
    assert 1.024 < runs["0.024"]["step_norm_growth_per_step"] < 1.026
    # each run is a LinearRegression trained through the store, its path recorded step by step
    for run in map(Path, records["fig-2.7"]["runs"]):
        assert run.parent == records["root"] / "learning_rate_gd"
        assert (run / "parameter_path.csv").is_file()


def test_fig_4_4_early_stopping(records):
    values = records["fig-4.4"]["values"]
    assert values["parameters"] == values["parameters_formula"] == 419_860
    assert values["layers"] == [784, 400, 200, 100, 50, 10]
    stop = values["early_stopping"]
    assert stop["stop_epoch"] == stop["best_epoch"] + stop["patience"] < values["epochs"]
    assert values["best_val_loss"] < values["last_val_loss"]
    assert values["train_loss_last"] < values["train_loss_best"]
    best = Path(records["fig-4.4"]["runs"][0]) / "checkpoints" / "best.ckpt"
    assert best.is_file()


def test_landscape_recipes(records):
    convex = records["fig-4.1"]["values"]
    assert convex["convex"]["min_hessian_eigenvalue"] == pytest.approx(2.0)
    assert len(convex["non-convex"]["local_minima"]) >= 2
    assert convex["non-convex"]["min_hessian_eigenvalue"] < 0
    sigmoid = records["fig-4.5"]["values"]
    assert sigmoid["squared_error"]["fraction_flat"] > 10 * sigmoid["cross_entropy"]["fraction_flat"]
    scaled = records["fig-2.8"]["values"]
    assert scaled["raw"]["condition_number"] > 4 * scaled["standardised"]["condition_number"]


def test_autodiff_slopes(records):
    slopes = records["abl-autodiff"]["values"]["slopes"]
    assert slopes["forward"] > slopes["reverse"] + 0.5
