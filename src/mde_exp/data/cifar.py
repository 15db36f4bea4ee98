"""CIFAR-10 from its original "python version" pickle batches (cifar-10-batches-py/), or Hugging Face."""

import gzip
import pickle
from pathlib import Path
from typing import Any

import numpy as np

try:
    from numpy._core import multiarray, numeric
except ImportError:  # numpy < 2
    from numpy.core import multiarray, numeric

from mde_exp.data.full_vision import FullImageDataModule
from mde_exp.data.in_memory import Arrays
from mde_exp.errors import CorruptDataError

CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
CIFAR_SHAPE = (3, 32, 32)
CIFAR_LABEL_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

# What a CIFAR batch may refer to: numpy arrays (pickled by Python 2's numpy as
# numpy.core.multiarray._reconstruct, by later numpy as numpy._core...), and _codecs.encode (how Python 3
# pickles bytes at protocol 2). Nothing else is run while unpickling, so a file cannot run code.
_ALLOWED = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    **{(f"numpy.{core}.multiarray", "_reconstruct"): multiarray._reconstruct for core in ("core", "_core")},
    **{(f"numpy.{core}.multiarray", "scalar"): multiarray.scalar for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): numeric._frombuffer for core in ("core", "_core")},
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if (module, name) == ("_codecs", "encode"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refers to {module}.{name}, which a CIFAR-10 batch does not hold")


def _text(value: Any) -> Any:
    return value.decode("latin1") if isinstance(value, bytes) else value


def unpickle(path: str | Path) -> dict[str, Any]:
    """The dict in a CIFAR-10 batch file (gzipped if the name ends in .gz), with str keys whether the
    file has Python 2 strings (the original files), bytes or str keys."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            content = _BatchUnpickler(f, encoding="latin1").load()
    except Exception as err:  # whatever stops the unpickling (truncation, bad opcodes, gzip) is a bad file
        raise CorruptDataError(f"{path}: truncated or not a CIFAR-10 pickle ({err})") from None
    if not isinstance(content, dict):
        raise CorruptDataError(f"{path}: holds a {type(content).__name__}, not a CIFAR-10 batch dict")
    return {_text(k): v for k, v in content.items()}


def read_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images N x 3 x 32 x 32, int64 labels N) from one batch file: b"data" is N x 3072 uint8
    (1024 red, then green, then blue values, row by row) and b"labels" N integers in 0..9."""
    content = unpickle(path)
    missing = [key for key in ("data", "labels") if key not in content]
    if missing:
        raise CorruptDataError(f"{path}: no {' or '.join(repr(k) for k in missing)} in the batch")
    data, labels = content["data"], content["labels"]
    size = int(np.prod(CIFAR_SHAPE))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != size:
        shown = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise CorruptDataError(f"{path}: 'data' is {shown}, expected uint8 N x {size}")
    try:
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as err:
        raise CorruptDataError(f"{path}: 'labels' are not integers ({err})") from None
    if len(labels) != len(data):
        raise CorruptDataError(f"{path}: {len(data)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(CIFAR_LABEL_NAMES)):
        raise CorruptDataError(f"{path}: labels from {labels.min()} to {labels.max()}, expected 0..9")
    return data.reshape(len(data), *CIFAR_SHAPE), labels


def read_meta(path: str | Path) -> list[str]:
    """The class names in batches.meta (b"label_names": bytes in the original, str where re-pickled)."""
    content = unpickle(path)
    names = content.get("label_names")
    if not isinstance(names, list | tuple) or len(names) != len(CIFAR_LABEL_NAMES):
        raise CorruptDataError(f"{path}: 'label_names' is not a list of {len(CIFAR_LABEL_NAMES)} names")
    return [str(_text(n)) for n in names]


class CIFAR10DataModule(FullImageDataModule):
    """CIFAR-10 (50,000 training and 10,000 test colour images, 3 x 32 x 32, 10 classes).

    Read from the "CIFAR-10 python version" files: data_batch_1..5, test_batch and batches.meta,
    either in `data_dir/cifar-10-batches-py/` (as cifar-10-python.tar.gz extracts in `data_dir`) or
    directly in `data_dir` (each may also be gzipped: name + .gz). batches.meta gives `label_names`
    and may be left out (the published names are used). Else the Hugging Face dataset 'uoft-cs/cifar10'
    (see FullImageDataModule's `source`).
    """

    name = "CIFAR-10"
    hub_id = "uoft-cs/cifar10"
    urls = "https://www.cs.toronto.edu/~kriz/cifar.html"
    shape = CIFAR_SHAPE
    default_label_names = CIFAR_LABEL_NAMES

    def __init__(self, data_dir: str = "data/cifar10", **kwargs) -> None:
        super().__init__(data_dir=data_dir, **kwargs)

    def folder(self) -> Path:
        nested = self.data_dir / CIFAR_FOLDER
        return nested if nested.is_dir() else self.data_dir

    def missing_files(self) -> list[str]:
        return [stem for stem in (*TRAIN_BATCHES, TEST_BATCH) if self._find(stem) is None]

    def fetch_hint(self) -> str:
        where = self.data_dir.resolve()
        archive = where / CIFAR_ARCHIVE
        if archive.is_file():
            return f"extract {archive} there (tar xzf {CIFAR_ARCHIVE} in {where})"
        version = "the CIFAR-10 python version"
        return f"download {CIFAR_ARCHIVE} ({version}) from {self.urls} and extract it in {where}"

    def read_files(self) -> tuple[dict[str, Arrays], list[str] | None]:
        parts = [read_batch(self._find(stem)) for stem in TRAIN_BATCHES]
        train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        return {"train": train, "test": read_batch(self._find(TEST_BATCH))}, self.file_label_names()

    def file_label_names(self) -> list[str] | None:
        meta = self._find(META)
        return read_meta(meta) if meta is not None else None
