"""DataModules: shapes, label ranges, seeded splits, permutation batching, and the MNIST IDX reader."""

import gzip

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from mde_exp import store
from mde_exp.data.batches import TensorBatches
from mde_exp.data.idx import read_idx, write_idx
from mde_exp.data.synthetic import SpiralDataModule
from mde_exp.data.vision import MNIST_FILES, MNISTDataModule
from mde_exp.errors import CorruptDataError, DataNotFoundError

EMBEDDED = {"digits": (64, 10), "mnist_5k": (784, 10), "wdbc": (30, 2), "spiral": (2, 2)}


@pytest.mark.parametrize("name", EMBEDDED)
def test_embedded_set_shapes_labels_and_splits(name):
    dm = instantiate(store.compose([f"data={name}"]).data)
    dm.setup()
    assert (dm.input_dim, dm.num_classes) == EMBEDDED[name]
    for split in ("train", "val", "test", "train_eval"):
        x, y = dm.splits[split]
        assert x.dtype == torch.float32 and y.dtype == torch.long
        assert len(x) == len(y) > 0
        assert set(y.unique().tolist()) == set(range(dm.num_classes))
    sizes = dm.sizes()
    assert sizes["train_eval"] <= sizes["train"]
    if name == "mnist_5k":
        assert sizes == {"train": 3000, "val": 1000, "test": 1000, "train_eval": 1000}
        assert float(dm.splits["train"][0].min()) >= 0.0 and float(dm.splits["train"][0].max()) <= 1.0
    if name == "wdbc":
        assert torch.allclose(dm.splits["train"][0].mean(0), torch.zeros(30), atol=1e-4)


def test_splits_are_seeded():
    a, b, c = SpiralDataModule(split_seed=3), SpiralDataModule(split_seed=3), SpiralDataModule(split_seed=4)
    for dm in (a, b, c):
        dm.setup()
    assert torch.equal(a.splits["val"][0], b.splits["val"][0])
    assert not torch.equal(a.splits["val"][0], c.splits["val"][0])


def test_sizes_that_leave_no_training_data_are_refused():
    dm = SpiralDataModule(points_per_class=10, val_size=10, test_size=0.5)
    with pytest.raises(ValueError, match="val_size"):
        dm.setup()


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


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, suffix):
    array = np.random.default_rng(0).integers(0, 255, size=(7, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / f"images{suffix}", array)
    assert np.array_equal(read_idx(tmp_path / f"images{suffix}"), array)


def test_idx_truncated_and_bad_magic_are_reported_with_the_file(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    write_idx(path, np.zeros((3, 4, 4), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(CorruptDataError, match="t10k-images-idx3-ubyte.*truncated"):
        read_idx(path)
    path.write_bytes(b"\x12\x34\x08\x01" + bytes(8))
    with pytest.raises(CorruptDataError, match="bad magic"):
        read_idx(path)
    bad_gz = tmp_path / "x.gz"
    bad_gz.write_bytes(b"not gzip at all")
    with pytest.raises(CorruptDataError, match="cannot be read"):
        read_idx(bad_gz)


def _write_mnist(folder, n_train=60, n_test=20, gz=True):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = np.arange(n, dtype=np.uint8) % 10
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        ext = ".gz" if gz else ""
        write_idx(folder / (MNIST_FILES[f"{split}_images"] + ext), images)
        write_idx(folder / (MNIST_FILES[f"{split}_labels"] + ext), labels)


def test_mnist_from_generated_idx_files(tmp_path):
    _write_mnist(tmp_path / "mnist")
    dm = MNISTDataModule(data_dir=str(tmp_path / "mnist"), val_size=20, eval_train_size=10)
    dm.setup()
    assert dm.sizes() == {"train": 40, "val": 20, "test": 20, "train_eval": 10}
    assert dm.input_dim == 784 and dm.num_classes == 10
    assert float(dm.splits["train"][0].max()) <= 1.0
    with gzip.open(tmp_path / "mnist" / (MNIST_FILES["test_labels"] + ".gz")) as f:
        assert f.read()[:4] == b"\x00\x00\x08\x01"


def test_mnist_missing_files_name_the_files_and_the_folder(tmp_path):
    dm = MNISTDataModule(data_dir=str(tmp_path / "nowhere"))
    with pytest.raises(
        DataNotFoundError, match="train-images-idx3-ubyte.*nowhere|nowhere.*train-images-idx3"
    ):
        dm.check_available()


def test_mnist_labels_that_do_not_match_images_are_reported(tmp_path):
    _write_mnist(tmp_path / "m", gz=False)
    write_idx(tmp_path / "m" / MNIST_FILES["test_labels"], np.zeros(3, dtype=np.uint8))
    with pytest.raises(CorruptDataError, match="do not match"):
        MNISTDataModule(data_dir=str(tmp_path / "m"), val_size=20).setup()
