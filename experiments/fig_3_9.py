"""fig-3.9: logistic regression on the two-arm spiral with polynomial features (book section 3.4).

Runs experiment spiral_polynomial: logistic regression (model=logistic_regression) on the spiral's raw
coordinates and on all monomials of degree up to 2, 4 and 8 (data.polynomial_degree, standardised
after the expansion), 600 training and 200 test points, fitted by full-batch L-BFGS (optimizer=lbfgs;
the companion fits by R's glm). Each model is loaded back from its run's
checkpoint and its decision regions are drawn over the spiral's own coordinates (the grid is mapped
to the model's inputs exactly as the run's data were).
"""

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.lines import Line2D
from omegaconf import OmegaConf

from mde_exp.figures.regions import class_probabilities, draw_regions, input_map, plane_grid
from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import load_datamodule, load_model

# Per profile: full-batch L-BFGS epochs (an epoch is one L-BFGS step of up to 20 iterations).
SETTINGS = {"tiny": {"epochs": 20}, "quick": {"epochs": 50}, "full": {"epochs": 100}}
COLOURS = ("#f6c1c1", "#b9d3ee")  # regions of class 0 and class 1
POINT_COLOURS = ("tab:red", "tab:blue")
LOSS_SLACK = 0.005  # nested feature sets: a higher degree's training loss may exceed a lower's by this


def _degree(job: list[str]) -> int:
    return int(next(o.split("=", 1)[1] for o in job if o.startswith("data.polynomial_degree=")))


def fit_summary(run_dir) -> dict[str, float]:
    """Cross-entropy and accuracy of a stored run's model on its own training and test splits."""
    datamodule = load_datamodule(run_dir)
    model = load_model(run_dir)
    out = {}
    with torch.no_grad():
        for split in ("train", "test"):
            x, y = datamodule.splits[split]
            logits = model(x)
            out[f"{split}_loss"] = float(F.cross_entropy(logits, y))
            out[f"{split}_acc"] = float((logits.argmax(1) == y).float().mean())
    return out


def run(ctx: RecipeContext) -> RecipeOutput:
    epochs = SETTINGS[ctx.profile]["epochs"]
    jobs = ctx.sweep(["+experiment=spiral_polynomial", f"trainer.max_epochs={epochs}"])
    results = dict(sorted((_degree(job), result) for job, result in jobs))
    fits = {d: fit_summary(r.dir) for d, r in results.items()}
    degrees = list(results)

    raw, _ = input_map(OmegaConf.load(results[degrees[0]].dir / "config.yaml").data)
    x_train, y_train = (t.numpy() for t in raw.splits["train"])
    x_test, y_test = (t.numpy() for t in raw.splits["test"])
    u, v, grid = plane_grid(np.concatenate([x_train, x_test]), margin=0.1, n=300)

    fig, axes = subplots(1, len(degrees) + 1, figsize=(4.1 * len(degrees) + 3.4, 4.6))
    for ax, (degree, result) in zip(axes, results.items(), strict=False):
        _, to_inputs = input_map(OmegaConf.load(result.dir / "config.yaml").data)
        p = class_probabilities(load_model(result.dir), to_inputs(grid))
        draw_regions(ax, u, v, p.argmax(1).reshape(u.shape), COLOURS, alpha=0.8)
        for k, colour in enumerate(POINT_COLOURS):
            ax.scatter(*x_train[y_train == k].T, s=5, color=colour)
            ax.scatter(*x_test[y_test == k].T, s=12, facecolors="none", edgecolors=colour, lw=0.7)
        name = "raw features (x₁, x₂)" if degree == 1 else f"polynomial features, degree {degree}"
        ax.set(
            title=f"{name}\ntest accuracy {fits[degree]['test_acc']:.2f}",
            xlabel="x₁",
            ylabel="x₂",
            aspect="equal",
        )
    handles = [
        Line2D([], [], ls="", marker="o", ms=4, color=POINT_COLOURS[0], label="class 0 (train)"),
        Line2D([], [], ls="", marker="o", ms=4, color=POINT_COLOURS[1], label="class 1 (train)"),
        Line2D([], [], ls="", marker="o", ms=5, mfc="none", color=POINT_COLOURS[0], label="class 0 (test)"),
        Line2D([], [], ls="", marker="o", ms=5, mfc="none", color=POINT_COLOURS[1], label="class 1 (test)"),
        Line2D([], [], color="k", lw=0.8, label="decision boundary (p = 0.5); shading: predicted class"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=5)
    ax = axes[-1]
    positions = np.arange(len(degrees))
    ax.bar(positions - 0.2, [fits[d]["train_acc"] for d in degrees], 0.4, color="tab:gray", label="train")
    ax.bar(positions + 0.2, [fits[d]["test_acc"] for d in degrees], 0.4, color="tab:green", label="test")
    ax.axhline(0.5, color="k", ls=":", lw=1, label="chance")
    ax.set_xticks(positions, ["raw" if d == 1 else f"degree {d}" for d in degrees])
    ax.set(
        title=f"accuracy by feature set\n({epochs} full-batch L-BFGS epochs)",
        ylabel="accuracy",
        ylim=(0, 1.05),
    )
    ax.legend(loc="upper left")
    figure = save_figure(fig, ctx.out_dir, "fig-3.9")

    raw_acc, top = fits[1]["test_acc"], fits[max(degrees)]["test_acc"]
    losses = [fits[d]["train_loss"] for d in degrees]
    rises = [later - earlier for earlier, later in zip(losses, losses[1:], strict=False)]
    claims = [
        Claim(
            "on the raw coordinates, logistic regression's straight boundary stays near chance",
            "test accuracy (raw features) < 0.7",
            raw_acc,
            raw_acc < 0.7,
        ),
        Claim(
            f"polynomial features of degree {max(degrees)} let the boundary follow the spiral",
            f"test accuracy (degree {max(degrees)}) > 0.85 and exceeds raw by > 0.2",
            {"degree": top, "minus raw": top - raw_acc},
            top > 0.85 and top - raw_acc > 0.2,
        ),
        Claim(
            "the feature sets are nested, so the fitted training loss does not rise with the degree",
            f"largest rise of training cross-entropy from one degree to the next <= {LOSS_SLACK}",
            max(rises),
            max(rises) <= LOSS_SLACK,
        ),
    ]
    return RecipeOutput(
        figure,
        claims,
        values={"epochs": epochs, "by_degree": {str(d): fits[d] for d in degrees}},
        runs=[str(r.dir) for r in results.values()],
    )


RECIPE = Recipe(
    id="fig-3.9",
    title="The spiral: logistic regression on raw features and on polynomial features of degree 2, 4, 8",
    book_ref="Figure 3.9, section 3.4",
    chapter=3,
    claim="a linear boundary cannot separate the spiral; polynomial features of high enough degree bend "
    "logistic regression's boundary around it",
    run=run,
    minutes_quick=0.2,
)
