"""fig-3.1 / fig-3.2: logistic regression on WDBC with one and with two features (book section 3.1).

Runs experiment logistic_wdbc: logistic regression (model=logistic_regression) on the Wisconsin breast
cancer data with the feature area_mean and with area_mean and texture_mean (data.features), malignant
coded 1 as in the book (data.classes=[1,0]), standardised features, an 80/20 split, fitted by
full-batch L-BFGS (optimizer=lbfgs; the companion fits by R's glm). The models are loaded back from
their checkpoints and drawn in the data's own units: (a) the fitted sigmoid over the jittered 0/1 data
(fig-3.1, left), (b) the fitted probability surface over the two features (fig-3.1, right), and (c)
the decision regions with the linear boundary p = 0.5 (fig-3.2). Each fit is checked against
scikit-learn's unpenalised maximum-likelihood fit on the same training features.
"""

import numpy as np
import torch
from omegaconf import OmegaConf
from sklearn.linear_model import LogisticRegression as SklearnLogistic

from mde_exp.figures.regions import class_probabilities, input_map
from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import load_model

# Per profile: full-batch L-BFGS epochs (an epoch is one L-BFGS step of up to 20 iterations).
SETTINGS = {"tiny": {"epochs": 20}, "quick": {"epochs": 50}, "full": {"epochs": 100}}
AGREEMENT = 0.01  # largest |p - p_sklearn| over the 569 tumours
MARGIN = 0.15  # "well above the majority-class rate": accuracy minus that rate
COLOURS = ("tab:red", "tab:blue")  # benign (y = 0), malignant (y = 1), as the companion's figure
LABELS = ("y = 0 (benign)", "y = 1 (malignant)")


def _features(job: list[str]) -> tuple[str, ...]:
    value = next(o.split("=", 1)[1] for o in job if o.startswith("data.features="))
    return tuple(name.strip() for name in value.strip("[]").split(","))


