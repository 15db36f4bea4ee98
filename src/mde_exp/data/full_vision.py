"""Full image sets from their original files in `data_dir`, else from Hugging Face: the base class that
chooses the source, and MNIST and Fashion-MNIST (IDX files)."""

from pathlib import Path

import numpy as np

from mde_exp.data import hub
from mde_exp.data.idx import read_idx
from mde_exp.data.in_memory import Arrays, InMemoryDataModule
from mde_exp.errors import CorruptDataError, DataNotFoundError

SOURCES = ("auto", "files", "hub")


class FullImageDataModule(InMemoryDataModule):
    """An image set with its own train and test splits, read from `data_dir`.

    `source` says where the images come from: `files` (the original distribution's files in
    `data_dir`), `hub` (a Hugging Face Arrow copy in `data_dir/hf_arrow`, fetched from the Hub
    `hub_id` and saved there first when the machine is online), or `auto` (files, then the Arrow
    copy, then the Hub when online). When none is there, `check_available()` raises one
    DataNotFoundError naming the missing files, the folder and where to get them; nothing falls back
    to other data. The validation split is carved from the training set; images are uint8
    N x C x H x W with `value_range` (0, 255).

    Subclasses set `name`, `hub_id`, `urls`, `shape`, `default_label_names` and implement
    `missing_files()`, `folder()` and `read_files()`.
    """

    name = "?"
    hub_id = "?"
    urls = "?"
    shape: tuple[int, int, int] = (1, 28, 28)
    default_label_names: tuple[str, ...] = ()
    files_note = ""  # said after the list of missing files
    value_range = (0.0, 255.0)

    def __init__(self, data_dir: str = "data", source: str = "auto", **kwargs) -> None:
        kwargs.pop("test_size", None)  # the data set has its own test split
        super().__init__(**kwargs)
        if source not in SOURCES:
            raise ValueError(f"source={source!r}: choose one of {', '.join(SOURCES)}")
        self.data_dir = Path(data_dir)
        self.source = source
        self._label_names: list[str] = []  # known once read; a list, so not part of the split cache's key

    # -- what subclasses provide -----------------------------------------------------------------
    def folder(self) -> Path:
        """The folder that holds (or should hold) the original files."""
        return self.data_dir

    def _find(self, stem: str) -> Path | None:
        """The file `stem` in `folder()`, or its gzipped copy `stem.gz`, if either is there."""
        for name in (stem, stem + ".gz"):
            if (self.folder() / name).is_file():
                return self.folder() / name
        return None

    def missing_files(self) -> list[str]:
        """The original files that are not in `folder()`."""
        raise NotImplementedError

    def read_files(self) -> tuple[dict[str, Arrays], list[str] | None]:
        """The train and test splits from the original files, and the class names if they hold them."""
        raise NotImplementedError

    def fetch_hint(self) -> str:
        """How to get the original files into `folder()`."""
        return f"download them from {self.urls} into that folder"

    # -- choosing the source -------------------------------------------------------------------
    def _where(self) -> str:
        """files, arrow or hub: the first source that can give the data; else DataNotFoundError."""
        if self.source in ("auto", "files") and not self.missing_files():
            return "files"
        if self.source == "files":
            raise DataNotFoundError(self._not_found(""))
        if hub.has_arrow_copy(self.data_dir):
            return "arrow"
        is_online, why = hub.online()
        if not is_online:
            raise DataNotFoundError(self._not_found(why))
        return "hub"

    def _not_found(self, why: str) -> str:
        arrow = hub.arrow_dir(self.data_dir).resolve()
        hub_part = (
            f"Hugging Face Arrow copy of '{self.hub_id}' in {arrow} (a run that is online fetches it "
            f"from the Hub and saves it there; now {why})"
        )
        folder, missing = self.folder().resolve(), ", ".join(self.missing_files())
        if self.source == "hub":
            files = (
                f"or use the original files in {folder} with data.source=auto"
                if not missing
                else f"or use the original files ({missing}) in {folder} with data.source=auto: "
                f"{self.fetch_hint()}"
            )
            return f"{self.name} (data.source=hub): no {hub_part}; {files}"
        files = (
            f"{self.name} files missing in {folder}: {missing}{self.files_note}; {self.fetch_hint()}, "
            "or point data.data_dir (or the MDE_EXP_DATA folder) at where they are"
        )
        if self.source == "files":
            return f"{files} (data.source=files: no Hugging Face copy is used)"
        return f"{files}; or keep a {hub_part}"

    def check_available(self) -> None:
        self._where()

    def _cache_key(self) -> tuple:
        """The base key and the size and time of the files the data may come from, so that files
        replaced within a process are read again."""
        paths = [*self.folder().glob("*"), *hub.arrow_dir(self.data_dir).glob("*.json")]
        stamps = sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths if p.is_file())
        return (*super()._cache_key(), tuple(stamps))

    def load(self) -> dict[str, Arrays]:
        where = self._where()
        if where == "files":
            splits, names = self.read_files()
        else:
            if where == "hub":
                hub.download_to_arrow(self.hub_id, self.data_dir, self.shape, len(self.default_label_names))
            splits, names = hub.read_arrow(self.data_dir, self.shape, len(self.default_label_names))
        self._label_names = list(names or self.default_label_names)
        return splits

    # -- class names ---------------------------------------------------------------------------
    def file_label_names(self) -> list[str] | None:
        """The class names held by the original files, where they hold them."""
        return None

    @property
    def label_names(self) -> list[str]:
        """The data set's class names by original label (from the files or the Arrow copy where they
        store them, else the published names)."""
        if not self._label_names:
            names = None
            if self.source in ("auto", "files") and not self.missing_files():
                names = self.file_label_names()
            elif self.source != "files" and hub.has_arrow_copy(self.data_dir):
                names = hub.arrow_label_names(self.data_dir)
            self._label_names = list(names or self.default_label_names)
        return self._label_names

    @property
    def class_names(self) -> list[str]:
        """The names of the labels as served (0..k-1 after a `classes` subset)."""
        names = self.label_names
        return [names[c] for c in self.classes] if self.classes is not None else list(names)


