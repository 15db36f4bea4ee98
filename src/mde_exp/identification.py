"""Identification by distances (book section 6.5): random same-class and different-class pairs of a labelled
set, the rate at which a same pair is the closer one, and one-shot identification against one reference
image per class. Embeddings (or raw pixels, the baseline) are rows of an N x d array."""

import numpy as np


class _ByClass:
    """The examples sorted by label: class c's examples are order[start[c]:start[c] + count[c]]."""

    def __init__(self, labels: np.ndarray) -> None:
        self.labels = np.asarray(labels)
        self.classes, self.code, self.count = np.unique(self.labels, return_inverse=True, return_counts=True)
        self.order = np.argsort(self.code, kind="stable")
        self.start = np.concatenate([[0], np.cumsum(self.count)[:-1]])
        self.position = np.empty(len(self.labels), dtype=np.int64)  # of each example within its class
        self.position[self.order] = np.arange(len(self.labels)) - self.start[self.code[self.order]]

    def same(self, first: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """For each example of `first`, another example of its class, uniformly."""
        c = self.code[first]
        offset = rng.integers(self.count[c] - 1)
        offset += offset >= self.position[first]  # skip the example itself
        return self.order[self.start[c] + offset]

    def different(self, first: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """For each example of `first`, an example of another class, uniformly."""
        c = self.code[first]
        offset = rng.integers(len(self.labels) - self.count[c])
        offset += np.where(offset >= self.start[c], self.count[c], 0)  # skip the example's own class
        return self.order[offset]


def sample_pairs(labels: np.ndarray, n: int, same: bool, rng: np.random.Generator) -> np.ndarray:
    """`n` random pairs (rows i, j, i != j; an n x 2 array) of examples with equal labels (`same`) or
    different labels: the first member uniformly at random among those that have a partner, the second
    uniformly among its possible partners."""
    by_class = _ByClass(labels)
    if len(by_class.classes) < 2 or (same and by_class.count.max() < 2):
        raise ValueError("pairs need two classes, and a class with two examples for same-class pairs")
    eligible = np.flatnonzero(by_class.count[by_class.code] >= 2) if same else np.arange(len(labels))
    first = rng.choice(eligible, n)
    second = by_class.same(first, rng) if same else by_class.different(first, rng)
    return np.stack([first, second], axis=1)


def distances(x: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Euclidean distance between the rows of each pair."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    return np.linalg.norm(x[pairs[:, 0]] - x[pairs[:, 1]], axis=1)


def ranking_rate(same_distances: np.ndarray, different_distances: np.ndarray) -> float:
    """P(d(same pair) < d(different pair)) over the (same, different) pairs of pairs, position by position
    (ties count one half): 0.5 is chance, 1 a distance that always ranks a same pair closer."""
    a, b = np.asarray(same_distances), np.asarray(different_distances)
    if a.shape != b.shape:
        raise ValueError(f"as many same as different pairs, got {a.shape} and {b.shape}")
    return float(np.mean((a < b) + 0.5 * (a == b)))


def one_shot_identification(x: np.ndarray, labels: np.ndarray, n: int, rng: np.random.Generator) -> float:
    """The rate at which a random query is identified: one random reference example of each class (never
    the query itself) is shown, and the query takes the class of the nearest reference. Chance is
    1 / number of classes."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    by_class = _ByClass(labels)
    if by_class.count.min() < 2:
        raise ValueError("one-shot identification needs two examples of every class")
    queries = rng.integers(len(x), size=n)
    references = by_class.order[by_class.start + rng.integers(by_class.count, size=(n, len(by_class.count)))]
    own = by_class.code[queries]
    references[np.arange(n), own] = by_class.same(queries, rng)
    nearest = np.linalg.norm(x[references] - x[queries, None], axis=2).argmin(1)
    return float(np.mean(nearest == own))
