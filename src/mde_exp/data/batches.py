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

    On several processes (DDP), `batch_size` is the global batch: every rank draws the same permutation
    and process `rank` of `world_size` takes its contiguous share of each batch (ceil(b / world_size) of a
    batch of b examples), so the ranks together see exactly the batches of a single process and DDP's
    gradient average is the single-process gradient. With `pad` (training: every rank must take a step
    for every batch) a last batch that does not share out equally is wrapped around (as Lightning's
    DistributedSampler pads); without it (evaluation) the last shares are shorter, and a rank whose share
    is empty skips that batch.
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
        rank: int = 0,
        world_size: int = 1,
        pad: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if passes < 1:
            raise ValueError(f"passes must be positive, got {passes}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not one of world_size={world_size} processes")
        self.tensors = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = epoch
        self.passes = int(passes)
        self.position = position
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.pad = bool(pad)
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

    def _order(self, number: int) -> torch.Tensor:
        """The example order of pass `number`: a permutation seeded by the seed and the pass (the same on
        every process), or the stored order without shuffling."""
        n = len(self.tensors[0])
        if not self.shuffle:
            return torch.arange(n)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + number)
        return torch.randperm(n, generator=generator)

    def _pass(self, number: int, first_batch: int = 0) -> Iterator[tuple[torch.Tensor, ...]]:
        n = len(self.tensors[0])
        starts = range(first_batch * self.batch_size, n, self.batch_size)
        if self.world_size > 1:
            yield from self._shared_pass(number, starts)
        elif self.shuffle:
            order = self._order(number).to(self.tensors[0].device)
            for start in starts:
                index = order[start : start + self.batch_size]
                yield tuple(t.index_select(0, index) for t in self.tensors)
        else:  # slices of the stored tensors: views, no copy
            for start in starts:
                yield tuple(t[start : start + self.batch_size] for t in self.tensors)

    def _shared_pass(self, number: int, starts: range) -> Iterator[tuple[torch.Tensor, ...]]:
        """This rank's share of each batch of a pass (see the class docstring)."""
        order = self._order(number)
        device = self.tensors[0].device
        for start in starts:
            batch = order[start : start + self.batch_size]
            share = -(-len(batch) // self.world_size)
            positions = torch.arange(self.rank * share, (self.rank + 1) * share)
            positions = positions % len(batch) if self.pad else positions[positions < len(batch)]
            if len(positions) == 0:
                continue
            index = batch[positions].to(device)
            yield tuple(t.index_select(0, index) for t in self.tensors)
