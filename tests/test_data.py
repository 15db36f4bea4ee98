"""Embedded DataModules: shapes, dtypes, label ranges, split sizes and options, seeded splits, batching."""

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from mde_exp import store
from mde_exp.data import in_memory, toy_sets
from mde_exp.data.augment import random_crop_flip
from mde_exp.data.batches import TensorBatches
from mde_exp.data.photos import SamplePhotoDataModule, sample_photo
from mde_exp.data.tabular import BostonHousingDataModule, WDBCDataModule
from mde_exp.data.vision import DigitsDataModule
from mde_exp.errors import ConfigError
from mde_exp.validate import check_config

# data option: (task, what the model is given, split sizes or None)
EMBEDDED = {
    "digits": ("classification", {"input_dim": 64, "num_classes": 10}, (1077, 360, 360)),
    "mnist_5k": ("classification", {"input_dim": 784, "num_classes": 10}, (3000, 1000, 1000)),
    "wdbc": ("classification", {"input_dim": 30, "num_classes": 2}, (364, 91, 114)),
    "iris": ("classification", {"input_dim": 4, "num_classes": 3}, (90, 30, 30)),
    "boston": ("regression", {"input_dim": 13, "output_dim": 1}, (314, 78, 98)),
    "mnist1d": ("classification", {"input_dim": 40, "num_classes": 10}, (3500, 500, 1000)),
    "photo": ("unsupervised", {"input_dim": 3}, None),
    "spiral": ("classification", {"input_dim": 2, "num_classes": 2}, (450, 150, 200)),
    "moons": ("classification", {"input_dim": 2, "num_classes": 2}, (640, 160, 200)),
    "circles": ("classification", {"input_dim": 2, "num_classes": 2}, (640, 160, 200)),
    "blobs": ("classification", {"input_dim": 2, "num_classes": 3}, (384, 96, 120)),
    "gaussian_mixture": ("classification", {"input_dim": 2, "num_classes": 8}, (1620, 180, 200)),
    "swiss_roll": ("unsupervised", {"input_dim": 3}, (1620, 180, 200)),
    "six_points": ("classification", {"input_dim": 1, "num_classes": 2}, (6, 6, 6)),
    "four_classes": ("classification", {"input_dim": 2, "num_classes": 4}, (100, 100, 100)),
    "presence_absence": ("classification", {"input_dim": 1, "num_classes": 2}, (100, 100, 100)),
    "tanh_curve": ("unsupervised", {"input_dim": 2}, (200, 200, 200)),
}


def _data(*overrides: str):
    dm = instantiate(store.compose(list(overrides)).data)
    dm.setup()
    return dm


@pytest.mark.parametrize("name", EMBEDDED)
def test_embedded_set_shapes_dtypes_labels_and_splits(name):
    task, inputs, sizes = EMBEDDED[name]
    dm = _data(f"data={name}")
    assert dm.task == task
    offered = dm.model_inputs()
    assert {k: offered[k] for k in inputs} == inputs
    assert set(offered) - {"input_shape"} == set(inputs)
    for split in ("train", "val", "test", "train_eval"):
        x, *targets = dm.splits[split]
        assert x.dtype == torch.float32 and x.shape[1:] == (inputs["input_dim"],) and len(x) > 0
        assert torch.isfinite(x).all()
        if task == "classification":
            (y,) = targets
            assert y.dtype == torch.long and len(y) == len(x)
            assert int(y.min()) >= 0 and int(y.max()) < inputs["num_classes"]
        elif task == "regression":
            (y,) = targets
            assert y.dtype == torch.float32 and y.shape == (len(x), inputs["output_dim"])
        else:
            assert targets == []
    if task == "classification":  # every class appears in training, and in its evaluated slice
        assert set(dm.splits["train"][1].tolist()) == set(range(inputs["num_classes"]))
        if len(dm.splits["train_eval"][1]) >= 20 * inputs["num_classes"]:
            assert set(dm.splits["train_eval"][1].tolist()) == set(range(inputs["num_classes"]))
    got = dm.sizes()
    assert got["train_eval"] <= got["train"]
    if sizes is not None:
        assert (got["train"], got["val"], got["test"]) == sizes


def test_boston_drops_the_censored_tracts_and_selects_named_columns():
    dm = _data("data=boston", "data.normalize=none", "data.features=[rm]")
    targets = torch.cat([dm.splits[s][1] for s in ("train", "val", "test")])
    assert len(targets) == 490 and float(targets.max()) < 50
    assert dm.input_dim == 1
    rm = dm.splits["train"][0][:, 0]
    assert float(rm.min()) > 3 and float(rm.max()) < 9, "rooms per dwelling, unscaled"
    full = BostonHousingDataModule(drop_censored=False, val_size=0.2, test_size=0.2)
    full.setup()
    assert sum(len(full.splits[s][1]) for s in ("train", "val", "test")) == 506


