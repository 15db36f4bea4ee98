"""Full image sets on files the tests generate in each original format (IDX, CIFAR-10 pickle batches, a
Hugging Face Arrow copy, a stand-in for the Hub): readers, options, sources, and the errors a user sees."""

import gzip
import io
import os
import pickle
import socket
import struct
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from PIL import Image

from mde_exp import store
from mde_exp.data import hub
from mde_exp.data.cifar import CIFAR_LABEL_NAMES, META, TEST_BATCH, TRAIN_BATCHES, CIFAR10DataModule, unpickle
from mde_exp.data.full_vision import MNIST_FILES, FashionMNISTDataModule, MNISTDataModule
from mde_exp.data.idx import read_idx, write_idx
from mde_exp.errors import CorruptDataError, DataNotFoundError

from .conftest import run_cli


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Hugging Face offline and no connection possible: nothing in these tests may reach the network."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError(f"a test tried to open a connection: {args}")

    monkeypatch.setattr(socket, "create_connection", no_network)
    probe = hub.hub_reachable  # a test may replace it
    probe.cache_clear()
    yield
    probe.cache_clear()


# -- IDX: MNIST and Fashion-MNIST --------------------------------------------------------------------


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


def _write_idx_set(folder, n_train=60, n_test=20, gz=True):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = np.arange(n, dtype=np.uint8) % 10
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        ext = ".gz" if gz else ""
        write_idx(folder / (MNIST_FILES[f"{split}_images"] + ext), images)
        write_idx(folder / (MNIST_FILES[f"{split}_labels"] + ext), labels)


def test_mnist_from_generated_idx_files(tmp_path):
    _write_idx_set(tmp_path / "mnist")
    dm = MNISTDataModule(data_dir=str(tmp_path / "mnist"), val_size=20, eval_train_size=10, normalize="unit")
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
    _write_idx_set(tmp_path / "m", gz=False)
    write_idx(tmp_path / "m" / MNIST_FILES["test_labels"], np.zeros(3, dtype=np.uint8))
    with pytest.raises(CorruptDataError, match="do not match"):
        MNISTDataModule(data_dir=str(tmp_path / "m"), val_size=20).setup()


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzipped"])
def test_fashion_mnist_from_generated_idx_files(tmp_path, gz):
    _write_idx_set(tmp_path / "fashion", gz=gz)
    dm = FashionMNISTDataModule(data_dir=str(tmp_path / "fashion"), val_size=10, flatten=False)
    dm.setup()
    assert dm.sizes() == {"train": 50, "val": 10, "test": 20, "train_eval": 50}
    assert tuple(dm.splits["train"][0].shape[1:]) == (1, 28, 28) and dm.num_classes == 10
    assert dm.label_names[0] == "T-shirt/top" and dm.label_names[9] == "Ankle boot"


def test_fashion_mnist_truncated_gz_file_is_named(tmp_path):
    _write_idx_set(tmp_path / "f", gz=True)
    path = tmp_path / "f" / (MNIST_FILES["train_images"] + ".gz")
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(CorruptDataError, match="train-images-idx3-ubyte.gz"):
        FashionMNISTDataModule(data_dir=str(tmp_path / "f"), val_size=10).setup()


def test_fashion_mnist_missing_files_say_what_where_and_from_where(tmp_path):
    dm = FashionMNISTDataModule(data_dir=str(tmp_path / "fm"))
    with pytest.raises(DataNotFoundError) as err:
        dm.check_available()
    message = str(err.value)
    assert "\n" not in message
    for text in (
        "Fashion-MNIST files missing in",
        str(tmp_path / "fm"),
        *MNIST_FILES.values(),
        "github.com/zalandoresearch/fashion-mnist",
        "zalando-datasets/fashion_mnist",
        "hf_arrow",
        "HF_HUB_OFFLINE=1",
    ):
        assert text in message, text


# -- CIFAR-10 pickle batches ------------------------------------------------------------------------


class _Python2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2's cPickle wrote the original CIFAR-10 files: strings as BINSTRING opcodes
    (so they load as str with encoding='latin1', as bytes with encoding='bytes') and numpy's array
    reconstructor under its old module name numpy.core.multiarray."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_string(self, obj, *_):
        data = obj if isinstance(obj, bytes) else obj.encode("latin1")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = save_py2_string
    dispatch[str] = save_py2_string

    def save_global(self, obj, name=None):
        module = obj.__module__.replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__qualname__}\n".encode())
        self.memoize(obj)


