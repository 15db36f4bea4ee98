"""Reconstruction and codes of PCA and of trained autoencoders (book section 3.5, fig-3.12 to fig-3.16).

PCA comes from scikit-learn; an autoencoder is a trained `mde_exp.models.autoencoder.Autoencoder`
(its `encode` and `decode`). What is written here is the book's mathematics around them: the mean
squared reconstruction error, interpolation in code space against interpolation of the inputs, and
the curve that a one-number code traces through the decoder.
"""

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier


def mse(x: np.ndarray, reconstruction: np.ndarray) -> float:
    """Mean squared reconstruction error over examples and coordinates (pixels): the autoencoders'
    training loss, so that PCA and autoencoders are compared on one scale."""
    x, reconstruction = np.asarray(x, np.float64), np.asarray(reconstruction, np.float64)
    if x.shape != reconstruction.shape:
        raise ValueError(f"shapes differ: {x.shape} and {reconstruction.shape}")
    return float(np.mean((x - reconstruction) ** 2))


def pca_fit(train: np.ndarray, components: int) -> PCA:
    """PCA with `components` principal components, fitted (centred) on the training examples."""
    return PCA(n_components=components, svd_solver="full").fit(np.asarray(train, np.float64))


def pca_codes_and_reconstructions(pca: PCA, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes z = V^T (x - mu) and reconstructions mu + V z of `x` by a fitted PCA: the projection onto
    the affine subspace through the training mean spanned by the principal directions."""
    codes = pca.transform(np.asarray(x, np.float64))
    return codes, pca.inverse_transform(codes)


@torch.no_grad()
def encode(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """The autoencoder's codes of `x` (N x d)."""
    return model.encode(torch.as_tensor(np.asarray(x), dtype=torch.float32)).numpy()


@torch.no_grad()
def decode(model: torch.nn.Module, codes: np.ndarray) -> np.ndarray:
    """The autoencoder's decoder applied to `codes` (N x code size)."""
    return model.decode(torch.as_tensor(np.asarray(codes), dtype=torch.float32)).numpy()


def reconstruct(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """decode(encode(x))."""
    return decode(model, encode(model, x))


def code_interpolation(model: torch.nn.Module, a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    """decode(weight * encode(a) + (1 - weight) * encode(b)): the book's interpolation in code space
    (fig-3.16), for one pair of inputs or rows of pairs."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    return decode(model, weight * encode(model, a) + (1.0 - weight) * encode(model, b))


def input_interpolation(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    """weight * a + (1 - weight) * b: averaging the inputs (pixels) themselves."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    return weight * np.asarray(a) + (1.0 - weight) * np.asarray(b)


def knn_accuracy(
    train_codes: np.ndarray, train_labels: np.ndarray, test_codes: np.ndarray, test_labels: np.ndarray,
    neighbours: int = 10,
) -> float:  # fmt: skip
    """Test accuracy of a k-nearest-neighbour classifier on codes: how well a code separates the
    classes (fig-3.14's reading of a two-dimensional code)."""
    knn = KNeighborsClassifier(n_neighbors=neighbours).fit(train_codes, train_labels)
    return float(knn.score(test_codes, test_labels))


def nearest_distance(x: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Euclidean distance from each row of `x` to its nearest row of `references`."""
    x, references = np.atleast_2d(np.asarray(x, np.float64)), np.asarray(references, np.float64)
    squared = (x**2).sum(1)[:, None] - 2 * x @ references.T + (references**2).sum(1)[None, :]
    return np.sqrt(np.maximum(squared.min(axis=1), 0.0))


def decoded_curve(model: torch.nn.Module, low: float, high: float, points: int = 201) -> np.ndarray:
    """The decoder's image of a one-number code swept over [low, high] (points x output size): the
    curve on which every reconstruction of an autoencoder with a one-unit code lies (fig-3.13)."""
    return decode(model, np.linspace(low, high, points, dtype=np.float32)[:, None])


def is_monotone(values: np.ndarray) -> bool:
    """Whether a sequence never increases or never decreases."""
    steps = np.diff(np.asarray(values, np.float64))
    return bool((steps >= 0).all() or (steps <= 0).all())
