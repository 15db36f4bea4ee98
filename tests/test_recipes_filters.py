"""cnn-filters and abl-dense-vs-cnn at the smallest scale; the output-size formula against torch (6.2)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mde_exp import store, sweep
from mde_exp.nn.conv_check import cross_correlation, output_size_grid
from mde_exp.recipes import RecipeContext, load_recipes

from .conftest import reproduce_at_smallest_scale

IDS = ("cnn-filters", "abl-dense-vs-cnn")


def test_the_formula_matches_torch_on_a_grid_and_the_grid_can_fail(monkeypatch):
    grid = output_size_grid(sizes=(5, 6, 9), kernels=(1, 3, 7), strides=(1, 3), paddings=(0, 2, "same"),
                            dilations=(1, 3))  # fmt: skip
    assert len(grid) == 3 * 3 * 2 * 3 * 2 and grid.agree.all() and grid.same_ok.all()
    too_big = grid[(grid["size"] == 5) & (grid.kernel == 7) & (grid.padding == "0") & (grid.dilation == 1)]
    assert (too_big.formula < 1).all() and (too_big.torch == -1).all() and (~too_big.fits).all()
    row = grid[(grid["size"] == 9) & (grid.kernel == 3) & (grid.stride == 3) & (grid.padding == "2")
               & (grid.dilation == 3)].iloc[0]  # fmt: skip
    assert row.formula == row.torch == (9 + 4 - 6 - 1) // 3 + 1 == 3
    same = grid[grid.padding == "same"]
    assert (
        set(same.pad) == {0, 1, 3, 9}
        and (same[same.stride == 1].formula == same[same.stride == 1]["size"]).all()
    )
    # a wrong formula (no "+ 1") disagrees with torch: the check can fail
    import mde_exp.nn.conv_check as conv_check

    monkeypatch.setattr(
        conv_check, "conv_output_size", lambda n, k, s, p, d: (n + 2 * p - d * (k - 1) - 1) // s
    )
    assert not conv_check.output_size_grid(sizes=(9,), kernels=(3,), strides=(1,), paddings=(0,),
                                           dilations=(1,)).agree.any()  # fmt: skip


def test_cross_correlation_is_the_books_definition_and_torchs_conv2d():
    rng = np.random.default_rng(0)
    image, kernels, bias = rng.normal(size=(7, 9)), rng.normal(size=(2, 3, 3)), rng.normal(size=2)
    out = cross_correlation(image, kernels, bias)
    assert out.shape == (2, 5, 7)
    assert out[1, 2, 4] == pytest.approx(bias[1] + float(np.sum(image[2:5, 4:7] * kernels[1])))
    expected = F.conv2d(torch.tensor(image)[None, None], torch.tensor(kernels)[:, None], torch.tensor(bias))
    assert np.allclose(out, expected[0].numpy())
    flipped = F.conv2d(torch.tensor(image)[None, None], torch.tensor(kernels[:, ::-1, ::-1].copy())[:, None])
    assert not np.allclose(out - bias[:, None, None], flipped[0].numpy())  # not the flipped convolution


def test_dense_vs_cnn_sweep_runs_both_nets_alike():
    cfg = store.compose(["+experiment=dense_vs_cnn"], return_hydra_config=True)
    jobs = sweep.expand(["+experiment=dense_vs_cnn"], sweep.sweep_params(cfg.hydra))
    assert [job[0] for job in jobs] == ["model=mlp_relu_tanh", "model=convnet"]
    configs = [store.compose(job) for job in jobs]
    for c in configs:
        assert (c.optimizer._target_, c.optimizer.lr, c.data.batch_size, c.trainer.max_epochs) == (
            "torch.optim.Adam",
            0.005,
            1000,
            30,
        )
    assert list(configs[0].model.hidden_sizes) == [200, 100] and list(configs[0].model.activation) == [
        "relu",
        "tanh",
    ]
    assert configs[1].model._target_.endswith("ConvNet") and list(configs[1].model.channels) == [8, 16]


def test_recipes_are_registered():
    recipes = load_recipes()
    for rid in IDS:
        assert rid in recipes and recipes[rid].chapter == 6 and recipes[rid].book_ref.startswith("Section 6.")


def test_the_initial_model_is_the_runs_initial_model(tmp_path, one_thread):
    """cnn-filters compares the trained filters with a rebuilt initial model: with a negligible learning
    rate, the stored run's filters must equal the rebuilt ones."""
    initial_model = load_recipes()["cnn-filters"].run.__globals__["initial_model"]
    ctx = RecipeContext("tiny", tmp_path, overrides=["logger=none", f"store.root={tmp_path / 'runs'}"])
    result = ctx.train(["model=convnet", "data=digits", "model.padding=same", "optimizer.lr=1e-12",
                        "trainer.max_epochs=1", "seed=5"])  # fmt: skip
    trained = store.load_model(result.dir).first_layer.weight
    rebuilt = initial_model(result.dir).first_layer.weight
    assert torch.allclose(trained, rebuilt, atol=1e-8)
    assert not torch.allclose(trained, torch.nn.Conv2d(1, 8, 5).weight, atol=1e-3)


def test_cnn_filters_and_dense_vs_cnn_at_the_smallest_scale(tmp_path, one_thread):
    records = reproduce_at_smallest_scale(tmp_path, IDS)
    for record in records.values():
        for claim in record["claims"]:
            assert claim["book_value"] is None  # course values only in the full profile

    filters = records["cnn-filters"]["values"]
    assert filters["grid"]["combinations"] == filters["grid"]["agree"] == 28 * 4 * 3 * 4 * 3
    assert 0 < filters["grid"]["kernel_fits"] < filters["grid"]["combinations"]
    assert filters["conv_error"] < 1e-4 and filters["pool_error"] < 1e-4
    assert filters["filter_shape"] == [8, 1, 5, 5]
    assert filters["feature_map_shapes"] == [[8, 24, 24], [8, 12, 12]]
    assert filters["filter_change"] > 0.2 and filters["test_acc"] > 0.85

    dense_cnn = records["abl-dense-vs-cnn"]["values"]
    assert dense_cnn["parameters"] == {"dense": 178_110, "CNN": 5_386}
    assert dense_cnn["val_acc"]["CNN"] > dense_cnn["val_acc"]["dense"]
    assert dense_cnn["epochs"] == 12 and len(records["abl-dense-vs-cnn"]["runs"]) == 2
