"""InceptionModule and Inception: the Inception network of book section 6.4 (Szegedy et al., 2015)."""

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from mde_exp.models.base import OptimizerFactory, SchedulerFactory
from mde_exp.models.cnn import ImageClassifierModule
from mde_exp.nn.activations import activation_gain, make_activation
from mde_exp.nn.conv import per_layer, same_padding
from mde_exp.nn.layers import dropout_rates, make_norm

# A module's branch widths, in the order of GoogLeNet's table (Szegedy et al., 2015, table 1).
BRANCH_WIDTHS = ("1x1", "3x3 reduce", "3x3", "5x5 reduce", "5x5", "pool proj")


def conv_unit(
    in_channels: int, out_channels: int, kernel: int, norm: Mapping[str, Any] | None, activation: str
) -> nn.Sequential:
    """A 'same' convolution -> norm -> activation: every convolution of the Inception network."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, padding=same_padding(kernel)),
        make_norm(norm, out_channels, spatial=True),
        make_activation(activation),
    )


def branch_widths(widths: Sequence[int], name: str = "module") -> list[int]:
    """Six positive branch widths (BRANCH_WIDTHS order) from a list, or a clear error."""
    if isinstance(widths, str | int) or len(widths) != len(BRANCH_WIDTHS):
        raise ValueError(
            f"{name} needs {len(BRANCH_WIDTHS)} branch widths ({', '.join(BRANCH_WIDTHS)}), got {widths!r}"
        )
    parsed = [int(w) for w in widths]
    if min(parsed) < 1:
        raise ValueError(f"{name} has branch widths {parsed}; every width must be a positive integer")
    return parsed


class InceptionModule(nn.Module):
    """The Inception module (book section 6.4): four parallel branches on the same input,
    concatenated along the channels,

        1x1 conv | 1x1 reduce -> 3x3 conv | 1x1 reduce -> 5x5 conv | 3x3 max pool (stride 1) -> 1x1 conv,

    each conv followed by the norm and the activation. The branches keep the height and width, so the
    output has widths[0] + widths[2] + widths[4] + widths[5] channels (BRANCH_WIDTHS order).
    """

    def __init__(
        self,
        in_channels: int,
        widths: Sequence[int],
        norm: Mapping[str, Any] | None = None,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        b1, r3, b3, r5, b5, bp = branch_widths(widths)
        self.branch1 = conv_unit(in_channels, b1, 1, norm, activation)
        self.branch3 = nn.Sequential(
            conv_unit(in_channels, r3, 1, norm, activation), conv_unit(r3, b3, 3, norm, activation)
        )
        self.branch5 = nn.Sequential(
            conv_unit(in_channels, r5, 1, norm, activation), conv_unit(r5, b5, 5, norm, activation)
        )
        self.branch_pool = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), conv_unit(in_channels, bp, 1, norm, activation)
        )
        self.out_channels = b1 + b3 + b5 + bp

    def branches(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The four branches' outputs, in order 1x1, 3x3, 5x5, pool."""
        return [self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(self.branches(x), dim=1)


class Inception(ImageClassifierModule):
    """A small Inception network (book section 6.4): a stem convolution (-> norm -> activation, then a
    max pool of `stem_pool`), a stack of Inception modules, each followed by a max pool of its `pool`
    entry (1: none), global average pooling, dropout and the output layer.

    `module_widths` lists each module's six branch widths in GoogLeNet's order: 1x1, 3x3 reduce, 3x3,
    5x5 reduce, 5x5, pool proj. `dropout` is one rate, on the pooled features before the output layer.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        stem_channels: int = 16,
        stem_kernel: int = 3,
        stem_pool: int = 2,
        module_widths: Sequence[Sequence[int]] = ((8, 8, 16, 4, 8, 8), (16, 16, 24, 8, 12, 12)),
        pool: int | Sequence[int] = (2, 1),
        activation: str = "relu",
        init: Mapping[str, Any] | None = None,
        norm: Mapping[str, Any] | None = None,
        dropout: float | Sequence[float] = 0.0,
        memory_format: str = "channels_last",
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(input_shape, num_classes, memory_format, optimizer, scheduler)
        if int(stem_channels) < 1:
            raise ValueError(f"stem_channels must be a positive integer, got {stem_channels}")
        if isinstance(module_widths, str | int) or not module_widths:
            raise ValueError(
                f"module_widths must be a non-empty list of modules, each {len(BRANCH_WIDTHS)} branch widths "
                f"({', '.join(BRANCH_WIDTHS)}), got {module_widths!r}"
            )
        widths = [branch_widths(m, f"module {i + 1}") for i, m in enumerate(module_widths)]
        pools = [int(p) for p in per_layer(pool, len(widths), "pool")]
        if min(pools) < 1 or int(stem_pool) < 1:
            raise ValueError(
                f"pool sizes must be >= 1 (1: no pooling), got stem_pool={stem_pool}, pool={pools}"
            )
        (rate,) = dropout_rates(dropout, 1)

        c, h, w = self.input_shape
        stem: list[nn.Module] = [conv_unit(c, int(stem_channels), int(stem_kernel), norm, activation)]
        if int(stem_pool) > 1:
            stem.append(nn.MaxPool2d(int(stem_pool)))
        stages: list[nn.Module] = [nn.Sequential(*stem)]
        c = int(stem_channels)
        self.feature_shapes: list[tuple[int, int, int]] = []  # C x H x W after the stem and each module
        for i, q in enumerate([int(stem_pool), *pools]):
            if i > 0:
                module = InceptionModule(c, widths[i - 1], norm, activation)
                stages.append(nn.Sequential(module, nn.MaxPool2d(q)) if q > 1 else module)
                c = module.out_channels
            h, w = h // q, w // q
            if min(h, w) < 1:
                where = "the stem" if i == 0 else f"module {i}"
                raise ValueError(
                    f"the pool of {q} after {where} leaves no output on {list(self.input_shape)} inputs "
                    f"(stem_pool={stem_pool}, pool={pools}); use less pooling"
                )
            self.feature_shapes.append((c, h, w))
        self.features = nn.Sequential(*stages)
        head: list[nn.Module] = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        if rate > 0:
            head.append(nn.Dropout(rate))
        head.append(nn.Linear(c, num_classes))
        self.classifier = nn.Sequential(*head)
        self.net = nn.Sequential(self.features, self.classifier)
        self.finish_building(init, activation_gain(activation))
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])

    @property
    def inception_modules(self) -> list[InceptionModule]:
        return [m for m in self.features.modules() if isinstance(m, InceptionModule)]
