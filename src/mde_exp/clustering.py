"""K-means one Lloyd iteration at a time (book section 2.6, fig-2.12 and fig-2.13): assignment to the
nearest centre, then each centre moved to the mean of its points; the objective they decrease."""

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import pairwise_distances_argmin


def kmeans_objective(x: np.ndarray, centres: np.ndarray, labels: np.ndarray) -> float:
    """The K-means objective: the sum over points of the squared distance to their assigned centre."""
    return float(np.sum((x - centres[labels]) ** 2))


@dataclass
class LloydStep:
    """One K-means iteration: the centres it started from, the assignment to them (and its objective),
    and the centres after the update (and the objective of the same assignment with them)."""

    centres: np.ndarray
    labels: np.ndarray
    objective_assigned: float
    new_centres: np.ndarray
    objective_updated: float


def lloyd_steps(x: np.ndarray, initial_centres: np.ndarray, max_steps: int = 100) -> list[LloydStep]:
    """Lloyd's K-means iterations from fixed initial centres until the assignment no longer changes
    (or `max_steps`). Each update is scikit-learn's KMeans run for one iteration from the current
    centres (init=centres, n_init=1, max_iter=1); the assignment is to the nearest current centre."""
    x = np.asarray(x, float)
    centres = np.asarray(initial_centres, float)
    steps: list[LloydStep] = []
    for _ in range(max_steps):
        labels = pairwise_distances_argmin(x, centres)
        one_step = KMeans(len(centres), init=centres, n_init=1, max_iter=1).fit(x)
        new_centres = one_step.cluster_centers_
        steps.append(
            LloydStep(
                centres,
                labels,
                kmeans_objective(x, centres, labels),
                new_centres,
                kmeans_objective(x, new_centres, labels),
            )
        )
        if len(steps) > 1 and np.array_equal(labels, steps[-2].labels):
            break
        centres = new_centres
    return steps
