"""fig-5.2 and fig-5.3 at the smallest scale, and the hand-set ReLU interpolating network."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mde_exp.nn.interpolation import book_curve, relu_interpolant, uniform_knots
from mde_exp.reproduce import main


def test_book_curve_matches_its_formula():
    for x in (0.0, 1.0, 2.5, 4.0):
        expected = math.cos(2 * math.cos(x**2) + (x - 1) ** 2 / 4) + x / 2 + 1
        assert float(book_curve(torch.tensor(x, dtype=torch.float64))) == pytest.approx(expected, abs=1e-12)


def test_relu_interpolant_is_a_one_hidden_layer_net_through_the_knots():
    kx = torch.tensor([0.0, 0.5, 1.5, 2.0, 3.5], dtype=torch.float64)
    ky = torch.tensor([1.0, -1.0, 2.0, 2.0, 0.0], dtype=torch.float64)
    net = relu_interpolant(kx, ky, dtype=torch.float64)
    assert [type(m).__name__ for m in net] == ["Linear", "ReLU", "Linear"]
    assert net[0].in_features == 1 and net[0].out_features == 4 and net[2].out_features == 1
    assert not any(p.requires_grad for p in net.parameters())
    assert torch.allclose(net(kx[:, None]).squeeze(1), ky, atol=1e-12)
    x = torch.linspace(0.0, 3.5, 701, dtype=torch.float64)
    reference = torch.from_numpy(np.interp(x.numpy(), kx.numpy(), ky.numpy()))
    assert torch.allclose(net(x[:, None]).squeeze(1), reference, atol=1e-12)
    # outside the knots: constant to the left, the last segment continued to the right
    outside = net(torch.tensor([[-1.0], [4.5]], dtype=torch.float64)).squeeze(1)
    assert torch.allclose(outside, torch.tensor([1.0, -4.0 / 3], dtype=torch.float64))


def test_relu_interpolant_float32_and_bad_knots():
    kx = uniform_knots(30, 0.0, 4.0)
    net = relu_interpolant(kx, book_curve(kx))
    assert net[0].weight.dtype == torch.float32
    assert float((net(kx.float()[:, None]).squeeze(1).double() - book_curve(kx)).abs().max()) < 1e-5
    with pytest.raises(ValueError, match="strictly increasing"):
        relu_interpolant(torch.tensor([0.0, 2.0, 1.0]), torch.zeros(3))
    with pytest.raises(ValueError, match="at least two knots"):
        relu_interpolant(torch.tensor([0.0]), torch.zeros(1))
    with pytest.raises(ValueError, match="n_knots"):
        uniform_knots(1, 0.0, 1.0)


def test_fig_5_2_and_fig_5_3_at_the_smallest_scale(tmp_path, one_thread):
    out = tmp_path / "figures"
    code = main(
        [
            "--profile",
            "tiny",
            "--only",
            "fig-5.2,fig-5.3",
            "--out",
            str(out),
            "logger=none",
            f"store.root={tmp_path / 'runs'}",
        ]
    )
    assert code == 0
    for rid in ("fig-5.2", "fig-5.3"):
        record = json.loads((out / f"{rid}.json").read_text())
        assert record["status"] == "pass" and record["claims"]
        assert all(claim["passed"] for claim in record["claims"])
        assert (out / f"{rid}.png").stat().st_size > 10_000 and (out / f"{rid}.pdf").is_file()

    interpolation = json.loads((out / "fig-5.2.json").read_text())["values"]
    assert interpolation["hidden_units"] == {"10": 9, "30": 29}
    assert interpolation["sup_error"]["30"] < interpolation["sup_error"]["10"]
    assert 1.8 < interpolation["fitted_order"] < 2.2

    spiral = json.loads((out / "fig-5.3.json").read_text())
    accuracy = spiral["values"]["test_acc"]
    assert set(accuracy) == {"logistic regression", "4 hidden units", "10 hidden units"}
    assert accuracy["logistic regression"] < 0.7 < 0.9 < accuracy["10 hidden units"]
    assert len(spiral["runs"]) == 3  # one seed of each model, at the tiny scale
    for run in map(Path, spiral["runs"]):
        assert run.parent == tmp_path / "runs" / "spiral_capacity"
        assert (run / "checkpoints" / "last.ckpt").is_file()
