"""fig-4.10: Newton's method in one dimension, a convex and a concave case (book section 4.6).

Runs experiment newton_quartic: ObjectiveModel on C(t) = t^4 - 4 t^3 - 2 t^2 + 10 t + 15 (data=quartic)
trained by optimizer=newton (t <- t - C'(t) / C''(t), the Hessian from torch.func.hessian) from t = 2.5
and from t = 1.7 (Python/Newton-method-in-one-dimension.py). The figure draws, at each start, C and
its quadratic model Q(t) = C(t0) + (t - t0) C'(t0) + (t - t0)^2 C''(t0) / 2, whose stationary point is
the first Newton step; the runs continue, so the claims also say where the iterates end.
"""

import numpy as np

from mde_exp.figures.style import save_figure, subplots
from mde_exp.parameter_path import path_array, read_parameter_path
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput

# Per profile: Newton steps (one per epoch of data=quartic).
SETTINGS = {"tiny": {"steps": 8}, "quick": {"steps": 12}, "full": {"steps": 12}}
BOOK_NEXT = {"2.5": 3.64}  # the companion code marks theta^(t+1) = 3.64 in the convex case


def c(t):
    return t**4 - 4 * t**3 - 2 * t**2 + 10 * t + 15


def c1(t):
    return 4 * t**3 - 12 * t**2 - 4 * t + 10


def c2(t):
    return 12 * t**2 - 24 * t - 4


def q(t0, t):
    """The quadratic model of C at t0 (its second-order Taylor polynomial), at t."""
    return c(t0) + (t - t0) * c1(t0) + (t - t0) ** 2 * c2(t0) / 2


def run(ctx: RecipeContext) -> RecipeOutput:
    steps = SETTINGS[ctx.profile]["steps"]
    paths, results = {}, []
    for job, result in ctx.sweep(["+experiment=newton_quartic", f"trainer.max_epochs={steps}"]):
        start = next(o for o in job if o.startswith("model.start=")).removeprefix("model.start=").strip("[]")
        paths[start] = path_array(read_parameter_path(result.dir)[0])[:, 0]
        results.append(result)

    fig, axes = subplots(1, 2, figsize=(13, 4.8), sharey=True)
    t = np.linspace(-1.0, 4.2, 600)
    for ax, (start, path), panel in zip(axes, paths.items(), "ab", strict=True):
        t0, t1 = path[0], path[1]
        convex = c2(t0) > 0
        window = np.linspace(min(t0, t1) - 0.9, max(t0, t1) + 0.9, 300)
        ax.plot(t, c(t), color="tab:blue", lw=1.8, label="C(θ)")
        ax.plot(window, q(t0, window), color="tab:red", lw=1.5, label="quadratic model Q(θ) at θ⁽ᵗ⁾")
        for value, name in ((t0, "θ⁽ᵗ⁾"), (t1, "θ⁽ᵗ⁺¹⁾")):
            ax.plot([value, value], [-10, c(value)], "g", lw=1.5)
            ax.annotate(
                name, (value, -10), xytext=(0, -14), textcoords="offset points", ha="center", color="g"
            )
        ax.plot(
            path[2:], c(path[2:]), "o", color="k", ms=3, label=f"later Newton iterates (to {path[-1]:.4f})"
        )
        ax.axhline(c(t0), color="g", ls="--", lw=1)
        kind = (
            "C'' > 0: Q is convex, θ⁽ᵗ⁺¹⁾ its minimum"
            if convex
            else "C'' < 0: Q is concave, θ⁽ᵗ⁺¹⁾ its maximum"
        )
        ax.set(title=f"({panel}) θ⁽ᵗ⁾ = {start}, {kind}", xlabel="θ", ylim=(-10, 45), xlim=(-1, 4.2))
        ax.legend(loc="upper center")
    axes[0].set_ylabel("C(θ) = θ⁴ − 4θ³ − 2θ² + 10θ + 15")
    figure = save_figure(fig, ctx.out_dir, "fig-4.10")

    convex, concave = paths["2.5"], paths["1.7"]
    claims = [
        Claim(
            "convex case (t = 2.5): the quadratic model is convex and the step goes to its minimum, 3.636",
            "C''(2.5) > 0, t1 = 2.5 - C'/C'' = 2.5 + 12.5/11 (to 1e-9), Q(t1) < Q(2.5) = C(2.5)",
            {"C2": c2(2.5), "t1": convex[1], "Q(t1)": q(convex[0], convex[1]), "C(t0)": c(convex[0])},
            c2(2.5) > 0
            and abs(convex[1] - (2.5 + 12.5 / 11)) < 1e-9
            and q(convex[0], convex[1]) < c(convex[0]),
            book_value=BOOK_NEXT["2.5"],
        ),
        Claim(
            "concave case (t = 1.7): the model is concave, the step goes to its maximum and raises the loss",
            "C''(1.7) < 0, Q(t1) > C(1.7) and C(t1) > C(1.7)",
            {
                "C2": c2(1.7),
                "t1": concave[1],
                "Q(t1)": q(concave[0], concave[1]),
                "C(t0)": c(concave[0]),
                "C(t1)": c(concave[1]),
            },
            c2(1.7) < 0 and q(concave[0], concave[1]) > c(concave[0]) and c(concave[1]) > c(concave[0]),
        ),  # fmt: skip
        Claim(
            "iterated from 2.5, Newton's method converges to the global minimum (near 3.06)",
            "|C'(t_T)| < 1e-9 and C''(t_T) > 0 and t_T in (3, 3.1)",
            {"t_T": convex[-1], "C1": c1(convex[-1]), "C2": c2(convex[-1])},
            abs(c1(convex[-1])) < 1e-9 and c2(convex[-1]) > 0 and 3 < convex[-1] < 3.1,
        ),
        Claim(
            "iterated from 1.7, Newton's method converges to a local maximum (near 0.88): it seeks C' = 0",
            "|C'(t_T)| < 1e-9 and C''(t_T) < 0",
            {"t_T": concave[-1], "C1": c1(concave[-1]), "C2": c2(concave[-1])},
            abs(c1(concave[-1])) < 1e-9 and c2(concave[-1]) < 0,
        ),
    ]
    return RecipeOutput(
        figure,
        claims,
        values={
            "paths": {start: path.tolist() for start, path in paths.items()},
            "loss_after_first_step": {start: [c(path[0]), c(path[1])] for start, path in paths.items()},
        },
        runs=[str(r.dir) for r in results],
    )


RECIPE = Recipe(
    id="fig-4.10",
    title="Newton's method in one dimension: a convex and a concave case",
    book_ref="Figure 4.10, section 4.6",
    chapter=4,
    claim="where C is convex the Newton step jumps to the minimum of the quadratic model and lowers C; "
    "where C is concave it jumps to the model's maximum and raises C",
    run=run,
    minutes_quick=0.03,
)