def _dump(content: dict, style: str) -> bytes:
    """A CIFAR batch dict as the original files hold it (py2), or re-pickled by Python 3 with bytes keys
    at protocol 2 (py3_bytes) or with str keys (py3_str)."""
    if style == "py2":
        buffer = io.BytesIO()
        _Python2Pickler(buffer, protocol=2).dump(content)
        return buffer.getvalue()
    if style == "py3_bytes":
        return pickle.dumps(_as_bytes(content), protocol=2)
    return pickle.dumps(content, protocol=2)


def _as_bytes(value):
    """Every str in a batch dict (keys, names, file names) as bytes."""
    if isinstance(value, dict):
        return {_as_bytes(k): _as_bytes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_bytes(v) for v in value]
    return value.encode() if isinstance(value, str) else value


def _write(path, content: bytes) -> None:
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(content)
    else:
        path.write_bytes(content)


def _write_cifar(folder, n_per_batch=12, n_test=20, style="py2", meta_style=None, gz=False, seed=0):
    """Five training batches, a test batch and batches.meta, shaped like cifar-10-batches-py's."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    names = [*TRAIN_BATCHES, TEST_BATCH]
    for i, name in enumerate(names):
        n = n_test if name == TEST_BATCH else n_per_batch
        labels = [int(v) for v in (np.arange(n) + i) % 10]
        batch = {
            "batch_label": "testing batch 1 of 1" if name == TEST_BATCH else f"training batch {i + 1} of 5",
            "labels": labels,
            "data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
            "filenames": [f"image_{i}_{j}.png" for j in range(n)],
        }
        _write(folder / (name + ext), _dump(batch, style))
    meta = {"num_cases_per_batch": n_per_batch, "label_names": list(CIFAR_LABEL_NAMES), "num_vis": 3072}
    _write(folder / (META + ext), _dump(meta, meta_style or style))
    return folder


@pytest.mark.parametrize("style", ["py2", "py3_bytes", "py3_str"])
def test_unpickle_reads_each_way_the_batches_are_pickled(tmp_path, style):
    path = _write_cifar(tmp_path, style=style) / "data_batch_1"
    content = unpickle(path)
    assert {"batch_label", "labels", "data", "filenames"} <= set(content)
    assert content["data"].shape == (12, 3072) and content["data"].dtype == np.uint8
    if style == "py2":
        assert (
            path.read_bytes()[:3] == b"\x80\x02}"
            and b"cnumpy.core.multiarray\n_reconstruct" in path.read_bytes()
        )


@pytest.mark.parametrize(
    ("nested", "style", "meta_style", "gz"),
    [(True, "py2", None, False), (False, "py3_bytes", "py3_str", False), (True, "py3_bytes", None, True)],
    ids=["original", "flat-bytes-keys-str-meta", "gzipped"],
)
def test_cifar10_from_generated_batches(tmp_path, nested, style, meta_style, gz):
    folder = tmp_path / "cifar10" / "cifar-10-batches-py" if nested else tmp_path / "cifar10"
    _write_cifar(folder, style=style, meta_style=meta_style, gz=gz)
    common = {"data_dir": str(tmp_path / "cifar10"), "val_size": 10, "eval_train_size": 8}
    dm = CIFAR10DataModule(**common, flatten=False, normalize="none")
    dm.setup()
    assert dm.sizes() == {"train": 50, "val": 10, "test": 20, "train_eval": 8}
    x, y = dm.splits["train"]
    assert tuple(x.shape[1:]) == (3, 32, 32) and dm.image_shape == (3, 32, 32)
    assert int(y.min()) >= 0 and int(y.max()) <= 9 and dm.num_classes == 10
    assert float(x.max()) > 200 and float(x.min()) >= 0
    assert dm.label_names == list(CIFAR_LABEL_NAMES)
    # the first test image is the batch's row 0: 1024 red values, then green, then blue
    raw = unpickle(folder / (TEST_BATCH + (".gz" if gz else "")))["data"][0]
    assert np.array_equal(dm.splits["test"][0][0].numpy().astype(np.uint8).reshape(-1), raw)
    flat = CIFAR10DataModule(**common, flatten=True)
    assert flat.input_dim == 3072 and flat.model_inputs()["input_shape"] == (3, 32, 32)


def test_cifar10_standardizes_each_channel_with_training_statistics(tmp_path):
    _write_cifar(tmp_path / "c")
    dm = CIFAR10DataModule(data_dir=str(tmp_path / "c"), val_size=10, normalize="standardize", flatten=False)
    dm.setup()
    x = dm.splits["train"][0].double()
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(x.std(dim=(0, 2, 3), correction=0), torch.ones(3, dtype=torch.float64), atol=1e-4)
    assert abs(float(dm.splits["test"][0].mean())) < 0.1


def test_cifar3_config_keeps_airplane_cat_truck_relabelled(tmp_path):
    _write_cifar(tmp_path / "c", n_per_batch=40, n_test=30)
    cfg = store.compose(
        ["data=cifar3", f"data.data_dir={tmp_path / 'c'}", "data.train_size=20", "data.val_size=9"]
    )
    assert list(cfg.data.classes) == [0, 3, 9] and cfg.data.flatten is False
    dm = instantiate(cfg.data)
    dm.setup()
    assert dm.sizes()["train"] == 20 and dm.sizes()["val"] == 9 and dm.sizes()["test"] == 9  # 3 of each
    for split in ("train", "val", "test"):
        assert set(dm.splits[split][1].tolist()) == {0, 1, 2}
    assert dm.num_classes == 3 and dm.class_names == ["airplane", "cat", "truck"]
    assert store.compose(["data=cifar3"]).data.train_size == 2000


def test_cifar10_missing_files_say_what_where_and_from_where(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "data_batch_1").write_bytes(_dump({"data": 1}, "py3_str"))
    dm = CIFAR10DataModule(data_dir=str(tmp_path / "c"))
    with pytest.raises(DataNotFoundError) as err:
        dm.check_available()
    message = str(err.value)
    for text in (
        f"CIFAR-10 files missing in {tmp_path / 'c'}",
        "data_batch_2, data_batch_3, data_batch_4, data_batch_5, test_batch",
        "https://www.cs.toronto.edu/~kriz/cifar.html",
        "cifar-10-python.tar.gz",
        "uoft-cs/cifar10",
        "HF_HUB_OFFLINE=1",
    ):
        assert text in message, text
    assert "data_batch_1," not in message
    (tmp_path / "c" / "cifar-10-python.tar.gz").write_bytes(b"")
    with pytest.raises(DataNotFoundError, match="extract .*cifar-10-python.tar.gz"):
        dm.check_available()


def test_cifar10_corrupt_and_truncated_batches_are_named(tmp_path):
    folder = _write_cifar(tmp_path / "c", n_per_batch=30)
    path = folder / "data_batch_3"
    good = path.read_bytes()
    cases = [
        (b"this is not a pickle", "data_batch_3: truncated or not a CIFAR-10 pickle"),
        (good[: len(good) // 2], "data_batch_3: truncated"),
        (_dump({"labels": [1, 2]}, "py3_bytes"), "data_batch_3: no 'data'"),
        (_dump({"data": np.zeros((2, 100), np.uint8), "labels": [1, 2]}, "py2"), "expected uint8 N x 3072"),
        (_dump({"data": np.zeros((2, 3072), np.uint8), "labels": [1]}, "py2"), "2 images but 1 labels"),
        (_dump({"data": np.zeros((1, 3072), np.uint8), "labels": [10]}, "py2"), "expected 0..9"),
        (pickle.dumps([1, 2]), "holds a list"),
        (pickle.dumps(os.getcwd, protocol=2), "refers to posix.getcwd"),
    ]
    for i, (content, message) in enumerate(cases):
        path.write_bytes(content)
        with pytest.raises(CorruptDataError, match=message.replace(".", r"\.")):
            CIFAR10DataModule(data_dir=str(folder), val_size=10, split_seed=i).setup()
    gz = _write_cifar(tmp_path / "z", gz=True) / "test_batch.gz"
    gz.write_bytes(gz.read_bytes()[:-30])
    with pytest.raises(CorruptDataError, match="test_batch.gz"):
        CIFAR10DataModule(data_dir=str(tmp_path / "z"), val_size=10).setup()


def test_cifar10_crop_flip_augments_training_batches_only(tmp_path):
    _write_cifar(tmp_path / "c")
    cfg = store.compose(["data=cifar10", f"data.data_dir={tmp_path / 'c'}", "data.val_size=10"])
    assert cfg.data.augment == "crop_flip" and cfg.data.normalize == "standardize"
    dm = instantiate(cfg.data)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    dm.trainer = SimpleNamespace(training=True)
    torch.manual_seed(0)
    augmented = dm.on_after_batch_transfer(batch, 0)
    assert augmented[0].shape == batch[0].shape and torch.equal(augmented[1], batch[1])
    assert not torch.equal(augmented[0], batch[0])
    dm.trainer = SimpleNamespace(training=False)
    assert dm.on_after_batch_transfer(batch, 0)[0] is batch[0]


# -- Hugging Face: the Arrow copy, the Hub, offline detection ------------------------------------------


def _hf_cifar(n_train=30, n_test=10, pil=False, seed=0):
    """A tiny CIFAR-10 DatasetDict as the Hub has it (PIL images in `img`) or as uint8 H x W x C arrays."""
    import datasets

    rng = np.random.default_rng(seed)
    parts = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        labels = [int(v) for v in np.arange(n) % 10]
        if pil:
            features = datasets.Features(
                {"img": datasets.Image(), "label": datasets.ClassLabel(names=list(CIFAR_LABEL_NAMES))}
            )
            content = {"img": [Image.fromarray(im) for im in images], "label": labels}
        else:
            features = datasets.Features(
                {"image": datasets.Array3D((32, 32, 3), "uint8"), "label": datasets.Value("int64")}
            )
            content = {"image": images, "label": labels}
        parts[split] = datasets.Dataset.from_dict(content, features=features)
    return datasets.DatasetDict(parts)


def test_cifar10_from_an_arrow_copy_without_the_original_files(tmp_path):
    data_dir = tmp_path / "c"
    saved = _hf_cifar()
    saved.save_to_disk(str(data_dir / "hf_arrow"))
    dm = CIFAR10DataModule(data_dir=str(data_dir), val_size=10, flatten=False, normalize="none")
    dm.check_available()
    dm.setup()
    assert dm.sizes()["train"] == 20 and dm.sizes()["test"] == 10
    assert tuple(dm.splits["test"][0].shape) == (10, 3, 32, 32)
    first = saved["test"].with_format("numpy")[0]["image"]  # H x W x C on disk, C x H x W served
    assert np.array_equal(dm.splits["test"][0][0].numpy().transpose(1, 2, 0), first)
    assert dm.label_names == list(CIFAR_LABEL_NAMES)  # no ClassLabel stored: the published names
    with pytest.raises(DataNotFoundError, match="data.source=files"):
        CIFAR10DataModule(data_dir=str(data_dir), source="files").check_available()


def test_fashion_mnist_from_an_arrow_copy_of_grey_pil_images(tmp_path):
    import datasets

    rng = np.random.default_rng(1)
    names = list(FashionMNISTDataModule.default_label_names)
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=names)})
    parts = {
        split: datasets.Dataset.from_dict(
            {
                "image": [Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)) for _ in range(n)],
                "label": [i % 10 for i in range(n)],
            },
            features=features,
        )
        for split, n in (("train", 30), ("test", 10))
    }
    datasets.DatasetDict(parts).save_to_disk(str(tmp_path / "hf_arrow"))
    dm = FashionMNISTDataModule(data_dir=str(tmp_path), val_size=10, flatten=False)
    dm.setup()
    assert tuple(dm.splits["train"][0].shape) == (20, 1, 28, 28) and dm.label_names == names


def test_a_failed_hub_download_is_one_clear_error(tmp_path, monkeypatch):
    import datasets

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("HF_DATASETS_OFFLINE")
    monkeypatch.setattr(hub, "hub_reachable", lambda *a, **k: True)

    def refuse(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'ylecun/mnist' on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", refuse)
    with pytest.raises(DataNotFoundError, match="'ylecun/mnist' could not be fetched .*ConnectionError"):
        MNISTDataModule(data_dir=str(tmp_path / "m")).setup()
    assert not hub.has_arrow_copy(tmp_path / "m")


def test_a_broken_arrow_copy_is_named(tmp_path):
    (tmp_path / "hf_arrow").mkdir()
    (tmp_path / "hf_arrow" / "dataset_dict.json").write_text('{"splits": ["train", "test"]}')
    with pytest.raises(CorruptDataError, match="hf_arrow: not a readable Hugging Face Arrow copy"):
        FashionMNISTDataModule(data_dir=str(tmp_path)).setup()


def test_hub_download_is_converted_saved_as_arrow_and_read_back(tmp_path, monkeypatch):
    import datasets

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("HF_DATASETS_OFFLINE")
    monkeypatch.setattr(hub, "hub_reachable", lambda *a, **k: True)
    calls = []

    def fake_load_dataset(hub_id, cache_dir=None, **kwargs):
        calls.append((hub_id, cache_dir))
        return _hf_cifar(pil=True)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    data_dir = tmp_path / "c"
    dm = CIFAR10DataModule(data_dir=str(data_dir), val_size=10, flatten=False, normalize="none")
    dm.check_available()  # online and nothing local: the Hub will be used, nothing fetched yet
    assert calls == []
    dm.setup()
    assert calls == [("uoft-cs/cifar10", str(data_dir / "hf_cache"))]
    assert hub.has_arrow_copy(data_dir) and not (data_dir / "hf_arrow.partial").exists()
    copy = datasets.load_from_disk(str(data_dir / "hf_arrow"))
    assert copy["train"].column_names == ["image", "label"] and copy["train"].num_rows == 30
    assert copy["train"].features["label"].names == list(CIFAR_LABEL_NAMES)
    expected = np.asarray(_hf_cifar(pil=True)["test"][0]["img"]).transpose(2, 0, 1)
    assert np.array_equal(dm.splits["test"][0][0].numpy(), expected)

    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("the Hub was asked again"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = CIFAR10DataModule(
        data_dir=str(data_dir), val_size=10, flatten=False, normalize="none", source="hub"
    )
    again.setup()
    assert torch.equal(again.splits["test"][0], dm.splits["test"][0])
    assert again.label_names == list(CIFAR_LABEL_NAMES)


def test_offline_setting_is_honoured_without_any_connection(tmp_path, monkeypatch):
    assert hub.online() == (False, "offline: HF_HUB_OFFLINE=1 is set")  # the socket would fail the test
    dm = MNISTDataModule(data_dir=str(tmp_path), source="hub")
    with pytest.raises(DataNotFoundError) as err:
        dm.check_available()
    assert "ylecun/mnist" in str(err.value) and "HF_HUB_OFFLINE=1" in str(err.value)
    assert "train-images-idx3-ubyte" in str(err.value)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert hub.online()[0] is False  # HF_DATASETS_OFFLINE=1 still set


@pytest.mark.parametrize("reachable", [True, False])
def test_online_probe_when_no_offline_setting(monkeypatch, reachable):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("HF_DATASETS_OFFLINE")
    attempts = []

    def connect(address, timeout=None):
        attempts.append((address, timeout))
        if not reachable:
            raise OSError("unreachable")
        return SimpleNamespace(close=lambda: None)

    monkeypatch.setattr(socket, "create_connection", connect)
    assert hub.online()[0] is reachable
    assert hub.online()[0] is reachable  # asked once per process
    assert attempts == [(("huggingface.co", 443), 2.0)]
    if not reachable:
        assert "huggingface.co:443 cannot be reached" in hub.online()[1]


def test_unknown_source_is_refused():
    with pytest.raises(ValueError, match="source='web'"):
        CIFAR10DataModule(source="web")


# -- the command line -------------------------------------------------------------------------------


def test_cli_without_cifar_files_says_which_files_in_one_line(tmp_path):
    result = run_cli(
        ["data=cifar10", "model=mlp", "trainer.max_epochs=1", "logger=none", "data.data_dir=/nonexistent"],
        cwd=tmp_path,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mde_exp: error: CIFAR-10 files missing in /nonexistent: data_batch_1")
    assert "https://www.cs.toronto.edu/~kriz/cifar.html" in lines[0] and "uoft-cs/cifar10" in lines[0]
    assert not (tmp_path / "runs").exists()
