"""EpochMean: the batch-size-weighted mean of a per-batch value (a training loss) over an epoch, kept as a
torchmetrics Metric so that a training step updates two tensors in place instead of calling self.log.

Lightning's self.log costs about a millisecond of Python per call (its result collection moves each logged
value's state `.to(device)` through a recursive walk); a step that logged its loss that way paid it at
every step. Logged once per epoch through BookModule.log_epoch_metric, the mean gives the same
`<name>_epoch` column with the same float32 sums as Lightning's own mean (sum of value x batch size over
sum of batch sizes). Its state is a Metric's, so an exact resume (resume_state) saves and restores the
partial sums, and under DDP it is reduced across processes once, when computed at the epoch's end.
"""

import torch
from torchmetrics import Metric


class EpochMean(Metric):
    """sum(value_b x weight_b) / sum(weight_b) over the batches b of an epoch; no host-device sync."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("weight", torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, value: torch.Tensor, weight: int | float) -> None:
        self.total += value.detach() * weight
        self.weight += weight

    def compute(self) -> torch.Tensor:
        return self.total / self.weight
