"""Chapter 3's logistic and softmax regression recipes (fig-3.1, 3.4, 3.7, 3.8, 3.9) at the tiny
profile, the book's small data sets behind them, and the mathematics the recipes compute."""

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from mde_exp import store, sweep
from mde_exp.data import toy_sets
from mde_exp.paths import experiments_dir

from .conftest import reproduce_at_smallest_scale

IDS = ("fig-3.1", "fig-3.4", "fig-3.7", "fig-3.8", "fig-3.9")


def _recipe_module(recipe_id: str) -> ModuleType:
    """A recipe's module, loaded from its file (experiments/ is not a package)."""
    path = experiments_dir() / f"{recipe_id.replace('-', '_').replace('.', '_')}.py"
    spec = importlib.util.spec_from_file_location(f"logreg_test_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_books_four_class_and_presence_points():
    x, y = toy_sets.four_classes_book()
    assert x.shape == (17, 2) and np.bincount(y).tolist() == [4, 5, 4, 4]
    assert ((x > 0) & (x < 1)).all()
    assert x[0].tolist() == [0.4, 0.85] and y[0] == 1 and x[-1].tolist() == [0.4, 0.7] and y[-1] == 3
    x, y = toy_sets.presence_book()
    assert x.shape == (38, 1) and int(y.sum()) == 19
    assert (
        x[0, 0] == pytest.approx(10.0) and x[-1, 0] == pytest.approx(90.0) and (np.diff(x[:, 0]) >= 0).all()
    )
    # present only at middle precipitation: absent at the 7 driest and the 7 wettest sites
    assert y[:7].sum() == 0 and y[-7:].sum() == 0 and y[14:25].all()


@pytest.mark.parametrize(("name", "n", "classes"), [("four_classes_book", 17, 4), ("presence_book", 38, 2)])
def test_book_sets_evaluate_on_their_training_points(name, n, classes):
    dm = instantiate(store.compose([f"data={name}"]).data)
    dm.setup()
    assert dm.sizes()["train"] == dm.sizes()["test"] == dm.sizes()["train_eval"] == n
    assert dm.num_classes == classes
    assert torch.equal(dm.splits["train"][0], dm.splits["test"][0])
    x = dm.splits["train"][0]  # standardised
    assert torch.allclose(x.mean(0), torch.zeros(x.shape[1]), atol=1e-5)


@pytest.mark.parametrize(
    ("experiment", "key", "values"),
    [
        ("logistic_wdbc", "data.features", ["[area_mean]", "[area_mean,texture_mean]"]),
        ("logistic_quadratic", "data.polynomial_degree", ["1", "2"]),
        ("softmax_polynomial", "data.polynomial_degree", ["1", "2", "8"]),
        ("spiral_polynomial", "data.polynomial_degree", ["1", "2", "4", "8"]),
    ],
)
def test_chapter_3_experiments_sweep_the_feature_sets(experiment, key, values):
    base = store.compose([f"+experiment={experiment}"], return_hydra_config=True)
    jobs = sweep.expand([f"+experiment={experiment}"], sweep.sweep_params(base.hydra))
    assert [next(o.split("=", 1)[1] for o in job if o.startswith(f"{key}=")) for job in jobs] == values
    cfg = store.compose(jobs[0])
    assert cfg.optimizer._target_ == "torch.optim.LBFGS"
    assert cfg.figure_id.startswith("fig-3.")


def test_wdbc_experiment_codes_malignant_as_one():
    cfg = store.compose(["+experiment=logistic_wdbc", "data.features=[area_mean]"])
    dm = instantiate(cfg.data)
    dm.setup()
    x, y = dm.splits["train"]
    assert dm.sizes()["train"] == 455 and dm.sizes()["test"] == 114
    # malignant tumours (y = 1) are the larger ones, and the minority
    assert float(x[y == 1].mean()) > float(x[y == 0].mean()) and float(y.float().mean()) < 0.5


def test_landscape_gradients_and_hessians_match_the_formulas():
    fig_3_4 = _recipe_module("fig-3.4")
    x = torch.tensor([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0], dtype=torch.float64)
    y = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    grid = torch.tensor([[0.0, 0.0], [1.5, -2.0], [-4.0, 7.0]], dtype=torch.float64)
    squared_error, cross_entropy = fig_3_4.logistic_losses(x, y)
    ce, se = fig_3_4.landscape(cross_entropy, grid), fig_3_4.landscape(squared_error, grid)
    features = torch.stack([x, torch.ones_like(x)], dim=1)  # d z / d(w, b)
    for i, (w, b) in enumerate(grid.tolist()):
        p = torch.sigmoid(b + w * x)
        ce_value = -(y * p.log() + (1 - y) * (1 - p).log()).mean()
        ce_hessian = (features.T * (p * (1 - p))) @ features / len(x)
        assert float(ce["value"][i]) == pytest.approx(float(ce_value), rel=1e-9)
        assert torch.allclose(ce["eigenvalues"][i], torch.linalg.eigvalsh(ce_hessian), atol=1e-12)
        assert float(se["value"][i]) == pytest.approx(float(((y - p) ** 2).sum()), rel=1e-12)
        se_gradient = (-2 * (y - p) * p * (1 - p)) @ features
        assert float(se["gradient_norm"][i]) == pytest.approx(float(se_gradient.norm()), rel=1e-9, abs=1e-15)
    # the six points balance: (0, 0) is a stationary point of both losses
    assert float(ce["gradient_norm"][0]) < 1e-12 and float(se["gradient_norm"][0]) < 1e-12


def test_midpoint_test_tells_convex_regions_from_non_convex_ones():
    violations = _recipe_module("fig-3.7").midpoint_violations
    half_planes = lambda p: (p[:, 0] + 2 * p[:, 1] > 1).astype(int)  # noqa: E731
    annulus = lambda p: (np.linalg.norm(p - 0.5, axis=1) > 0.3).astype(int)  # noqa: E731
    assert violations(half_planes, 5000) == 0.0
    assert violations(annulus, 5000) > 0.01


def test_chapter_3_recipes_at_the_smallest_scale(tmp_path, one_thread):
    records = reproduce_at_smallest_scale(tmp_path, IDS)

    wdbc = records["fig-3.1"]["values"]
    one, two = wdbc["area_mean"], wdbc["area_mean + texture_mean"]
    assert one["weights_original_units"][0] > 0 and len(two["weights_original_units"]) == 2
    assert min(one["test_acc"], two["test_acc"]) > 0.85 > 0.65 > one["majority_rate_test"]
    assert max(one["max_abs_diff_sklearn"], two["max_abs_diff_sklearn"]) < 0.01

    landscape = records["fig-3.4"]["values"]
    assert landscape["cross-entropy"]["share_negative_curvature"] == 0.0
    assert landscape["squared error"]["min_hessian_eigenvalue"] < -1.0
    assert landscape["cross-entropy"]["grid_minimum"] == pytest.approx(np.log(2), abs=1e-9)

    softmax = records["fig-3.7"]["values"]["by_degree"]
    assert softmax["1"]["train_acc"] == pytest.approx(15 / 17) and softmax["8"]["train_acc"] == 1.0
    assert [softmax[d]["features"] for d in ("1", "2", "8")] == [2, 5, 44]

    presence = records["fig-3.8"]["values"]["by_degree"]
    assert presence["1"]["monotone"] and not presence["2"]["monotone"]
    assert presence["2"]["loss"] < presence["1"]["loss"] - 0.3
    assert 40 < presence["2"]["peak_precipitation"] < 60

    spiral = records["fig-3.9"]["values"]["by_degree"]
    assert set(spiral) == {"1", "2", "4", "8"}
    assert spiral["1"]["test_acc"] < 0.7 < 0.85 < spiral["8"]["test_acc"]
    runs = [Path(r) for rid in ("fig-3.1", "fig-3.7", "fig-3.8", "fig-3.9") for r in records[rid]["runs"]]
    assert len(runs) == 2 + 3 + 2 + 4
    assert all((run / "checkpoints" / "last.ckpt").is_file() for run in runs)
    assert {run.parent.name for run in runs} == {
        "logistic_wdbc", "softmax_polynomial", "logistic_quadratic", "spiral_polynomial"
    }  # fmt: skip
