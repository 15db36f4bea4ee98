"""VGG: a small VGG-style network of book section 6.3 (Simonyan and Zisserman, 2014), in plain torch."""

from collections.abc import Mapping, Sequence
from typing import Any

from mde_exp.models.base import OptimizerFactory, SchedulerFactory
from mde_exp.models.cnn import ConvNet
from mde_exp.nn.conv import image_shape


def vgg_blocks(blocks: Sequence[Sequence[int]]) -> list[list[int]]:
    """The blocks as lists of positive channel counts, one list (one conv per entry) per block."""
    if isinstance(blocks, str | int) or not blocks:
        raise ValueError(
            f"blocks must be a non-empty list of blocks, each a list of channels, got {blocks!r}"
        )
    parsed = []
    for i, block in enumerate(blocks):
        if isinstance(block, str | int) or not block:
            raise ValueError(
                f"block {i + 1} must be a non-empty list of channel counts (one per 3x3 conv), got {block!r}"
            )
        channels = [int(c) for c in block]
        if min(channels) < 1:
            raise ValueError(f"block {i + 1} has channels {channels}; channel counts must be positive")
        parsed.append(channels)
    return parsed


class VGG(ConvNet):
    """A small VGG-style network (book section 6.3): blocks of 3x3 'same' convolutions, each
    Conv2d -> norm -> activation, every block closed by a 2x2 max pool that halves the image, then the
    dense layers `hidden_sizes` (Linear -> norm -> activation) and the output layer.

    `blocks` lists the blocks, each a list of the channels of its convolutions: [[16, 16], [32, 32]]
    is conv 16 - conv 16 - pool - conv 32 - conv 32 - pool, as VGG-16's first two blocks with fewer
    channels. `dropout` acts on the dense part as in ConvNet (the flattened features, then each hidden
    layer: one rate, or len(hidden_sizes) + 1 rates).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        blocks: Sequence[Sequence[int]] = ((8, 8), (16, 16)),
        hidden_sizes: Sequence[int] = (64,),
        activation: str = "relu",
        init: Mapping[str, Any] | None = None,
        norm: Mapping[str, Any] | None = None,
        dropout: float | Sequence[float] = 0.0,
        memory_format: str = "channels_last",
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        parsed = vgg_blocks(blocks)
        _, h, w = image_shape(input_shape)
        if min(h, w) >> len(parsed) < 1:
            fit = min(h, w).bit_length() - 1
            raise ValueError(
                f"{len(parsed)} blocks halve {h} x {w} images {len(parsed)} times, to nothing; "
                f"use at most {fit} blocks for these inputs"
            )
        pool = [2 if i == len(block) - 1 else 1 for block in parsed for i in range(len(block))]
        super().__init__(
            input_shape,
            num_classes,
            channels=[c for block in parsed for c in block],
            kernel_sizes=3,
            padding="same",
            pool=pool,
            pooling="max",
            hidden_sizes=hidden_sizes,
            activation=activation,
            init=init,
            norm=norm,
            dropout=dropout,
            memory_format=memory_format,
            optimizer=optimizer,
            scheduler=scheduler,
        )
        self.blocks = parsed
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
