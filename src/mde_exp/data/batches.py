"""TensorBatches: mini-batches of in-memory tensors drawn by a per-epoch index permutation."""

from collections.abc import Callable, Iterator

import torch


class TensorBatches:
    """An iterable of batches over tensors that already sit on the training device.

    No worker processes and no per-sample collation: each epoch draws one permutation (seeded by
    `seed` and the epoch number, so a resumed run sees the same order) and slices the tensors.
    Lightning accepts any iterable with a length as a data loader. An epoch may be `passes` passes
    over the data (each with its own permutation): full-batch gradient descent then takes `passes`
    steps an epoch, so per-epoch work (checkpoints, logs) is not paid at every step.
    """

    def __init__(
        self,
        tensors: tuple[torch.Tensor, ...],
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        epoch: Callable[[], int] = lambda: 0,
        passes: int = 1,
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

    def __len__(self) -> int:
        return self.passes * -(-len(self.tensors[0]) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        epoch = self.epoch()
        for p in range(self.passes):
            yield from self._pass(epoch * self.passes + p)

    def _pass(self, number: int) -> Iterator[tuple[torch.Tensor, ...]]:
        n = len(self.tensors[0])
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + number)
            order = torch.randperm(n, generator=generator).to(self.tensors[0].device)
            for start in range(0, n, self.batch_size):
                index = order[start : start + self.batch_size]
                yield tuple(t.index_select(0, index) for t in self.tensors)
        else:
            for start in range(0, n, self.batch_size):
                yield tuple(t[start : start + self.batch_size] for t in self.tensors)
