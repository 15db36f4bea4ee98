"""The chapter-4 optimisation recipes (figs 4.2, 4.3, 4.6, 4.8, 4.9, 4.10, abl-optimizers), smallest scale."""

import json

import pytest

from mde_exp.reproduce import main

IDS = ("fig-4.2", "fig-4.3", "fig-4.6", "fig-4.8", "fig-4.9", "fig-4.10", "abl-optimizers")


def test_optimisation_recipes_at_the_smallest_scale(tmp_path, one_thread):
    out = tmp_path / "figures"
    runs = f"store.root={tmp_path / 'runs'}"
    code = main(["--profile", "tiny", "--only", ",".join(IDS), "--out", str(out), "logger=none", runs])
    reports = {rid: json.loads((out / f"{rid}.json").read_text()) for rid in IDS}
    for rid, report in reports.items():
        assert report["status"] == "pass", (rid, [c for c in report["claims"] if not c["passed"]])
        assert len(report["claims"]) >= 3 and report["figure"] == f"{rid}.png"
        assert (out / f"{rid}.png").is_file() and (out / f"{rid}.pdf").is_file()
    assert code == 0

    fig42 = reports["fig-4.2"]["values"]["metrics"]
    assert fig42["fixed alpha0=0.005"]["last_steps_max_cos"] < -0.99  # the back-and-forth oscillation
    assert fig42["decaying alpha0=0.005"]["final_distance"] == pytest.approx(0.8525, abs=1e-3)  # NumPy's
    assert reports["fig-4.3"]["values"]["optimum"] == pytest.approx([11 / 6, 7 / 5])
    assert reports["fig-4.6"]["values"]["torch_form_max_difference"] < 1e-9
    assert reports["fig-4.8"]["values"]["alpha_star"] == pytest.approx(0.001648, abs=1e-6)
    assert reports["fig-4.9"]["values"]["companion_max_difference"] < 1e-9
    assert reports["fig-4.10"]["values"]["paths"]["2.5"][1] == pytest.approx(3.6364, abs=1e-4)
    lr = reports["abl-optimizers"]["values"]["rosenbrock_lr"]
    assert lr == {
        "sgd": 0.001,
        "momentum": 0.001,
        "nesterov": 0.001,
        "adagrad": 0.1,
        "rmsprop": 0.003,
        "adam": 0.02,
    }
