"""Subsets, splits and normalisation of in-memory arrays: the data options shared by every in-memory set."""

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import train_test_split

Arrays = tuple[np.ndarray, ...]  # features first, then (where the set has them) targets

SPLIT_KINDS = ("stratified", "sequential")
NORMALISATIONS = ("none", "unit", "standardize")


def count(size: float | None, total: int, what: str, allow_all: bool = False) -> int:
    """A split size given as a count (>= 1) or a fraction of `total` (0 < size < 1); 0 means none.
    A size must leave some of the `total` examples over, unless `allow_all`."""
    if size is None:
        return 0
    if size < 0:
        raise ValueError(f"{what}={size} must be a count >= 0 or a fraction in (0, 1)")
    n = int(round(size * total)) if 0 < size < 1 else int(size)
    if n > total:
        raise ValueError(f"{what}={size} asks for {n} examples; only {total} are there")
    if n == total and not allow_all:
        raise ValueError(f"{what}={size} leaves no data to train on (from {total} examples)")
    return n


def take(arrays: Arrays, index: np.ndarray | slice) -> Arrays:
    return tuple(a[index] for a in arrays)


def select_classes(arrays: Arrays, classes: Sequence[int]) -> Arrays:
    """Keep the examples whose label is in `classes`, relabelled 0..k-1 in the order given."""
    x, y = arrays[0], arrays[1]
    lookup = {int(c): i for i, c in enumerate(classes)}
    keep = np.isin(y, list(lookup))
    relabelled = np.array([lookup[int(v)] for v in y[keep]], dtype=np.int64)
    return (x[keep], relabelled, *take(arrays[2:], keep))


def carve(arrays: Arrays, n: int, *, kind: str, seed: int, stratify: bool) -> tuple[Arrays, Arrays]:
    """Split `n` examples off `arrays`: (rest, part). `sequential` takes the last n; `stratified`
    draws them with a seeded generator, keeping class proportions when `stratify`, and returns both
    parts shuffled (so that any prefix of either, such as the train_eval slice, mixes the classes)."""
    total = len(arrays[0])
    if kind == "sequential":
        return take(arrays, slice(0, total - n)), take(arrays, slice(total - n, total))
    labels = arrays[1] if stratify else None
    rest, part = train_test_split(np.arange(total), test_size=n, random_state=seed, stratify=labels)
    return take(arrays, rest), take(arrays, part)  # in the generator's shuffled order


def subsample(arrays: Arrays, n: int, *, kind: str, seed: int, stratify: bool) -> Arrays:
    """`n` examples of `arrays`: the first n (sequential) or a seeded, stratified draw."""
    if n >= len(arrays[0]):
        return arrays
    if kind == "sequential":
        return take(arrays, slice(0, n))
    _, part = carve(arrays, n, kind=kind, seed=seed, stratify=stratify)
    return part


def normalise(
    kind: str, train_x: np.ndarray, x: np.ndarray, value_range: tuple[float, float] | None
) -> np.ndarray:
    """Rescale `x` by statistics of `train_x`.

    unit: to [0, 1] by the data set's known range (pixels: 0..255) or else each feature's training
    minimum and maximum; standardize: zero mean and unit variance per feature (per channel for
    images, shape N x C x H x W), using the training split; none: as loaded.
    """
    if kind == "none":
        return x
    if kind == "unit":
        if value_range is not None:
            lo, hi = value_range
            return (x - lo) / (hi - lo)
        lo, hi = train_x.min(axis=0), train_x.max(axis=0)
        return (x - lo) / np.where(hi > lo, hi - lo, 1.0)
    if kind == "standardize":
        axes = (0, 2, 3) if train_x.ndim == 4 else 0
        mean = train_x.mean(axis=axes, keepdims=True)
        std = train_x.std(axis=axes, keepdims=True)
        return (x - mean) / np.where(std > 0, std, 1.0)
    raise ValueError(f"normalize={kind!r}: choose one of {', '.join(NORMALISATIONS)}")
