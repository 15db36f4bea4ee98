"""fig-2.12: K-means one iteration at a time on three Gaussian clusters (book section 2.6). Direct
computation (scikit-learn), nothing trained.

As the companion source R/kmeans-clustering.R: 40 points from each of N((0,1), 0.05 I), N((0.5,0),
0.05 I) and N((1,1), 0.05 I) (drawn by scikit-learn's make_blobs, seed 101 as the R source's
set.seed(101); R's draw itself cannot be replayed), initial centres (0.5,1), (0.5,0), (1,1). Each row of
the 3 x 2 figure is one iteration: left, the centres (the means of the previous assignment); right, the
new assignment to the nearest centre, each cluster's convex hull shaded.
"""

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import ConvexHull
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from mde_exp.clustering import lloyd_steps
from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput

TRUE_CENTRES = np.array([[0.0, 1.0], [0.5, 0.0], [1.0, 1.0]])
INITIAL_CENTRES = np.array([[0.5, 1.0], [0.5, 0.0], [1.0, 1.0]])
POINTS_PER_CLUSTER, VARIANCE, SEED = 40, 0.05, 101
ROWS = 3  # iterations drawn, as in the book
COLOURS = ("tab:red", "tab:green", "tab:blue")
MARKERS = ("o", "^", "s")


def data() -> tuple[np.ndarray, np.ndarray]:
    return make_blobs(
        [POINTS_PER_CLUSTER] * 3, centers=TRUE_CENTRES, cluster_std=np.sqrt(VARIANCE), random_state=SEED
    )


def _points(ax, x: np.ndarray, labels: np.ndarray | None) -> None:
    if labels is None:
        ax.scatter(*x.T, marker="x", color="0.4", s=18, label="data (not yet assigned)")
        return
    for k in range(3):
        ax.scatter(*x[labels == k].T, marker=MARKERS[k], s=16, facecolors="none", edgecolors=COLOURS[k],
                   label=f"cluster {k + 1}")  # fmt: skip


def _centres(ax, centres: np.ndarray, label: str) -> None:
    for k, c in enumerate(centres):
        ax.scatter(*c, marker=MARKERS[k], s=260, color=COLOURS[k], edgecolors="k", lw=1.5, zorder=4,
                   label=label if k == 0 else None)  # fmt: skip


def _hulls(ax, x: np.ndarray, labels: np.ndarray) -> None:
    for k in range(3):
        members = x[labels == k]
        if len(members) >= 3:
            hull = members[ConvexHull(members).vertices]
            ax.fill(*hull.T, facecolor=COLOURS[k], alpha=0.12, edgecolor=COLOURS[k], ls="--", lw=1,
                    hatch="///")  # fmt: skip


def run(ctx: RecipeContext) -> RecipeOutput:
    x, truth = data()
    steps = lloyd_steps(x, INITIAL_CENTRES)
    reference = KMeans(3, init=INITIAL_CENTRES, n_init=1).fit(x)  # scikit-learn's own run to convergence
    final = steps[-1]

    fig, axes = subplots(ROWS, 2, figsize=(10, 13), sharex=True, sharey=True)
    for j in range(ROWS):
        step = steps[min(j, len(steps) - 1)]
        previous = steps[j - 1].labels if j > 0 else None
        left, right = axes[j]
        _points(left, x, previous)
        _centres(left, step.centres, "centres")
        if j == 0:
            left.set_title("iteration 1: the initial centres\n(J: the K-means objective, a sum of squares)")
        else:
            left.set_title(f"iteration {j + 1}: centres moved to the cluster means\n"
                           f"(J = {steps[j - 1].objective_updated:.2f})")  # fmt: skip
        _hulls(right, x, step.labels)
        _points(right, x, step.labels)
        _centres(right, step.centres, "centres")
        changed = (
            "" if previous is None else f", {int(np.sum(step.labels != previous))} points change cluster"
        )
        right.set_title(
            f"iteration {j + 1}: assignment to the nearest centre\n"
            f"(J = {step.objective_assigned:.2f}{changed})"
        )
        for ax in (left, right):
            ax.set(xlabel="x₁", ylabel="x₂", aspect="equal")
    handles, names = axes[0, 0].get_legend_handles_labels()
    more, more_names = axes[0, 1].get_legend_handles_labels()
    fig.legend([*handles[:1], *more[:3], handles[1]], [*names[:1], *more_names[:3], names[1]],
               loc="outside lower center", ncol=5, markerscale=0.7)  # fmt: skip
    fig.suptitle(
        f"K-means from the centres (0.5, 1), (0.5, 0), (1, 1): converged after {len(steps) - 1} updates\n"
        f"(the assignment of iteration {len(steps)} no longer changes)"
    )
    figure = save_figure(fig, ctx.out_dir, "fig-2.12")

    trace = [v for s in steps for v in (s.objective_assigned, s.objective_updated)]
    # match found clusters to the generating ones (Hungarian on centre distances)
    distance = np.linalg.norm(final.new_centres[:, None] - TRUE_CENTRES[None], axis=2)
    rows, cols = linear_sum_assignment(distance)
    centre_error = float(distance[rows, cols].max())
    matched = cols[final.labels]
    accuracy = float(np.mean(matched == truth))
    ari = float(adjusted_rand_score(truth, final.labels))
    claims = [
        Claim(
            "each assignment step and each centre update lowers (never raises) the K-means objective",
            "J(assign 1) >= J(update 1) >= J(assign 2) >= ... (within 1e-12)",
            trace,
            bool(np.all(np.diff(trace) <= 1e-12)),
        ),
        Claim(
            "the iterations converge: the assignment stops changing after a few iterations",
            "converged within 10 iterations",
            {"updates": len(steps) - 1, "final_objective": final.objective_updated},
            len(steps) < 10 and np.array_equal(steps[-1].labels, steps[-2].labels),
        ),
        Claim(
            "one step at a time ends where scikit-learn's K-means from the same centres ends",
            "max |centre difference| < 1e-9 and the same assignment",
            float(np.abs(reference.cluster_centers_ - final.new_centres).max()),
            bool(np.abs(reference.cluster_centers_ - final.new_centres).max() < 1e-9)
            and np.array_equal(reference.labels_, final.labels),
        ),
        Claim(
            "K-means recovers the three generating clusters",
            "found centres within 0.15 of the true centres; >= 90% of points in their own cluster",
            {"max_centre_error": centre_error, "accuracy": accuracy, "adjusted_rand_index": ari},
            centre_error < 0.15 and accuracy >= 0.9,
        ),
    ]
    return RecipeOutput(
        figure,
        claims,
        values={
            "objective_trace": trace,
            "updates_to_converge": len(steps) - 1,
            "centres": [s.centres.tolist() for s in steps],
            "final_centres": final.new_centres.tolist(),
            "accuracy": accuracy,
            "adjusted_rand_index": ari,
        },
    )


RECIPE = Recipe(
    id="fig-2.12",
    title="K-means iterations on three Gaussian clusters, from fixed initial centres",
    book_ref="Figure 2.12, section 2.6",
    chapter=2,
    claim="K-means alternates assigning points to the nearest centre and moving centres to the means; "
    "each step lowers the objective and a few iterations reach a fixed point near the true clusters",
    run=run,
    minutes_quick=0.03,
)
