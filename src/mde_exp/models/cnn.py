"""ConvNet and LeNet5: convolutional networks of book chapter 6 (sections 6.2 and 6.3), in plain torch."""

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from mde_exp.models.base import ClassifierModule, OptimizerFactory, SchedulerFactory
from mde_exp.nn.activations import activation_gain, make_activation
from mde_exp.nn.conv import conv_output_size, image_shape, per_layer, same_padding
from mde_exp.nn.init import apply_init
from mde_exp.nn.layers import dropout_rates, make_norm

MEMORY_FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
POOLINGS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


class ImageClassifierModule(ClassifierModule):
    """A classifier of C x H x W images: inputs arrive flattened or not and are viewed as images.

    `memory_format=channels_last` (the default) stores the weights and the batches channels-last
    (NHWC): the same results, faster on a CPU (oneDNN's convolutions and pooling: 1.2 to 2.6 times here)
    and on a GPU's tensor cores (combine with `++trainer.precision=bf16-mixed`); `contiguous` is NCHW.
    Subclasses build `self.net` on images of `self.input_shape`.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        memory_format: str = "channels_last",
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(num_classes, optimizer, scheduler)
        self.input_shape = image_shape(input_shape)
        if memory_format not in MEMORY_FORMATS:
            raise ValueError(
                f"unknown memory_format {memory_format!r}; choose one of: {', '.join(MEMORY_FORMATS)}"
            )
        self.memory_format = MEMORY_FORMATS[memory_format]

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """A batch as N x C x H x W images in the model's memory format."""
        return x.reshape(len(x), *self.input_shape).contiguous(memory_format=self.memory_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.images(x))

    def finish_building(self, init: Mapping[str, Any] | None, gain: float) -> None:
        """Initialise the weights (the `init` choice, with the activation's gain); set the memory format."""
        apply_init(self.net, init, gain=gain)
        self.net.to(memory_format=self.memory_format)


class ConvNet(ImageClassifierModule):
    """A stack of convolutional layers, then dense layers (book sections 6.2 and 6.3).

    Each convolutional layer is Conv2d -> norm -> activation -> pooling; its kernel size, stride,
    padding (a number or "same") and dilation are one value for every layer or a list with one per
    layer. The feature maps are then flattened and go through the dense layers `hidden_sizes`
    (Linear -> norm -> activation) to the class logits. `dropout` acts on the input of each dense
    layer (the flattened features, then each hidden layer): one rate, or len(hidden_sizes) + 1 rates.

    The defaults are the course's network: conv 5x5x8 - maxpool 2 - conv 3x3x16 - maxpool 2 - dense,
    which on 28 x 28 digits gives 16 x 5 x 5 = 400 features for the output layer.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        channels: Sequence[int] = (8, 16),
        kernel_sizes: int | Sequence[int] = (5, 3),
        strides: int | Sequence[int] = 1,
        padding: int | str | Sequence[int | str] = 0,
        dilation: int | Sequence[int] = 1,
        pool: int | Sequence[int] = 2,
        pooling: str = "max",
        hidden_sizes: Sequence[int] = (),
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
            raise ValueError(
                f"channels must be positive integers, one per convolutional layer, got {channels}"
            )
        hidden = [int(h) for h in hidden_sizes]
        if hidden and min(hidden) < 1:
            raise ValueError(f"hidden_sizes must be positive integers, got {hidden}")
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; choose one of: {', '.join(POOLINGS)}")
        n = len(channels)
        kernels = [int(k) for k in per_layer(kernel_sizes, n, "kernel_sizes")]
        dilations = [int(d) for d in per_layer(dilation, n, "dilation")]
        paddings = [
            same_padding(k, d) if p == "same" else int(p)
            for p, k, d in zip(per_layer(padding, n, "padding"), kernels, dilations, strict=True)
        ]
        layers = {
            "kernel_sizes": kernels,
            "strides": [int(s) for s in per_layer(strides, n, "strides")],
            "padding": paddings,
            "dilation": dilations,
            "pool": [int(p) for p in per_layer(pool, n, "pool")],
        }
        rates = dropout_rates(dropout, len(hidden) + 1)

        self.feature_shapes: list[tuple[int, int, int]] = []  # C x H x W after each convolutional layer
        stages: list[nn.Module] = []
        c, h, w = self.input_shape
        for i, (out, k, s, p, d, q) in enumerate(zip(channels, *layers.values(), strict=True)):
            h, w = (conv_output_size(size, k, s, p, d) for size in (h, w))
            if q > 1:
                h, w = h // q, w // q
            if min(h, w) < 1:
                raise ValueError(
                    f"convolutional layer {i + 1} (kernel {k}, stride {s}, padding {p}, "
                    f"dilation {d}, pool {q}) leaves no output on {list(self.input_shape)} inputs; "
                    "use padding=same, smaller kernels or less pooling"
                )
            stage = [
                nn.Conv2d(c, out, k, stride=s, padding=p, dilation=d),
                make_norm(norm, out, spatial=True),
            ]
            stage.append(make_activation(activation))
            if q > 1:
                stage.append(POOLINGS[pooling](q))
            stages.append(nn.Sequential(*stage))
            c = out
            self.feature_shapes.append((c, h, w))
        self.features = nn.Sequential(*stages)

        classifier: list[nn.Module] = [nn.Flatten()]
        width = c * h * w
        for i, (size, rate) in enumerate(zip([*hidden, num_classes], rates, strict=True)):
            if rate > 0:
                classifier.append(nn.Dropout(rate))
            classifier.append(nn.Linear(width, size))
            if i < len(hidden):  # hidden layers: norm and activation; the output layer gives logits
                classifier += [make_norm(norm, size), make_activation(activation)]
            width = size
        self.classifier = nn.Sequential(*classifier)
        self.net = nn.Sequential(self.features, self.classifier)
        self.finish_building(init, activation_gain(activation))
        if type(self) is ConvNet:  # a subclass fixes some of these arguments and saves its own
            self.save_hyperparameters(ignore=["optimizer", "scheduler"])

    @property
    def first_layer(self) -> nn.Conv2d:
        """The first convolution, whose kernels (the filter bank) act on the raw image."""
        return self.features[0][0]


class LeNet5(ConvNet):
    """LeNet-5 (LeCun et al., 1998), as book section 6.3 describes it: conv 5x5x6 - pool - conv 5x5x16 -
    pool - dense 120 - dense 84 - output, with tanh and average pooling ("subsampling") by default.

    The first convolution pads by 2, so that 28 x 28 digits play the part of the original 32 x 32 inputs.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        activation: str = "tanh",
        pooling: str = "avg",
        init: Mapping[str, Any] | None = None,
        norm: Mapping[str, Any] | None = None,
        dropout: float | Sequence[float] = 0.0,
        memory_format: str = "channels_last",
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(
            input_shape,
            num_classes,
            channels=(6, 16),
            kernel_sizes=5,
            padding=(2, 0),
            pool=2,
            pooling=pooling,
            hidden_sizes=(120, 84),
            activation=activation,
            init=init,
            norm=norm,
            dropout=dropout,
            memory_format=memory_format,
            optimizer=optimizer,
            scheduler=scheduler,
        )
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
