"""Convolution arithmetic of book section 6.2 and the shapes of images that convolutional nets take."""

from collections.abc import Sequence
from typing import Any


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """The book's output length of a convolution (or pooling) along one axis (section 6.2):

        floor((size + 2 padding - dilation (kernel - 1) - 1) / stride) + 1.

    A result below 1 means the (dilated) kernel does not fit in the padded input.
    """
    if min(kernel, stride, dilation) < 1 or padding < 0:
        raise ValueError(
            f"kernel={kernel}, stride={stride}, dilation={dilation} must be >= 1, padding={padding} >= 0"
        )
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def same_padding(kernel: int, dilation: int = 1) -> int:
    """The padding that keeps the size of a stride-1 convolution's output equal to its input's
    (exact for odd kernels): dilation (kernel - 1) / 2."""
    if (dilation * (kernel - 1)) % 2:
        raise ValueError(
            f"padding 'same' needs an odd dilated kernel span, got kernel={kernel}, dilation={dilation}"
        )
    return dilation * (kernel - 1) // 2


def per_layer(value: Any, n_layers: int, name: str) -> list[Any]:
    """One value per layer from a single value (used by every layer) or a list of `n_layers` values."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [value] * n_layers
    values = list(value)
    if len(values) != n_layers:
        raise ValueError(f"{name} lists {len(values)} values for {n_layers} convolutional layers")
    return values


def image_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    """The C x H x W shape of one image; an H x W shape is read as one channel, anything else refused."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            f"a convolutional network needs images (C x H x W inputs), but the data give examples of shape "
            f"{list(shape)}; "
            "choose an image data set (digits, mnist_5k, mnist, fashion_mnist, cifar10, cifar3)"
        )
    return shape
