"""BookDataModule: what every data set of the project offers besides Lightning's hooks."""

from typing import Any

import lightning as L
import torch

from mde_exp.data.batches import TensorBatches

TASKS = (
    "classification",
    "regression",
    "unsupervised",
    "language_model",
    "node_classification",
    "reinforcement",
    "optimisation",
)


class BookDataModule(L.LightningDataModule):
    """A LightningDataModule that can say, before any training, whether its data are there and what
    a model needs to know about them.

    `task` names the kind of learning problem (classification, regression, unsupervised,
    language_model, node_classification, reinforcement); `model_inputs()` returns the sizes a model is
    built from (input_dim, num_classes, output_dim, vocab_size, ...). A run passes each model the
    entries its constructor accepts, and refuses a model that needs one the data do not offer.
    """

    task: str = "classification"

    def check_available(self) -> None:
        """Raise DataNotFoundError, naming the files and where to put them, if the data cannot be loaded."""

    def model_inputs(self) -> dict[str, Any]:
        raise NotImplementedError

    def training_device(self) -> torch.device:
        """The device the trainer trains on (the CPU before a trainer is attached)."""
        return self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")


class TensorSplitsDataModule(BookDataModule):
    """Splits held as tuples of tensors ("train", "val", "test", "train_eval") on the training device
    and served by TensorBatches: no worker processes, a per-epoch permutation seeded by `split_seed`
    and the epoch. The validation loaders are [val, train_eval] (see models.base.EVAL_STAGES).

    Subclasses fill `self.splits` in `setup()` (on the CPU), then call `_move_to_training_device()`.
    """

    batch_size: int
    split_seed: int
    splits: dict[str, tuple[torch.Tensor, ...]]

    def _move_to_training_device(self) -> None:
        device = self.training_device()
        if self.splits["train"][0].device != device:
            self.splits = {k: tuple(t.to(device) for t in v) for k, v in self.splits.items()}

    def _batches(self, split: str, shuffle: bool = False, passes: int = 1) -> TensorBatches:
        return TensorBatches(
            self.splits[split],
            self.batch_size,
            shuffle=shuffle,
            seed=self.split_seed,
            epoch=lambda: self.trainer.current_epoch if self.trainer is not None else 0,
            passes=passes,
            position=self._training_position if shuffle else lambda: 0,
            # Under DDP each rank takes its share of every (global) batch; training pads a last batch
            # that does not share out equally, so that every rank takes every step.
            rank=self.trainer.global_rank if self.trainer is not None else 0,
            world_size=self.trainer.world_size if self.trainer is not None else 1,
            pad=shuffle,
        )

    def _training_position(self) -> int:
        """The training batches completed so far in the current epoch (what a checkpoint resumes after)."""
        if self.trainer is None:
            return 0
        return int(self.trainer.fit_loop.epoch_loop.batch_progress.current.processed)

    def train_dataloader(self) -> TensorBatches:
        return self._batches("train", shuffle=True)

    def val_dataloader(self) -> list[TensorBatches]:
        return [self._batches("val"), self._batches("train_eval")]

    def test_dataloader(self) -> TensorBatches:
        return self._batches("test")

    def sizes(self) -> dict[str, int]:
        """Number of examples in each split."""
        self.setup()
        return {k: len(v[0]) for k, v in self.splits.items()}