def _logit(model: torch.nn.Module, inputs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.logit(torch.as_tensor(inputs)).numpy()


def _fit(result) -> dict:
    """A stored run's model with its data in original units, the map to model inputs, its accuracy,
    the same-feature scikit-learn fit, and its logit as b + w . x in original units."""
    raw, to_inputs = input_map(OmegaConf.load(result.dir / "config.yaml").data)
    model = load_model(result.dir)
    (x_train, y_train), (x_test, y_test) = ((t.numpy() for t in raw.splits[s]) for s in ("train", "test"))
    every = np.concatenate([x_train, x_test])
    reference = SklearnLogistic(C=np.inf, tol=1e-10, max_iter=100_000).fit(to_inputs(x_train), y_train)
    p_every = class_probabilities(model, to_inputs(every))[:, 1]
    d = every.shape[1]
    at = _logit(model, to_inputs(np.vstack([np.zeros((1, d)), np.eye(d)])))  # z(0), z(e_1), ..., z(e_d)
    return {
        "model": model,
        "to_inputs": to_inputs,
        "x": every,
        "y": np.concatenate([y_train, y_test]),
        "test_acc": float(((class_probabilities(model, to_inputs(x_test))[:, 1] > 0.5) == y_test).mean()),
        "majority_rate_test": float(max(y_test.mean(), 1 - y_test.mean())),
        "max_abs_diff_sklearn": float(
            np.abs(p_every - reference.predict_proba(to_inputs(every))[:, 1]).max()
        ),
        "intercept_original_units": float(at[0]),
        "weights_original_units": (at[1:] - at[0]).tolist(),
    }


def run(ctx: RecipeContext) -> RecipeOutput:
    epochs = SETTINGS[ctx.profile]["epochs"]
    jobs = ctx.sweep(["+experiment=logistic_wdbc", f"trainer.max_epochs={epochs}"])
    results = {_features(job): result for job, result in jobs}
    one, two = _fit(results[("area_mean",)]), _fit(results[("area_mean", "texture_mean")])

    fig, axes = subplots(1, 3, figsize=(17, 5.0), gridspec_kw={"width_ratios": [1, 1.1, 1]})
    # (a) one feature: the sigmoid over the jittered 0/1 data.
    ax = axes[0]
    area = one["x"][:, 0]
    jitter = np.random.default_rng(0).uniform(-0.02, 0.02, len(area))
    ax.scatter(area, one["y"] + jitter, s=10, color="k", alpha=0.35, label="tumours (jittered)")
    line = np.linspace(0, area.max() * 1.02, 400)[:, None]
    ax.plot(line, class_probabilities(one["model"], one["to_inputs"](line))[:, 1], color="#d55e00", lw=2.2,
            label="logistic regression ŷ = σ(b + w x₁)")  # fmt: skip
    for level in (0, 1):
        ax.axhline(level, color="k", ls=":", lw=0.8)
    ax.set(
        title=f"(a) one feature; test accuracy {one['test_acc']:.2f}",
        xlabel="x₁: area_mean",
        ylabel="ŷ = P(malignant | x₁)",
        ylim=(-0.08, 1.08),
    )
    ax.legend(loc="center right")

    # (b) two features: the probability surface (over the companion's ranges).
    def probability(area_range, texture_range):
        grid = np.meshgrid(np.linspace(*area_range, 200), np.linspace(*texture_range, 200))
        points = np.stack([g.ravel() for g in grid], axis=1)
        return *grid, class_probabilities(two["model"], two["to_inputs"](points))[:, 1].reshape(grid[0].shape)

    area_grid, texture_grid, surface = probability((100, 1900), (10, 40))
    axes[1].remove()
    ax = fig.add_subplot(1, 3, 2, projection="3d")
    ax.plot_surface(area_grid, texture_grid, surface, cmap="coolwarm", edgecolor="none", rcount=60, ccount=60)
    ax.view_init(30, -60)
    ax.set(
        title="(b) two features: ŷ = σ(b + w₁x₁ + w₂x₂)",
        xlabel="x₁: area_mean",
        ylabel="x₂: texture_mean",
        zlabel="ŷ = P(malignant | x)",
    )

    # (c) the decision regions and the linear boundary p = 0.5.
    ax = axes[2]
    area_grid, texture_grid, surface = probability((100, 2600), (9, 40))
    ax.contourf(
        area_grid, texture_grid, surface, levels=[0, 0.5, 1], colors=["#f6c1c1", "#b9d3ee"], alpha=0.8
    )
    b, (w1, w2) = two["intercept_original_units"], two["weights_original_units"]
    ax.plot(line[:, 0], -(b + w1 * line[:, 0]) / w2, color="k", lw=1.2, label="boundary b + w₁x₁ + w₂x₂ = 0")
    for k in (0, 1):
        ax.scatter(*two["x"][two["y"] == k].T, s=8, color=COLOURS[k], label=LABELS[k])
    ax.set(
        title=f"(c) decision boundary p = 0.5 (fig. 3.2); test accuracy {two['test_acc']:.2f}",
        xlabel="x₁: area_mean",
        ylabel="x₂: texture_mean",
        xlim=(100, 2600),
        ylim=(9, 40),
    )
    ax.legend(loc="upper right", frameon=True, framealpha=0.9)
    figure = save_figure(fig, ctx.out_dir, "fig-3.1")

    fits = {"area_mean": one, "area_mean + texture_mean": two}
    slope = one["weights_original_units"][0]
    claims = [
        Claim(
            "the fitted probability of malignancy increases with area_mean",
            "w (area_mean) > 0",
            slope,
            slope > 0,
        ),
        Claim(
            "logistic regression predicts far better than always guessing the majority class (benign)",
            f"test accuracy - majority-class rate > {MARGIN}, each model",
            {name: fit["test_acc"] - fit["majority_rate_test"] for name, fit in fits.items()},
            all(fit["test_acc"] - fit["majority_rate_test"] > MARGIN for fit in fits.values()),
        ),
        Claim(
            "the trained models are the maximum-likelihood fits (so the boundary is the glm's straight line)",
            f"max |p - p_sklearn| over the 569 tumours < {AGREEMENT}, each model",
            {name: fit["max_abs_diff_sklearn"] for name, fit in fits.items()},
            all(fit["max_abs_diff_sklearn"] < AGREEMENT for fit in fits.values()),
        ),
    ]
    keep = ("test_acc", "majority_rate_test", "max_abs_diff_sklearn", "intercept_original_units",
            "weights_original_units")  # fmt: skip
    return RecipeOutput(
        figure,
        claims,
        values={"epochs": epochs, **{name: {k: fit[k] for k in keep} for name, fit in fits.items()}},
        runs=[str(r.dir) for r in results.values()],
    )


RECIPE = Recipe(
    id="fig-3.1",
    title="Logistic regression on WDBC: one feature's sigmoid, two features' probability surface and "
    "linear boundary (figs. 3.1, 3.2)",
    book_ref="Figures 3.1 and 3.2, section 3.1",
    chapter=3,
    claim="logistic regression turns a linear score into a probability of malignancy that rises with "
    "area_mean; with two features its decision boundary p = 0.5 is a straight line",
    run=run,
    minutes_quick=0.1,
)
