"""mde_exp.figures.regions: the map from original points to a run's model inputs, grids and drawing."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from mde_exp import store
from mde_exp.figures.regions import class_probabilities, draw_regions, input_map, plane_grid
from mde_exp.figures.style import subplots
from mde_exp.models.logistic import LogisticRegression


@pytest.mark.parametrize(
    "overrides",
    [
        ["data=four_classes_book", "data.polynomial_degree=2"],
        ["data=spiral", "data.normalize=standardize", "data.polynomial_degree=4", "data.val_size=0"],
        ["data=wdbc", "data.features=[area_mean,texture_mean]", "data.classes=[1,0]"],
        ["data=presence_book", "data.normalize=none", "data.polynomial_degree=2"],
    ],
)
def test_input_map_reproduces_the_data_modules_inputs(overrides):
    cfg = store.compose(overrides).data
    dm = instantiate(cfg)
    dm.setup()
    raw, to_inputs = input_map(cfg)
    for split in ("train", "test"):
        original, labels = raw.splits[split]
        assert torch.equal(labels, dm.splits[split][1])  # the same split, example for example
        mapped = to_inputs(original.numpy())
        assert mapped.dtype == np.float32 and mapped.shape == tuple(dm.splits[split][0].shape)
        assert np.allclose(mapped, dm.splits[split][0].numpy(), atol=1e-5)


def test_plane_grid_covers_the_points_with_a_margin():
    points = np.array([[0.0, -1.0], [2.0, 3.0]])
    u, v, grid = plane_grid(points, margin=(0.5, 1.0), n=11)
    assert u.shape == v.shape == (11, 11) and grid.shape == (121, 2)
    assert grid.min(0).tolist() == [-0.5, -2.0] and grid.max(0).tolist() == [2.5, 4.0]


def test_class_probabilities_and_regions_of_a_logistic_model():
    model = LogisticRegression(input_dim=2)
    with torch.no_grad():
        model.net[1].weight.copy_(torch.tensor([[1.0, -1.0]]))
        model.net[1].bias.zero_()
    u, v, grid = plane_grid(np.array([[-1.0, -1.0], [1.0, 1.0]]), n=21)
    p = class_probabilities(model, grid)
    assert p.shape == (441, 2) and np.allclose(p.sum(1), 1.0)
    off_line = grid[:, 0] != grid[:, 1]  # class 1 where x1 - x2 > 0
    assert np.array_equal(p.argmax(1)[off_line], (grid[:, 0] > grid[:, 1])[off_line].astype(int))
    fig, ax = subplots()
    draw_regions(ax, u, v, p.argmax(1).reshape(u.shape), ("#f6c1c1", "#b9d3ee"))
    assert len(ax.collections) >= 2  # filled regions and the boundary
    plt.close(fig)