# The four files of the MNIST distribution; Fashion-MNIST uses the same names.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
MNIST_FILES = IDX_FILES


class IDXImageDataModule(FullImageDataModule):
    """A 28 x 28 grey-scale set distributed as four IDX files (each may be gzipped: name + .gz)."""

    shape = (1, 28, 28)
    files_note = " (each may be gzipped: name + .gz)"

    def missing_files(self) -> list[str]:
        return [stem for stem in IDX_FILES.values() if self._find(stem) is None]

    def read_files(self) -> tuple[dict[str, Arrays], list[str] | None]:
        arrays = {key: read_idx(self._find(stem)) for key, stem in IDX_FILES.items()}
        splits = {}
        for split in ("train", "test"):
            images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
            where = self._find(IDX_FILES[f"{split}_images"])
            if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
                raise CorruptDataError(f"{where}: {images.shape} images do not match {labels.shape} labels")
            if images.shape[1:] != self.shape[1:]:
                raise CorruptDataError(
                    f"{where}: images of {images.shape[1:]} pixels, expected {self.shape[1:]}"
                )
            n_classes = len(self.default_label_names)
            if len(labels) and int(labels.max()) >= n_classes:
                raise CorruptDataError(
                    f"{self._find(IDX_FILES[f'{split}_labels'])}: label {int(labels.max())} is not in "
                    f"0..{n_classes - 1}"
                )
            splits[split] = (images[:, None], labels.astype(np.int64))
        return splits, None


class MNISTDataModule(IDXImageDataModule):
    """Full MNIST (60,000 training and 10,000 test digits, 28 x 28) from its original IDX files in
    `data_dir`, or the Hugging Face dataset 'ylecun/mnist'."""

    name = "MNIST"
    hub_id = "ylecun/mnist"
    urls = "https://yann.lecun.com/exdb/mnist/ (mirror: https://ossci-datasets.s3.amazonaws.com/mnist/)"
    default_label_names = tuple(str(d) for d in range(10))

    def __init__(self, data_dir: str = "data/mnist", **kwargs) -> None:
        super().__init__(data_dir=data_dir, **kwargs)


class FashionMNISTDataModule(IDXImageDataModule):
    """Fashion-MNIST (60,000 training and 10,000 test images of clothing, 28 x 28, 10 classes) from its
    original IDX files in `data_dir`, or the Hugging Face dataset 'zalando-datasets/fashion_mnist'."""

    name = "Fashion-MNIST"
    hub_id = "zalando-datasets/fashion_mnist"
    urls = "https://github.com/zalandoresearch/fashion-mnist (files: http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/)"
    default_label_names = (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )

    def __init__(self, data_dir: str = "data/fashion_mnist", **kwargs) -> None:
        super().__init__(data_dir=data_dir, **kwargs)
