"""TensorBatches: mini-batches of in-memory tensors drawn by a per-epoch index permutation, resumable
mid-epoch (Lightning saves and restores its position with the checkpoint)."""

from collections.abc import Callable, Iterator
from typing import Any

import torch


class TensorBatches:
    """An iterable of batches over tensors that already sit on the training device.

    No worker processes and no per-sample collation: each epoch draws one permutation (seeded by
    `seed` and the epoch number, so a resumed run sees the same order) and slices the tensors.
    Lightning accepts any iterable with a length as a data loader. An epoch may be `passes` passes
    over the data (each with its own permutation): full-batch gradient descent then takes `passes`
    steps an epoch, so per-epoch work (checkpoints, logs) is not paid at every step.

    It is resumable: `state_dict` gives the epoch and the number of its batches that training has
    completed (read from `position`, since Lightning's prefetching draws batches before they are used),
    and after `load_state_dict` the next iteration of that same epoch skips those batches, so a run
    resumed from a mid-epoch checkpoint sees exactly the batches an uninterrupted one would.
    """

    def __init__(
        self,
        tensors: tuple[torch.Tensor, ...],
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        epoch: Callable[[], int] = lambda: 0,
        passes: int = 1,
        position: Callable[[], int] = lambda: 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if passes < 1:
            raise ValueError(f"passes must be positive, got {passes}")
        self.tensors = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = epoch
        self.passes = int(passes)
        self.position = position
        self._resume_at: tuple[int, int] | None = None  # (epoch, batches to skip) after load_state_dict

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": int(self.epoch()), "batches_done": int(self.position())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._resume_at = (int(state["epoch"]), int(state["batches_done"]))

    def __len__(self) -> int:
        return self.passes * -(-len(self.tensors[0]) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        epoch = self.epoch()
        skip = 0
        if self._resume_at is not None:
            resume_epoch, done = self._resume_at
            self._resume_at = None
            if resume_epoch == epoch and done < len(self):
                skip = done
        per_pass = len(self) // self.passes
        for p in range(skip // per_pass, self.passes):
            start = skip - p * per_pass if p == skip // per_pass else 0
            yield from self._pass(epoch * self.passes + p, start)

    def _pass(self, number: int, first_batch: int = 0) -> Iterator[tuple[torch.Tensor, ...]]:
        n = len(self.tensors[0])
        starts = range(first_batch * self.batch_size, n, self.batch_size)
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + number)
            order = torch.randperm(n, generator=generator).to(self.tensors[0].device)
            for start in starts:
                index = order[start : start + self.batch_size]
                yield tuple(t.index_select(0, index) for t in self.tensors)
        else:
            for start in starts:
                yield tuple(t[start : start + self.batch_size] for t in self.tensors)
