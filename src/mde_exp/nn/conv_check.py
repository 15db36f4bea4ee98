"""The book's convolution output-size formula (section 6.2) checked against torch's conv2d on a grid of
settings, and the book's definition of the convolution (a cross-correlation) as a plain loop."""

from collections.abc import Iterable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from mde_exp.nn.conv import conv_output_size, same_padding

SIZES = range(5, 33)
KERNELS = (1, 3, 5, 7)
STRIDES = (1, 2, 3)
PADDINGS: tuple[int | str, ...] = (0, 1, 2, "same")
DILATIONS = (1, 2, 3)


def _torch_output_size(size: int, kernel: int, stride: int, padding: int | str, dilation: int) -> int | None:
    """The side of torch's conv2d output on a size x size image, or None where torch refuses."""
    x = torch.zeros(1, 1, size, size)
    w = torch.zeros(1, 1, kernel, kernel)
    try:
        out = F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation)
    except RuntimeError:
        return None
    if out.shape[-1] != out.shape[-2]:
        raise AssertionError(f"a square input gave a {tuple(out.shape[-2:])} output")
    return int(out.shape[-1])


def output_size_grid(
    sizes: Iterable[int] = SIZES,
    kernels: Iterable[int] = KERNELS,
    strides: Iterable[int] = STRIDES,
    paddings: Iterable[int | str] = PADDINGS,
    dilations: Iterable[int] = DILATIONS,
) -> pd.DataFrame:
    """One row per combination: the formula's output size (conv_output_size; padding "same" is
    same_padding(kernel, dilation)) and torch's (F.conv2d on a size x size image; -1 where it raises).

    `agree` holds where both give the same size, or where the kernel does not fit: the formula gives
    less than 1 and torch raises. At stride 1, "same" is also given to torch as padding="same", whose
    output must keep the input's size (`same_ok`; true for the other rows).
    """
    rows = []
    for size in sizes:
        for kernel in kernels:
            for stride in strides:
                for padding in paddings:
                    for dilation in dilations:
                        pad = same_padding(kernel, dilation) if padding == "same" else int(padding)
                        formula = conv_output_size(size, kernel, stride, pad, dilation)
                        measured = _torch_output_size(size, kernel, stride, pad, dilation)
                        fits = formula >= 1
                        agree = measured == formula if fits else measured is None
                        same_ok = True
                        if padding == "same" and stride == 1:
                            same_ok = _torch_output_size(size, kernel, 1, "same", dilation) == size == formula
                        rows.append(
                            {
                                "size": size,
                                "kernel": kernel,
                                "stride": stride,
                                "padding": str(padding),
                                "pad": pad,
                                "dilation": dilation,
                                "formula": formula,
                                "torch": -1 if measured is None else measured,
                                "fits": fits,
                                "agree": agree,
                                "same_ok": same_ok,
                            }
                        )
    return pd.DataFrame(rows)


def cross_correlation(image: np.ndarray, kernels: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The book's convolution of one channel with each kernel, written as its definition (section 6.2):
    y_c[i, j] = b_c + sum_{u, v} x[i + u, j + v] w_c[u, v], for every position where the kernel fits
    (stride 1, no padding). `image` is H x W, `kernels` C x k x k, `bias` C; returns C x (H-k+1) x (W-k+1)."""
    channels, k, _ = kernels.shape
    height, width = image.shape[0] - k + 1, image.shape[1] - k + 1
    out = np.empty((channels, height, width))
    for c in range(channels):
        for i in range(height):
            for j in range(width):
                out[c, i, j] = bias[c] + sum(
                    image[i + u, j + v] * kernels[c, u, v] for u in range(k) for v in range(k)
                )
    return out
