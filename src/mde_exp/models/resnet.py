"""ResNet of basic blocks and its plain twin without shortcuts (book section 6.4; He et al., 2016)."""

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from mde_exp.models.base import OptimizerFactory, SchedulerFactory
from mde_exp.models.cnn import ImageClassifierModule
from mde_exp.nn.activations import activation_gain, make_activation
from mde_exp.nn.conv import conv_output_size, same_padding
from mde_exp.nn.layers import make_norm


class BasicBlock(nn.Module):
    """Two k x k convolutions with norm, F(x) = norm(conv(act(norm(conv(x))))), then act(F(x) + shortcut(x)).

    The shortcut is the identity, or a 1x1 convolution with norm (a projection) where the block changes
    the number of channels or the stride. With `residual=False` the block is plain: act(F(x)), the same
    two convolutions with no shortcut and no projection.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        kernel_size: int,
        norm: Mapping[str, Any] | None,
        activation: str,
        residual: bool,
    ) -> None:
        super().__init__()
        bias = (norm or {}).get("kind", "none") == "none"  # a norm layer's shift makes a conv bias redundant
        pad = same_padding(kernel_size)
        self.residual = residual
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=pad, bias=bias),
            make_norm(norm, out_channels, spatial=True),
            make_activation(activation),
            nn.Conv2d(out_channels, out_channels, kernel_size, padding=pad, bias=bias),
            make_norm(norm, out_channels, spatial=True),
        )
        self.shortcut: nn.Module | None = None
        if residual:
            if stride != 1 or in_channels != out_channels:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=bias),
                    make_norm(norm, out_channels, spatial=True),
                )
            else:
                self.shortcut = nn.Identity()
        self.activation = make_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.activation(out)


class ResNet(ImageClassifierModule):
    """A residual network of basic blocks (book section 6.4), or with `residual=False` its plain twin.

    Stem: a k x k convolution to `stem_channels` (default channels[0]) -> norm -> activation. Then one
    stage per entry of `channels`, each of `blocks_per_stage` basic blocks (one number, or a list with
    one per stage); the first block of every stage after the first has stride 2 (halving the feature
    maps), all other convolutions stride 1 with "same" padding. Then global average pooling, dropout
    (one rate) and a linear output layer.

    `depth` counts the weighted layers along the main path as He et al. do: the stem, two convolutions
    per block and the output layer, 2 x (number of blocks) + 2; the 1x1 projection shortcuts are not
    counted. The plain net (`residual=False`) has exactly the same stem, block convolutions, norms and
    output layer, without the additions and without the projection shortcuts (a plain net has no
    shortcut to project), so its parameter count is the residual net's minus the projections'.
    Convolutions carry a bias only without norm (a norm layer's shift takes its place).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        channels: Sequence[int] = (8, 16, 32),
        blocks_per_stage: int | Sequence[int] = 3,
        stem_channels: int | None = None,
        kernel_size: int = 3,
        residual: bool = True,
        activation: str = "relu",
        init: Mapping[str, Any] | None = None,
        norm: Mapping[str, Any] | None = None,
        dropout: float | Sequence[float] = 0.0,
        memory_format: str = "channels_last",
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(input_shape, num_classes, memory_format, optimizer, scheduler)
        channels = [int(c) for c in channels]
        if not channels or min(channels) < 1:
            raise ValueError(f"channels must be positive integers, one per stage, got {channels}")
        blocks = stage_blocks(blocks_per_stage, len(channels))
        stem = int(channels[0] if stem_channels is None else stem_channels)
        if stem < 1:
            raise ValueError(f"stem_channels must be a positive integer, got {stem}")
        kernel_size = int(kernel_size)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd number (same padding), got {kernel_size}")
        rate = _dropout_rate(dropout)

        c, h, w = self.input_shape
        pad = same_padding(kernel_size)
        bias = (norm or {}).get("kind", "none") == "none"
        self.stem = nn.Sequential(
            nn.Conv2d(c, stem, kernel_size, padding=pad, bias=bias),
            make_norm(norm, stem, spatial=True),
            make_activation(activation),
        )
        c = stem
        self.feature_shapes: list[tuple[int, int, int]] = []  # C x H x W after each stage
        stages: list[nn.Module] = []
        for i, (out, n) in enumerate(zip(channels, blocks, strict=True)):
            stride = 1 if i == 0 else 2
            h, w = (conv_output_size(size, kernel_size, stride, pad) for size in (h, w))
            stage = [BasicBlock(c, out, stride, kernel_size, norm, activation, residual)]
            stage += [BasicBlock(out, out, 1, kernel_size, norm, activation, residual) for _ in range(n - 1)]
            stages.append(nn.Sequential(*stage))
            c = out
            self.feature_shapes.append((c, h, w))
        self.stages = nn.Sequential(*stages)
        head: list[nn.Module] = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        if rate > 0:
            head.append(nn.Dropout(rate))
        head.append(nn.Linear(c, num_classes))
        self.head = nn.Sequential(*head)
        self.net = nn.Sequential(self.stem, self.stages, self.head)
        self.residual = bool(residual)
        self.blocks = blocks
        self.depth = resnet_depth(blocks_per_stage, len(channels))
        self.finish_building(init, activation_gain(activation))
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])


def stage_blocks(blocks_per_stage: int | Sequence[int], n_stages: int) -> list[int]:
    """The number of basic blocks of each stage, from one number for every stage or one per stage."""
    if isinstance(blocks_per_stage, int | float):
        blocks = [int(blocks_per_stage)] * n_stages
    else:
        blocks = [int(b) for b in blocks_per_stage]
        if len(blocks) != n_stages:
            raise ValueError(
                f"blocks_per_stage lists {len(blocks)} numbers for {n_stages} stages (one per channels entry)"
            )
    if min(blocks) < 1:
        raise ValueError(f"blocks_per_stage must be at least 1 block per stage, got {blocks}")
    return blocks


def resnet_depth(blocks_per_stage: int | Sequence[int], n_stages: int) -> int:
    """The weighted layers on a ResNet's main path (He et al.'s count): the stem, two convolutions per
    basic block and the output layer, 2 x (number of blocks) + 2; projection shortcuts not counted."""
    return 2 * sum(stage_blocks(blocks_per_stage, n_stages)) + 2


def _dropout_rate(dropout: float | Sequence[float]) -> float:
    """The one dropout rate (before the output layer), from a number or a list of one."""
    if isinstance(dropout, int | float):
        rate = float(dropout)
    else:
        rates = [float(p) for p in dropout]
        if len(rates) != 1:
            raise ValueError(
                f"a ResNet has one dropout rate (before the output layer), got {len(rates)} rates: {rates}"
            )
        rate = rates[0]
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate {rate} is outside [0, 1)")
    return rate
