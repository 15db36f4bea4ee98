"""InMemoryDataModule: the base of every data set small enough to live as tensors on the device."""

from typing import Any

import lightning as L
import numpy as np
import torch
from sklearn.model_selection import train_test_split

from mde_exp.data.batches import TensorBatches

Arrays = tuple[np.ndarray, np.ndarray]


def _count(size: float, total: int, what: str) -> int:
    """A split size given as a count (>= 1) or a fraction of `total` (< 1)."""
    n = int(round(size * total)) if 0 < size < 1 else int(size)
    if not 0 < n < total:
        raise ValueError(f"{what} of {size} leaves no data to train on (from {total} examples)")
    return n


class InMemoryDataModule(L.LightningDataModule):
    """Loads features and integer labels once, splits them with a seeded stratified split, and
    serves train / validation / test batches by index permutation from tensors on the device.

    Subclasses implement `load()`, returning {"train": (X, y)} and, where the data set has its own
    test split, "test"; `normalise()` may rescale features using training statistics. The
    validation loaders are the validation split and `eval_train_size` training examples (see
    ClassifierModule), so that curves of training and validation metrics are measured alike.
    """

    def __init__(
        self,
        batch_size: int = 128,
        val_size: float = 0.2,
        test_size: float = 0.2,
        eval_train_size: int = 1000,
        split_seed: int = 0,
    ) -> None:
        super().__init__()
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.batch_size = int(batch_size)
        self.val_size = val_size
        self.test_size = test_size
        self.eval_train_size = int(eval_train_size)
        self.split_seed = int(split_seed)
        self.splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    # -- what subclasses provide -------------------------------------------------------------
    def load(self) -> dict[str, Arrays]:
        raise NotImplementedError

    def normalise(self, train_x: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Rescale `x` using statistics of `train_x`; the default leaves features as loaded."""
        return x

    def check_available(self) -> None:
        """Raise DataNotFoundError (with where to put which files) if the data cannot be loaded."""

    # -- Lightning hooks ---------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self.splits = self._split(self.load())
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        if self.splits["train"][0].device != device:
            self.splits = {k: (x.to(device), y.to(device)) for k, (x, y) in self.splits.items()}

    def _split(self, arrays: dict[str, Arrays]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        x, y = arrays["train"]
        if "test" in arrays:
            test_x, test_y = arrays["test"]
        else:
            n_test = _count(self.test_size, len(y), "test_size")
            x, test_x, y, test_y = train_test_split(
                x, y, test_size=n_test, random_state=self.split_seed, stratify=y
            )
        n_val = _count(self.val_size, len(y), "val_size")
        train_x, val_x, train_y, val_y = train_test_split(
            x, y, test_size=n_val, random_state=self.split_seed + 1, stratify=y
        )
        parts = {"train": (train_x, train_y), "val": (val_x, val_y), "test": (test_x, test_y)}
        out = {}
        for name, (px, py) in parts.items():
            px = self.normalise(train_x, px)
            out[name] = (torch.as_tensor(px, dtype=torch.float32), torch.as_tensor(py, dtype=torch.long))
        n_eval = min(self.eval_train_size, len(train_y))
        out["train_eval"] = (out["train"][0][:n_eval], out["train"][1][:n_eval])
        return out

    def _batches(self, split: str, shuffle: bool = False) -> TensorBatches:
        return TensorBatches(
            self.splits[split],
            self.batch_size,
            shuffle=shuffle,
            seed=self.split_seed,
            epoch=lambda: self.trainer.current_epoch if self.trainer is not None else 0,
        )

    def train_dataloader(self) -> TensorBatches:
        return self._batches("train", shuffle=True)

    def val_dataloader(self) -> list[TensorBatches]:
        return [self._batches("val"), self._batches("train_eval")]

    def test_dataloader(self) -> TensorBatches:
        return self._batches("test")

    # -- what models need to know --------------------------------------------------------------
    @property
    def input_dim(self) -> int:
        self.setup()
        return int(np.prod(self.splits["train"][0].shape[1:]))

    @property
    def num_classes(self) -> int:
        self.setup()
        return int(self.splits["train"][1].max().item()) + 1

    def sizes(self) -> dict[str, Any]:
        """Number of examples in each split."""
        self.setup()
        return {k: len(y) for k, (_, y) in self.splits.items()}