def test_wdbc_columns_have_the_books_names():
    names = WDBCDataModule().feature_names()
    assert {"smoothness_worst", "area_mean", "texture_mean", "radius_se"} <= set(names)
    dm = _data("data=wdbc", "data.features=[area_mean,texture_mean]")
    assert dm.input_dim == 2
    with pytest.raises(ValueError, match="unknown column.*area_avg.*choose from.*area_mean"):
        WDBCDataModule(features=["area_avg"])


def test_splits_are_seeded():
    a, b = _data("data=spiral", "data.split_seed=3"), _data("data=spiral", "data.split_seed=3")
    c = _data("data=spiral", "data.split_seed=4")
    assert torch.equal(a.splits["val"][0], b.splits["val"][0])
    assert not torch.equal(a.splits["val"][0], c.splits["val"][0])
    same_points = torch.cat([a.splits[s][0] for s in ("train", "val", "test")])
    other_points = torch.cat([c.splits[s][0] for s in ("train", "val", "test")])
    assert torch.equal(same_points.sort(0).values, other_points.sort(0).values), "same data, other split"


def test_stratified_splits_keep_class_proportions():
    dm = _data("data=mnist_5k")
    for split in ("train", "val", "test"):
        counts = torch.bincount(dm.splits[split][1], minlength=10)
        assert int(counts.max() - counts.min()) <= 1


def test_sequential_split_takes_the_first_n_then_the_next_m():
    dm = DigitsDataModule(split="sequential", train_size=100, val_size=50, test_size=300, normalize="none")
    dm.setup()
    x, y = dm.load()["train"]
    assert torch.equal(dm.splits["train"][0], torch.as_tensor(x[:100].reshape(100, -1)))
    assert torch.equal(dm.splits["val"][1], torch.as_tensor(y[100:150]))
    assert torch.equal(dm.splits["test"][1], torch.as_tensor(y[-300:]))


def test_train_size_subsamples_and_sizes_that_do_not_fit_are_refused():
    assert _data("data=digits", "data.train_size=200").sizes()["train"] == 200
    with pytest.raises(ValueError, match="val_size=2000 asks for 2000 examples"):
        DigitsDataModule(val_size=2000, test_size=10).setup()
    with pytest.raises(ValueError, match="train_size=1500 and val_size=300"):
        DigitsDataModule(train_size=1500, val_size=300, test_size=10).setup()
    with pytest.raises(ValueError, match="test_size=1797 leaves no data"):
        DigitsDataModule(test_size=1797).setup()


def test_class_subset_is_relabelled_in_the_order_given():
    dm = DigitsDataModule(classes=[8, 3], val_size=20, test_size=20, normalize="none")
    dm.setup()
    assert dm.num_classes == 2
    x, y = dm.load()["train"]
    eights = torch.as_tensor(x[y == 8].reshape(-1, 64))
    train_x, train_y = dm.splits["train"]
    first_zero = train_x[train_y == 0][0]
    assert (eights == first_zero).all(1).any(), "label 0 holds the 8s"
    assert dm.sizes()["train"] + 40 == int(((y == 3) | (y == 8)).sum())
    with pytest.raises(ValueError, match="at least two distinct"):
        DigitsDataModule(classes=[3])


@pytest.mark.parametrize("kind", ["none", "unit", "standardize"])
def test_normalisation_choices(kind):
    dm = _data("data=digits", f"data.normalize={kind}")
    x = dm.splits["train"][0]
    if kind == "none":
        assert float(x.max()) == 16.0
    elif kind == "unit":
        assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    else:  # images: per channel (one here); tabular sets: per feature
        assert abs(float(x.mean())) < 1e-5 and abs(float(x.std(unbiased=False)) - 1) < 1e-4
        table = _data("data=wdbc").splits["train"][0]
        assert torch.allclose(table.mean(0), torch.zeros(30), atol=1e-5)
        assert torch.allclose(table.std(0, unbiased=False), torch.ones(30), atol=1e-4)


def test_images_keep_their_shape_unless_flattened():
    dm = _data("data=mnist_5k", "data.flatten=false")
    assert dm.splits["train"][0].shape[1:] == (1, 28, 28)
    assert dm.model_inputs()["input_shape"] == (1, 28, 28) and dm.input_dim == 784
    assert _data("data=mnist_5k").model_inputs()["input_shape"] == (1, 28, 28)


def test_polynomial_features():
    assert _data("data=four_classes", "data.polynomial_degree=2").input_dim == 5
    assert _data("data=four_classes", "data.polynomial_degree=8").input_dim == 44
    x = _data("data=presence_absence", "data.polynomial_degree=2").splits["train"][0]
    assert torch.allclose(x[:, 1], x[:, 0] ** 2, rtol=1e-5)
    with pytest.raises(ValueError, match="needs tabular features"):
        DigitsDataModule(polynomial_degree=2, flatten=False).setup()


