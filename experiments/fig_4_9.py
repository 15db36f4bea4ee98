"""fig-4.9: the zig-zag of exact line search on Rosenbrock's function (book section 4.6).

Runs experiment line_search_rosenbrock: ObjectiveModel trained by optimizer=line_search (each step to
the minimum of the loss along -grad C) from (0.4, -0.2), the book's start, and from (-0.5, 0.5), for
1,000 steps. The companion code (Python/The-zig-zagging-of-exact-line-search.py) finds each alpha by
Newton's method on phi'(alpha) = 0 from alpha = 0; the recipe recomputes its path that way (NumPy, the
derivatives by hand) and compares.
"""

import numpy as np
import torch

from mde_exp.figures.paths import contours, draw_path, mark_points, path_metrics
from mde_exp.figures.style import save_figure, subplots
from mde_exp.objectives import rosenbrock
from mde_exp.parameter_path import path_array, read_parameter_path
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput

# Per profile: optimisation steps (epochs of 100); the book's figure is 1,000 steps.
SETTINGS = {"tiny": {"epochs": 2}, "quick": {"epochs": 10}, "full": {"epochs": 10}}
OPTIMUM = np.array([1.0, 1.0])
BOOK_START = "[0.4,-0.2]"
ZOOM = (4, 16)  # the iterates drawn in the zoomed panel


def companion_path(steps: int, start=(0.4, -0.2), newton_steps: int = 50) -> np.ndarray:
    """Exact line search as the companion code does it: alpha by Newton's method on phi'(alpha) = 0."""

    def grad(t):
        return np.array([-2 * (1 - t[0]) - 400 * t[0] * (t[1] - t[0] ** 2), 200 * (t[1] - t[0] ** 2)])

    def phi1(t, d, a):
        g = t + a * d
        return -2 * d[0] * (1 - g[0]) + 200 * (g[1] - g[0] ** 2) * (d[1] - 2 * d[0] * g[0])

    def phi2(t, d, a):
        g = t + a * d
        return 2 * d[0] ** 2 + 200 * ((d[1] - 2 * g[0] * d[0]) ** 2 - 2 * d[0] ** 2 * (g[1] - g[0] ** 2))

    t, path = np.array(start), [np.array(start)]
    for _ in range(steps):
        d, a = -grad(t), 0.0
        for _ in range(newton_steps):
            a -= phi1(t, d, a) / phi2(t, d, a)
        t = t + a * d
        path.append(t)
    return np.array(path)


