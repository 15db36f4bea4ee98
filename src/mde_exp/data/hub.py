"""The Hugging Face path to the full image sets: a local Arrow copy in `data_dir/hf_arrow`, or the Hub when
online (downloaded once, converted to uint8 arrays and saved as that Arrow copy for later offline runs)."""

import os
import shutil
import socket
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from mde_exp.errors import CorruptDataError, DataNotFoundError

Splits = dict[str, tuple[np.ndarray, np.ndarray]]

ARROW_DIR = "hf_arrow"  # the Arrow copy, as written by DatasetDict.save_to_disk
CACHE_DIR = "hf_cache"  # load_dataset's download cache (the Hub's parquet files)
IMAGE_COLUMNS = ("image", "img")
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
_TRUE = {"1", "on", "yes", "true"}
HUB_HOST = ("huggingface.co", 443)


def offline_setting() -> str | None:
    """The environment variable that puts Hugging Face offline (`HF_HUB_OFFLINE=1`), if one is set."""
    for name in OFFLINE_VARIABLES:
        if os.environ.get(name, "").strip().lower() in _TRUE:
            return f"{name}={os.environ[name]}"
    return None


@lru_cache(maxsize=4)
def hub_reachable(host: str = HUB_HOST[0], port: int = HUB_HOST[1], timeout: float = 2.0) -> bool:
    """Whether a TCP connection to the Hub opens within `timeout` seconds (name lookup included: the
    probe runs in a daemon thread, so a resolver that hangs cannot hold the caller). Asked once per
    process."""
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def online() -> tuple[bool, str]:
    """(whether the Hub can be used now, why not): offline when HF_HUB_OFFLINE / HF_DATASETS_OFFLINE is
    set to 1, else when huggingface.co:443 does not answer within about 2 s."""
    setting = offline_setting()
    if setting is not None:
        return False, f"offline: {setting} is set"
    if not hub_reachable():
        return False, f"offline: {HUB_HOST[0]}:{HUB_HOST[1]} cannot be reached"
    return True, "online"


def arrow_dir(data_dir: Path) -> Path:
    return Path(data_dir) / ARROW_DIR


def has_arrow_copy(data_dir: Path) -> bool:
    """Whether `data_dir/hf_arrow` holds a saved DatasetDict (or a single saved Dataset)."""
    path = arrow_dir(data_dir)
    return (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()


def _image_column(names: list[str], where: Path | str) -> str:
    for name in IMAGE_COLUMNS:
        if name in names:
            return name
    raise CorruptDataError(f"{where}: no image column ({' or '.join(IMAGE_COLUMNS)}) among {names}")


def _channels_first(images: np.ndarray, shape: tuple[int, int, int], where: str) -> np.ndarray:
    """N x C x H x W from N x H x W (grey), N x H x W x C or N x C x H x W; checked against `shape`."""
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4 and images.shape[1:] != shape and images.shape[1:] == (*shape[1:], shape[0]):
        images = images.transpose(0, 3, 1, 2)
    if images.ndim != 4 or images.shape[1:] != shape:
        raise CorruptDataError(f"{where}: images of shape {images.shape[1:]}, expected {shape} (C x H x W)")
    return np.ascontiguousarray(images)


def to_arrays(dataset, shape: tuple[int, int, int], num_classes: int, where: str) -> tuple[np.ndarray, ...]:
    """A `datasets.Dataset` with an image column (uint8 arrays or PIL images) and a label column as
    (N x C x H x W uint8 images, int64 labels), checked against `shape` and the label range."""
    column = _image_column(list(dataset.column_names), where)
    if "label" not in dataset.column_names:
        raise CorruptDataError(f"{where}: no 'label' column among {list(dataset.column_names)}")
    images = dataset.select_columns([column]).with_format("numpy", dtype=np.uint8)[:][column]
    labels = dataset.select_columns(["label"]).with_format("numpy")[:]["label"]
    images = _channels_first(np.asarray(images), shape, where)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if len(labels) != len(images):
        raise CorruptDataError(f"{where}: {len(images)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise CorruptDataError(
            f"{where}: labels from {labels.min()} to {labels.max()}, expected 0..{num_classes - 1}"
        )
    return images, labels


def _label_names(dataset) -> list[str] | None:
    feature = dataset.features.get("label")
    names = getattr(feature, "names", None)
    return list(names) if names else None


def _load_arrow(data_dir: Path):
    import datasets

    path = arrow_dir(data_dir)
    try:
        saved = datasets.load_from_disk(str(path))
    except Exception as err:  # any failure to read the saved copy is a corrupt copy
        raise CorruptDataError(f"{path}: not a readable Hugging Face Arrow copy ({err})") from None
    if isinstance(saved, datasets.Dataset):
        raise CorruptDataError(
            f"{path}: holds one Dataset; a DatasetDict with train and test splits is needed"
        )
    missing = [split for split in ("train", "test") if split not in saved]
    if missing:
        raise CorruptDataError(f"{path}: no {' or '.join(missing)} split (has {', '.join(saved)})")
    return saved


def arrow_label_names(data_dir: Path) -> list[str] | None:
    """The class names stored in the Arrow copy's ClassLabel feature, if it has one."""
    return _label_names(_load_arrow(data_dir)["train"])


def read_arrow(
    data_dir: Path, shape: tuple[int, int, int], num_classes: int
) -> tuple[Splits, list[str] | None]:
    """The train and test splits of the Arrow copy in `data_dir/hf_arrow` (read with
    `datasets.load_from_disk(...).with_format("numpy")`), and its class names if it stores them."""
    saved = _load_arrow(data_dir)
    where = arrow_dir(data_dir)
    splits = {
        split: to_arrays(saved[split], shape, num_classes, f"{where} ({split} split)")
        for split in ("train", "test")
    }
    return splits, _label_names(saved["train"])


def save_arrow(splits: Splits, label_names: list[str] | None, data_dir: Path) -> Path:
    """Save uint8 N x C x H x W images and labels as a DatasetDict (columns image, label) in
    `data_dir/hf_arrow`, written to a temporary folder first so that an interrupted save leaves none."""
    import datasets

    shape = next(iter(splits.values()))[0].shape[1:]
    label = datasets.ClassLabel(names=label_names) if label_names else datasets.Value("int64")
    features = datasets.Features({"image": datasets.Array3D(shape, "uint8"), "label": label})
    parts = {
        split: datasets.Dataset.from_dict({"image": images, "label": labels}, features=features)
        for split, (images, labels) in splits.items()
    }
    path = arrow_dir(data_dir)
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    datasets.DatasetDict(parts).save_to_disk(str(partial))
    shutil.rmtree(path, ignore_errors=True)
    partial.rename(path)
    return path


def download_to_arrow(hub_id: str, data_dir: Path, shape: tuple[int, int, int], num_classes: int) -> Path:
    """Fetch `hub_id` from the Hub (`datasets.load_dataset`, cached in `data_dir/hf_cache`), convert its
    PIL images to uint8 arrays and save them as the Arrow copy in `data_dir/hf_arrow`."""
    import datasets

    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        loaded = datasets.load_dataset(hub_id, cache_dir=str(data_dir / CACHE_DIR))
    except Exception as err:  # a download that fails (network, Hub, disk) is data that cannot be had
        raise DataNotFoundError(
            f"'{hub_id}' could not be fetched from the Hugging Face Hub into {data_dir} "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        ) from None
    splits = {
        split: to_arrays(loaded[split], shape, num_classes, f"{hub_id} ({split} split)")
        for split in ("train", "test")
    }
    return save_arrow(splits, _label_names(loaded["train"]), data_dir)
