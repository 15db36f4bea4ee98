"""The chapter-4 test functions, their data module (the companion's SGD draws) and ObjectiveModel."""

import numpy as np
import pytest
import torch

from mde_exp.data.objective_points import ObjectiveDataModule
from mde_exp.models.objective import ObjectiveModel
from mde_exp.objectives import (
    BOOK_POINTS,
    BOOK_WEIGHTS,
    OBJECTIVES,
    convex_bowl,
    get_objective,
    peaks,
    quartic,
    rosenbrock,
    weighted_quadratic,
    weighted_quadratic_minimiser,
    weighted_quadratic_terms,
)


def grid(t1: torch.Tensor, t2: torch.Tensor) -> torch.Tensor:
    return torch.stack(torch.meshgrid(t1, t2, indexing="xy"), dim=-1)


P = torch.tensor(BOOK_POINTS, dtype=torch.float64)
W = torch.tensor(BOOK_WEIGHTS, dtype=torch.float64)


def test_values_on_points_and_grids():
    assert float(rosenbrock(torch.tensor([1.0, 1.0]))) == 0.0
    assert float(rosenbrock(torch.tensor([0.2, -0.2]))) == pytest.approx(0.8**2 + 100 * 0.24**2)
    t = torch.linspace(-2.5, 2.5, 41, dtype=torch.float64)
    g = grid(t, t[:21])
    assert g.shape == (21, 41, 2) and torch.equal(g[3, 7], torch.stack([t[7], t[3]]))  # rows: theta2
    for f in (rosenbrock, convex_bowl, peaks):
        values = f(g)
        assert values.shape == (21, 41)
        torch.testing.assert_close(values[3, 7], f(g[3, 7]))
    assert float(quartic(torch.tensor([2.5]))) == pytest.approx(2.5**4 - 4 * 2.5**3 - 2 * 6.25 + 25 + 15)
    assert quartic(torch.linspace(-1, 4, 11)[:, None]).shape == (11,)
    # the peaks surface: its maximum near (0, 1.58) is about 8.1, its minimum near (0.23, -1.63) about -6.55
    fine = grid(*(torch.linspace(-3, 3, 601, dtype=torch.float64),) * 2)
    assert float(peaks(fine).max()) == pytest.approx(8.106, abs=0.01)
    assert float(peaks(fine).min()) == pytest.approx(-6.551, abs=0.01)


def test_weighted_quadratic_terms_mean_and_minimiser():
    theta = torch.tensor([6.0, 6.0], dtype=torch.float64)
    terms = weighted_quadratic_terms(theta, P, W)
    expected = [
        c * (6 - x1) ** 2 + (6 - x2) ** 2 for (x1, x2), c in zip(BOOK_POINTS, BOOK_WEIGHTS, strict=True)
    ]
    torch.testing.assert_close(terms, torch.tensor(expected, dtype=torch.float64))
    assert float(weighted_quadratic(theta, P, W)) == pytest.approx(np.mean(expected))
    best = weighted_quadratic_minimiser(P, W)
    torch.testing.assert_close(best, torch.tensor([22 / 12, 7 / 5], dtype=torch.float64))
    point = best.clone().requires_grad_(True)
    weighted_quadratic(point, P, W).backward()
    assert float(point.grad.abs().max()) < 1e-12  # the gradient vanishes there
    assert torch.equal(get_objective("weighted_quadratic").argmin(P, W), best)
    with pytest.raises(ValueError, match="choose one of"):
        get_objective("himmelblau")
    with pytest.raises(ValueError, match="points and weights"):
        OBJECTIVES["weighted_quadratic"](theta)


def test_sgd_draws_are_the_companion_codes_numpy_calls():
    dm = ObjectiveDataModule("weighted_quadratic", batch_size=1, steps_per_epoch=7)
    np.random.seed(0)
    companion = [np.random.choice(5) for _ in range(21)]  # one np.random.choice(n) per step
    assert dm.step_indices(0, 21)[:, 0].tolist() == companion
    assert dm.step_indices(7, 7)[:, 0].tolist() == companion[7:14]  # epoch 1 continues the stream
    second = dm.epoch_batches(1)
    assert len(second) == 7 and torch.equal(second[0][0], P[companion[7]][None])
    assert torch.equal(second[0][1], W[companion[7]][None])
    perm = ObjectiveDataModule("weighted_quadratic", batch_size=2, sampling="permutation", steps_per_epoch=5)
    first_passes = perm.step_indices(0, 5).reshape(-1)
    assert sorted(first_passes[:5].tolist()) == [0, 1, 2, 3, 4]  # a pass sees each point once
    full = ObjectiveDataModule("weighted_quadratic", steps_per_epoch=3)
    assert full.full_batch and all(torch.equal(b[0], P) for b in full.epoch_batches(0))
    none = ObjectiveDataModule("rosenbrock", steps_per_epoch=2)
    assert none.model_inputs() == {"objective": "rosenbrock"} and none.task == "optimisation"
    assert none.epoch_batches(0)[0][0].shape == (0, 2)


def test_data_module_refuses_bad_settings():
    with pytest.raises(ValueError, match="has no points"):
        ObjectiveDataModule("rosenbrock", points=[[0, 0]])
    with pytest.raises(ValueError, match="sampling"):
        ObjectiveDataModule("weighted_quadratic", sampling="stratified")
    with pytest.raises(ValueError, match="2 points but 3 weights"):
        ObjectiveDataModule("weighted_quadratic", points=[[0, 0], [1, 1]], weights=[1, 2, 3])


def test_objective_model_parameters_loss_and_start():
    model = ObjectiveModel("rosenbrock")
    assert [n for n, _ in model.named_parameters()] == ["theta"]
    assert model.theta.dtype == torch.float64 and model.theta.tolist() == [0.2, -0.2]
    empty = (torch.zeros(0, 2, dtype=torch.float64), torch.zeros(0, dtype=torch.float64))
    assert model(*empty).item() == pytest.approx(float(rosenbrock(torch.tensor([0.2, -0.2]))))
    loss = model.loss_function(empty)
    assert float(loss({"theta": torch.tensor([1.0, 1.0], dtype=torch.float64)})) == 0.0
    one = ObjectiveModel("weighted_quadratic", start=[6, 6])
    assert one(P[:1], W[:1]).item() == pytest.approx(1 * 25 + 25)  # one point: that point's term
    with pytest.raises(ValueError, match="1 coordinates"):
        ObjectiveModel("quartic", start=[1.0, 2.0])