def test_sets_of_a_few_points_are_evaluated_on_their_training_points():
    dm = _data("data=six_points")
    assert torch.equal(dm.splits["test"][0], dm.splits["train"][0])
    x, y = toy_sets.six_points()
    assert x[:, 0].tolist() == [-3, -2, -1, 1, 2, 3] and y.tolist() == [1, 0, 0, 1, 1, 0]


def test_book_toy_sets_have_their_shape():
    x, y = toy_sets.presence_absence(2000, seed=1)
    middle, ends = y[np.abs(x[:, 0]) < 1].mean(), y[np.abs(x[:, 0]) > 2].mean()
    assert middle > 0.6 and ends < 0.2, "presence peaks mid-range: not monotone in x"
    points = toy_sets.tanh_curve(500, noise=0.0, seed=0)
    c = np.sqrt(0.5)
    unrotated = points @ np.array([[c, -c], [c, c]])
    assert np.allclose(unrotated[:, 1], np.tanh(2 * unrotated[:, 0]), atol=1e-9)
    x, y = toy_sets.gaussian_mixture(4000, layout="grid", n_components=25, std=0.01, seed=0)
    assert len(np.unique(np.round(x, 1), axis=0)) <= 25 * 9 and set(y) == set(range(25))
    with pytest.raises(ValueError, match="square number"):
        toy_sets.gaussian_mixture(layout="grid", n_components=8)
    x, y = toy_sets.four_classes(10, seed=0)
    assert x.shape == (40, 2) and np.bincount(y).tolist() == [10] * 4


def test_generated_sets_are_fixed_by_their_seed():
    a = toy_sets.two_arm_spiral(50, seed=0)[0]
    assert np.array_equal(a, toy_sets.two_arm_spiral(50, seed=0)[0])
    assert not np.array_equal(a, toy_sets.two_arm_spiral(50, seed=1)[0])
    one, two = _data("data=moons"), _data("data=moons", "data.generator.random_state=1")
    assert not torch.equal(one.splits["train"][0], two.splits["train"][0])


def test_sample_photographs_as_pixels():
    image = sample_photo("flower")
    assert image.shape == (427, 640, 3) and image.min() >= 0 and image.max() <= 1
    grey = sample_photo("china", grayscale=True, step=2)
    assert grey.shape == (214, 320)
    dm = SamplePhotoDataModule(photo="flower", grayscale=True, step=4, val_size=0, test_size=0)
    dm.setup()
    assert dm.splits["train"][0].shape == (107 * 160, 1)
    with pytest.raises(ValueError, match="photo='dog'"):
        SamplePhotoDataModule(photo="dog")


def test_prepared_splits_are_cached_per_configuration(monkeypatch):
    calls = []
    original = DigitsDataModule.load
    monkeypatch.setattr(DigitsDataModule, "load", lambda self: calls.append(1) or original(self))
    monkeypatch.setattr(in_memory, "_SPLIT_CACHE", {})
    for seed in (11, 11, 12):
        DigitsDataModule(split_seed=seed).setup()
    assert len(calls) == 2


def test_a_model_that_does_not_fit_the_data_is_refused_before_training():
    with pytest.raises(ConfigError, match="model MLPClassifier needs num_classes.*regression data"):
        check_config(store.compose(["data=boston", "model=mlp"]))
    with pytest.raises(ConfigError, match="LinearRegression needs output_dim.*classification data"):
        check_config(store.compose(["data=digits", "model=linear_regression"]))


def test_permutation_batches_cover_every_example_once_and_change_with_the_epoch():
    x = torch.arange(10).float()
    epoch = [0]
    batches = TensorBatches((x, x.long()), batch_size=4, shuffle=True, seed=1, epoch=lambda: epoch[0])
    assert len(batches) == 3
    first = torch.cat([b[0] for b in batches])
    assert sorted(first.tolist()) == list(range(10))
    assert torch.equal(first, torch.cat([b[0] for b in batches])), "same epoch, same order"
    epoch[0] = 1
    assert not torch.equal(first, torch.cat([b[0] for b in batches]))
    plain = TensorBatches((x,), batch_size=4)
    assert torch.equal(torch.cat([b[0] for b in plain]), x)


def test_random_crop_and_flip_shift_and_mirror_each_image():
    torch.manual_seed(0)
    images = torch.rand(64, 3, 8, 8)
    out = random_crop_flip(images, padding=2)
    assert out.shape == images.shape and not torch.equal(out, images)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for i in range(64):  # each output is a crop of the padded image, mirrored or not
        crops = [padded[i, :, dy : dy + 8, dx : dx + 8] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], c) or torch.equal(out[i], c.flip(-1)) for c in crops)
    mirrored = sum(
        any(
            torch.equal(out[i], padded[i, :, dy : dy + 8, dx : dx + 8].flip(-1))
            for dy in range(5)
            for dx in range(5)
        )
        for i in range(64)
    )
    assert 10 < mirrored < 54, "about half the images are mirrored"
