"""InMemoryDataModule: the base of every data set small enough to live as tensors on the device."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.preprocessing import PolynomialFeatures

from mde_exp.data import splits as S
from mde_exp.data.augment import AUGMENTATIONS, augment
from mde_exp.data.base import TensorSplitsDataModule
from mde_exp.data.batches import TensorBatches

Arrays = S.Arrays
IN_MEMORY_TASKS = ("classification", "regression", "unsupervised")
# Feature (and regression target) precision: float64 keeps NumPy-drawn data exact (fig-2.7, with
# trainer.precision=64-true).
FLOAT_DTYPES = {"float32": torch.float32, "float64": torch.float64}

# Processed splits by data configuration, so that the check before a run, the run itself and the
# runs of a sweep on the same data load and split it once per process.
_SPLIT_CACHE: dict[tuple, tuple[dict[str, tuple[torch.Tensor, ...]], tuple[int, ...]]] = {}


class InMemoryDataModule(TensorSplitsDataModule):
    """Loads arrays once, takes the configured subset and splits, normalises them with training
    statistics, and serves batches by a per-epoch index permutation from tensors on the device.

    Subclasses implement `load()`, returning {"train": (x, y)} and, where the data set has its own,
    "val" and "test" splits (unsupervised sets return (x,) tuples). Images are N x C x H x W; set
    `value_range` to the raw range of the features when it is known (pixels: (0, 255)).

    Options (all in the data config): `classes` keeps a subset of labels (relabelled 0..k-1);
    `split` is `stratified` (seeded, class-balanced draws) or `sequential` (the first `train_size`
    examples train, the next `val_size` validate: fig-4.4's first 1000 / next 500); sizes are counts
    or fractions, and a size of 0 means "evaluate on the training data" (sets of a few points);
    `normalize` is none, unit ([0, 1]) or standardize; `flatten` gives vectors rather than images;
    `polynomial_degree` > 1 maps tabular features to their monomials; `augment` (crop_flip) is
    applied to training batches on the device; `dtype` (float32, or float64 for data drawn exactly as
    NumPy draws them) is the tensors' precision; `passes_per_epoch` > 1 makes a training epoch that
    many passes over the training split (full-batch gradient descent: that many steps, with the
    per-epoch checkpoint and logs once). The validation loaders are the validation split and
    `eval_train_size` training examples (see ClassifierModule).
    """

    task = "classification"
    value_range: tuple[float, float] | None = None

    def __init__(
        self,
        batch_size: int = 128,
        train_size: float | None = None,
        val_size: float = 0.2,
        test_size: float = 0.2,
        eval_train_size: int = 1000,
        split: str = "stratified",
        split_seed: int = 0,
        classes: Sequence[int] | None = None,
        normalize: str = "none",
        flatten: bool = True,
        polynomial_degree: int = 1,
        augment: str = "none",
        dtype: str = "float32",
        passes_per_epoch: int = 1,
    ) -> None:
        super().__init__()
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if split not in S.SPLIT_KINDS:
            raise ValueError(f"split={split!r}: choose one of {', '.join(S.SPLIT_KINDS)}")
        if normalize not in S.NORMALISATIONS:
            raise ValueError(f"normalize={normalize!r}: choose one of {', '.join(S.NORMALISATIONS)}")
        if int(passes_per_epoch) < 1:
            raise ValueError(f"passes_per_epoch={passes_per_epoch}: must be an integer >= 1")
        if dtype not in FLOAT_DTYPES:
            raise ValueError(f"dtype={dtype!r}: choose one of {', '.join(FLOAT_DTYPES)}")
        if augment not in AUGMENTATIONS:
            raise ValueError(f"augment={augment!r}: choose one of {', '.join(AUGMENTATIONS)}")
        if int(polynomial_degree) < 1:
            raise ValueError(f"polynomial_degree={polynomial_degree}: must be an integer >= 1")
        if classes is not None and (len(classes) < 2 or len(set(classes)) != len(classes)):
            raise ValueError(f"classes={list(classes)}: give at least two distinct labels")
        if classes is not None and self.task != "classification":
            raise ValueError(f"classes={list(classes)}: a {self.task} data set has no classes")
        self.batch_size = int(batch_size)
        self.train_size = train_size
        self.val_size = val_size
        self.test_size = test_size
        self.eval_train_size = int(eval_train_size)
        self.split = split
        self.split_seed = int(split_seed)
        self.classes = tuple(int(c) for c in classes) if classes is not None else None
        self.normalize = normalize
        self.flatten = bool(flatten)
        self.polynomial_degree = int(polynomial_degree)
        self.augment = augment
        self.dtype = dtype
        self.passes_per_epoch = int(passes_per_epoch)
        self.splits: dict[str, tuple[torch.Tensor, ...]] = {}
        self.example_shape: tuple[int, ...] = ()
        self._raw_shape: tuple[int, ...] = ()

    # -- what subclasses provide -------------------------------------------------------------
    def load(self) -> dict[str, Arrays]:
        raise NotImplementedError

    # -- Lightning hooks ---------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            key = self._cache_key()
            if key not in _SPLIT_CACHE:
                _SPLIT_CACHE[key] = self._prepare(self.load())
            splits, self._raw_shape = _SPLIT_CACHE[key]
            self.splits = dict(splits)
        self.example_shape = tuple(self.splits["train"][0].shape[1:])
        self._move_to_training_device()

    def _cache_key(self) -> tuple:
        simple = (int, float, str, bool, tuple, type(None), Path)
        return (
            type(self).__module__,
            type(self).__qualname__,
            tuple(sorted((k, repr(v)) for k, v in vars(self).items() if isinstance(v, simple))),
        )

    def _prepare(self, arrays: dict[str, Arrays]) -> tuple[dict[str, tuple[torch.Tensor, ...]], tuple]:
        if self.classes is not None:
            arrays = {k: S.select_classes(v, self.classes) for k, v in arrays.items()}
        stratify = self.task == "classification"
        train = arrays["train"]
        test, val = arrays.get("test"), arrays.get("val")
        if test is None:
            n_test = S.count(self.test_size, len(train[0]), "test_size")
            if n_test:
                train, test = S.carve(train, n_test, kind=self.split, seed=self.split_seed, stratify=stratify)
            else:
                test = train
        if val is None:
            total = len(train[0])
            n_val = S.count(self.val_size, total, "val_size")
            n_train = S.count(self.train_size, total, "train_size") if self.train_size else total - n_val
            if n_train + n_val > total:
                raise ValueError(
                    f"train_size={self.train_size} and val_size={self.val_size} ask for "
                    f"{n_train + n_val} examples; only {total} are left after the test split"
                )
            if self.split == "sequential":
                train, val = S.take(train, slice(0, n_train)), S.take(train, slice(n_train, n_train + n_val))
            else:
                if n_val:
                    train, val = S.carve(
                        train, n_val, kind=self.split, seed=self.split_seed + 1, stratify=stratify
                    )
                train = S.subsample(
                    train, n_train, kind=self.split, seed=self.split_seed + 2, stratify=stratify
                )
            val = val if n_val else train
        elif self.train_size:
            n_train = S.count(self.train_size, len(train[0]), "train_size", allow_all=True)
            train = S.subsample(train, n_train, kind=self.split, seed=self.split_seed + 2, stratify=stratify)
        parts = {"train": train, "val": val, "test": test}
        if self.polynomial_degree > 1:
            parts = {k: (self._polynomial(v[0]), *v[1:]) for k, v in parts.items()}
        train_x = parts["train"][0]
        raw_shape = tuple(train_x.shape[1:])
        out = {}
        for name, part in parts.items():
            x = S.normalise(self.normalize, train_x, part[0].astype(np.float64), self.value_range)
            x = torch.as_tensor(x.reshape(len(x), -1) if self.flatten else x, dtype=FLOAT_DTYPES[self.dtype])
            out[name] = (x, *(self._target_tensor(t) for t in part[1:]))
        n_eval = min(self.eval_train_size, len(out["train"][0]))
        out["train_eval"] = tuple(t[:n_eval] for t in out["train"])
        return out, raw_shape

    def _polynomial(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 2:
            raise ValueError("polynomial_degree > 1 needs tabular features (a set of vectors), not images")
        return PolynomialFeatures(self.polynomial_degree, include_bias=False).fit_transform(x)

    def _target_tensor(self, y: np.ndarray) -> torch.Tensor:
        if self.task == "classification":
            return torch.as_tensor(y, dtype=torch.long)
        y = torch.as_tensor(y, dtype=FLOAT_DTYPES[self.dtype])
        return y.unsqueeze(1) if y.ndim == 1 else y

    def train_dataloader(self) -> TensorBatches:
        return self._batches("train", shuffle=True, passes=self.passes_per_epoch)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Augment training batches where they already are (the GPU, when training on one)."""
        if self.augment == "none" or self.trainer is None or not self.trainer.training:
            return batch
        x = batch[0]
        shape = self.image_shape
        images = augment(self.augment, x.view(len(x), *shape))
        return (images.reshape(x.shape), *batch[1:])

    # -- what models need to know --------------------------------------------------------------
    @property
    def image_shape(self) -> tuple[int, ...]:
        """The shape of one example before flattening (C x H x W for images, (d,) for vectors)."""
        return self._raw_shape

    @property
    def input_dim(self) -> int:
        self.setup()
        return int(np.prod(self.example_shape))

    @property
    def num_classes(self) -> int:
        self.setup()
        return int(max(int(v[1].max()) for v in self.splits.values())) + 1

    def model_inputs(self) -> dict[str, Any]:
        self.setup()
        inputs: dict[str, Any] = {"input_dim": self.input_dim}
        if len(self.image_shape) in (2, 3):  # images (H x W or C x H x W): what convolutional nets take
            inputs["input_shape"] = self.image_shape
        if self.task == "classification":
            inputs["num_classes"] = self.num_classes
        elif self.task == "regression":
            inputs["output_dim"] = int(self.splits["train"][1].shape[1])
        return inputs
