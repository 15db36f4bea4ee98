"""fig-2.7's data (Boston-calibrated NumPy draws) and the in-memory options it needs: float64 tensors and
several full-batch passes an epoch."""

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from mde_exp import store
from mde_exp.data.batches import TensorBatches
from mde_exp.data.synthetic_regression import boston_calibrated_line, boston_rm_line


def test_the_draws_are_the_notebooks():
    # the notebook's printed numbers (Learning-Rate-Matters-GD-linear.ipynb)
    assert boston_rm_line() == pytest.approx((-30.005120145375855, 8.268557322426984), abs=1e-12)
    x, y = boston_calibrated_line()
    assert x.shape == (490, 1) and y.shape == (490,) and x.dtype == y.dtype == np.float64
    assert x.mean() == pytest.approx(5.928320085963393, abs=1e-12)
    assert x.std() == pytest.approx(2.4871677759130955, abs=1e-12)
    X = np.stack([np.ones(490), x[:, 0]], axis=1)
    assert np.linalg.pinv(X) @ y == pytest.approx([-30.448388600049572, 8.310100644523807], abs=1e-12)
    # the legacy global stream: np.random.seed(0) then two normal draws
    state = np.random.get_state()
    np.random.seed(0)
    first = np.random.normal(6, 2.5, 490)
    np.random.set_state(state)
    assert np.array_equal(first, x[:, 0])


def test_boston_synthetic_data_module_is_float64_and_exact():
    dm = instantiate(store.compose(["data=boston_synthetic"]).data)
    dm.setup()
    x, y = dm.splits["train"]
    assert x.dtype == y.dtype == torch.float64 and x.shape == (490, 1) and y.shape == (490, 1)
    xs, ys = boston_calibrated_line()
    assert np.array_equal(x.numpy(), xs) and np.array_equal(y.numpy()[:, 0], ys)
    assert len(dm.train_dataloader()) == 100  # passes_per_epoch full-batch steps an epoch
    with pytest.raises(Exception, match="dtype="):
        instantiate(store.compose(["data=boston_synthetic", "data.dtype=float16"]).data)
    with pytest.raises(Exception, match="passes_per_epoch="):
        instantiate(store.compose(["data=boston_synthetic", "data.passes_per_epoch=0"]).data)


def test_tensor_batches_passes():
    t = (torch.arange(10),)
    one = TensorBatches(t, 4, shuffle=True, seed=3, epoch=lambda: 2)
    three = TensorBatches(t, 4, shuffle=True, seed=3, epoch=lambda: 0, passes=3)
    assert len(one) == 3 and len(three) == 9
    batches = [b[0] for b in three]
    passes = [torch.cat(batches[i : i + 3]) for i in (0, 3, 6)]
    assert all(torch.equal(p.sort().values, torch.arange(10)) for p in passes)  # each pass: every example
    # pass p of epoch e is permutation number e * passes + p: passes=1 keeps the epoch's permutation
    assert torch.equal(passes[2], torch.cat([b[0] for b in one]))
    with pytest.raises(ValueError, match="passes"):
        TensorBatches(t, 4, passes=0)
