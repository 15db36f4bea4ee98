"""fig-3.7 / fig-3.10: softmax regression's decision regions, linear and polynomial (book section 3.3).

Runs experiment softmax_polynomial: softmax regression (model=softmax_regression) on the book's 17
four-class points in the unit square (data=four_classes_book) with the linear features (fig-3.7) and
with all monomials up to degree 2 and 8 (fig-3.10; data.polynomial_degree, standardised), fitted by
full-batch L-BFGS (optimizer=lbfgs; the companion fits by nnet::multinom, a BFGS maximum-likelihood
fit). Each model is loaded back from its run's checkpoint and its regions drawn over the unit square.
With degree 2 and 8 the points are separable: the likelihood has no maximum, the weights grow with
every step, and the regions are those of the direction they grow in (as multinom's after its
iterations).

Linear softmax regions are intersections of half-planes, so convex with straight boundaries; the
recipe checks that on the trained models by midpoints: for random pairs of points that a model puts
in the same class, the share whose midpoint it puts in another class (0 for convex regions).
"""

import numpy as np
from omegaconf import OmegaConf

from mde_exp.figures.regions import class_probabilities, draw_regions, input_map, plane_grid
from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import load_model

# Per profile: full-batch L-BFGS epochs (an epoch is one L-BFGS step of up to 20 iterations) and the
# random pairs of the midpoint test.
SETTINGS = {
    "tiny": {"epochs": 20, "pairs": 20_000},
    "quick": {"epochs": 50, "pairs": 100_000},
    "full": {"epochs": 100, "pairs": 100_000},
}
# The companion's colours (red, green, blue, grey for labels 0..3), lighter for the regions.
COLOURS = ("#e41a1c", "#33a02c", "#1f50d0", "#7f7f7f")
REGION_COLOURS = ("#f7c6c6", "#c9ecc4", "#c4cff3", "#dedede")


def _degree(job: list[str]) -> int:
    return int(next(o.split("=", 1)[1] for o in job if o.startswith("data.polynomial_degree=")))


def midpoint_violations(predict, pairs: int, seed: int = 0) -> float:
    """Among `pairs` random pairs of points in the unit square that `predict` (N x 2 -> N labels) puts
    in the same class, the share whose midpoint it puts in another class: 0 when every region is
    convex, positive when some region is not."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(size=(pairs, 2)), rng.uniform(size=(pairs, 2))
    la, lb, lm = predict(a), predict(b), predict((a + b) / 2)
    same = la == lb
    return float((lm[same] != la[same]).mean())


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    jobs = ctx.sweep(["+experiment=softmax_polynomial", f"trainer.max_epochs={settings['epochs']}"])
    results = dict(sorted((_degree(job), result) for job, result in jobs))
    degrees = list(results)

    raw, _ = input_map(OmegaConf.load(results[degrees[0]].dir / "config.yaml").data)
    x, y = (t.numpy() for t in raw.splits["train"])
    u, v, grid = plane_grid(np.array([[0.0, 0.0], [1.0, 1.0]]), margin=0.0, n=401)

    fits = {}
    fig, axes = subplots(1, len(degrees), figsize=(5.2 * len(degrees), 5.0))
    for ax, (degree, result) in zip(axes, results.items(), strict=True):
        _, to_inputs = input_map(OmegaConf.load(result.dir / "config.yaml").data)
        model = load_model(result.dir)

        def predict(points, model=model, to_inputs=to_inputs):
            return class_probabilities(model, to_inputs(points)).argmax(1)

        p = class_probabilities(model, to_inputs(x))
        fits[degree] = {
            "train_acc": float((p.argmax(1) == y).mean()),
            "train_loss": float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean()),
            "midpoint_violations": midpoint_violations(predict, settings["pairs"]),
            "features": int(to_inputs(x[:1]).shape[1]),
        }
        draw_regions(ax, u, v, predict(grid).reshape(u.shape), REGION_COLOURS, alpha=1.0)
        for k, colour in enumerate(COLOURS):
            ax.scatter(
                *x[y == k].T, s=70, color=colour, edgecolors="k", lw=0.5, label=f"class {k + 1}", zorder=3
            )
        kind = (
            "linear features (fig. 3.7)"
            if degree == 1
            else f"polynomial features, degree {degree} (fig. 3.10)"
        )
        ax.set(
            title=f"{kind}\n{fits[degree]['features']} features; "
            f"training accuracy {fits[degree]['train_acc']:.2f}",
            xlabel="x₁",
            ylabel="x₂",
            xlim=(0, 1),
            ylim=(0, 1),
            aspect="equal",
        )
    axes[0].legend(loc="upper left", frameon=True, framealpha=0.9)
    fig.suptitle("Softmax regression on 17 points of four classes: decision regions (shading) and boundaries")
    figure = save_figure(fig, ctx.out_dir, "fig-3.7")

    accuracy = [fits[d]["train_acc"] for d in degrees]
    linear, top = fits[degrees[0]], fits[degrees[-1]]
    claims = [
        Claim(
            "richer features fit the training points better: training accuracy does not fall with the degree "
            "and the highest degree beats linear features",
            "accuracy nondecreasing in degree; acc(highest) > acc(linear)",
            {str(d): a for d, a in zip(degrees, accuracy, strict=True)},
            all(b >= a for a, b in zip(accuracy, accuracy[1:], strict=False)) and accuracy[-1] > accuracy[0],
        ),
        Claim(
            "linear softmax regions are convex (straight boundaries); polynomial features of high degree "
            "give non-convex regions",
            "midpoint violations: 0 for linear features, > 0 for the highest degree",
            {str(d): fits[d]["midpoint_violations"] for d in degrees},
            linear["midpoint_violations"] == 0.0 and top["midpoint_violations"] > 0.0,
        ),
    ]
    return RecipeOutput(
        figure,
        claims,
        values={"epochs": settings["epochs"], "by_degree": {str(d): fits[d] for d in degrees}},
        runs=[str(r.dir) for r in results.values()],
    )


RECIPE = Recipe(
    id="fig-3.7",
    title="Softmax regression on four classes: linear (fig. 3.7) and degree 2 and 8 polynomial features "
    "(fig. 3.10)",
    book_ref="Figures 3.7 and 3.10, section 3.3",
    chapter=3,
    claim="softmax regression splits the plane into convex regions with straight boundaries; polynomial "
    "features bend the boundaries and fit the training points better",
    run=run,
    minutes_quick=0.1,
)