def run(ctx: RecipeContext) -> RecipeOutput:
    epochs = SETTINGS[ctx.profile]["epochs"]
    paths, losses, results = {}, {}, []
    for job, result in ctx.sweep(["+experiment=line_search_rosenbrock", f"trainer.max_epochs={epochs}"]):
        start = next(o for o in job if o.startswith("model.start=")).removeprefix("model.start=")
        frame, _ = read_parameter_path(result.dir)
        paths[start], losses[start] = path_array(frame), frame["loss"].to_numpy()[:-1]
        results.append(result)
    theta = paths[BOOK_START]
    steps = len(theta) - 1
    reference = companion_path(steps)
    agreement = float(np.abs(theta - reference).max())
    metrics = {start: path_metrics(p, OPTIMUM) for start, p in paths.items()}
    cosines = {}
    for start, p in paths.items():
        d = np.diff(p, axis=0)
        norms = np.linalg.norm(d, axis=1)
        cosines[start] = np.sum(d[1:] * d[:-1], axis=1) / (norms[1:] * norms[:-1])
        metrics[start].update(
            max_abs_consecutive_cos=float(np.abs(cosines[start]).max()),
            loss_increases=int(np.sum(np.diff(losses[start]) > 0)),
            final_loss=float(rosenbrock(torch.from_numpy(p[-1]))),
        )

    fig, axes = subplots(1, 3, figsize=(16, 5), gridspec_kw={"width_ratios": [1, 1, 0.9]})
    ax = axes[0]
    lowest = min(-0.6, float(min(p[:, 0].min() for p in paths.values())) - 0.05)
    contours(ax, rosenbrock, (lowest, 1.1), (-0.3, 1.1))
    for (start, p), colour in zip(paths.items(), ("tab:green", "tab:purple"), strict=True):
        draw_path(ax, p, f"from {start.replace(',', ', ')}", colour, lw=1.2)
    mark_points(ax, theta[0], OPTIMUM)
    ax.set(title=f"(a) exact line search, {steps:,} steps", xlabel="θ₁", ylabel="θ₂", aspect="equal")
    ax.legend(loc="upper left")
    ax = axes[1]  # the book's "zoom in to see the zig-zag"
    zoom = theta[ZOOM[0] : min(ZOOM[1], len(theta))]
    lo, hi = zoom.min(axis=0), zoom.max(axis=0)
    pad = 0.08 * (hi - lo).max()
    contours(ax, rosenbrock, (lo[0] - pad, hi[0] + pad), (lo[1] - pad, hi[1] + pad))
    draw_path(ax, zoom, "iterates θ⁽ᵗ⁾", "tab:green", markers=True, lw=1.2)
    ax.set(xlabel="θ₁", ylabel="θ₂", aspect="equal")
    ax.set_title(f"(b) zoom on steps {ZOOM[0]} to {ZOOM[0] + len(zoom) - 1}: right-angle turns")
    ax.legend(loc="upper left")
    ax = axes[2]
    turns = np.abs(cosines[BOOK_START]) + 1e-18
    ax.plot(
        np.arange(1, len(turns) + 1), turns, ".", ms=2, color="tab:green", label="|cos(step t, step t+1)|"
    )
    ax.plot(losses[BOOK_START], color="k", lw=1, label="loss C(θ⁽ᵗ⁾)")
    ax.set(
        xlabel="step t",
        ylabel="value (log scale)",
        title="(c) consecutive steps are orthogonal; the loss falls",
    )
    ax.set_yscale("log")
    ax.legend()
    figure = save_figure(fig, ctx.out_dir, "fig-4.9")

    book = metrics[BOOK_START]
    claims = [
        Claim(
            "consecutive steps of exact line search are orthogonal (the zig-zag)",
            "max over steps and both starts of |cos(theta_{t+1} - theta_t, theta_t - theta_{t-1})| < 1e-8",
            {start: m["max_abs_consecutive_cos"] for start, m in metrics.items()},
            max(m["max_abs_consecutive_cos"] for m in metrics.values()) < 1e-8,
        ),
        Claim(
            "every step lowers the loss",
            "no increase of C along either path",
            {start: m["loss_increases"] for start, m in metrics.items()},
            all(m["loss_increases"] == 0 for m in metrics.values()),
        ),
        Claim(
            "the path is the companion code's (alpha by Newton's method on phi' = 0)",
            "max |theta(run) - theta(companion)| < 1e-9",
            agreement,
            agreement < 1e-9,
        ),
        Claim(
            "zig-zagging is slow: after all its steps the path is still short of the minimiser",
            "final distance to (1, 1) from (0.4, -0.2) in (0.01, 0.5)",
            book["final_distance"],
            0.01 < book["final_distance"] < 0.5,
        ),
    ]
    return RecipeOutput(
        figure,
        claims,
        values={"metrics": metrics, "companion_max_difference": agreement, "steps": steps},
        runs=[str(r.dir) for r in results],
    )


RECIPE = Recipe(
    id="fig-4.9",
    title="The zig-zag of exact line search on Rosenbrock's function",
    book_ref="Figure 4.9, section 4.6",
    chapter=4,
    claim="each exact line search step ends where the new gradient is orthogonal to the last step, so "
    "the path zig-zags down Rosenbrock's valley and progresses slowly",
    run=run,
    minutes_quick=0.2,
)
