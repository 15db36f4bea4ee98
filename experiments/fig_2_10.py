"""fig-2.10: polynomial fits of degree 0, 1, 3 and 9 to ten noisy points, and training against test
error by degree (book section 2.5). Direct computation: least squares (LinearRegression.least_squares
on the monomials x, ..., x^k); nothing is trained by gradient descent.

Data as in the companion source R/Polynomial_fit.R: x = 10 equally spaced points in [0, 1],
y = sin(2 pi x) - cos(2 pi x) + N(0, 0.2^2); the unseen data are 10,000 equally spaced points with fresh
noise. The R source's generator cannot be replayed, so the draw here is NumPy's (seed 11, as the R
source's set.seed(11)); because one draw of ten points is noisy, the recipe also averages the error
curves over many independent training sets.
"""

import numpy as np

from mde_exp.figures.style import save_figure, subplots
from mde_exp.least_squares import fit_polynomial, polynomial_features, polynomial_values
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput

N_TRAIN, N_TEST, NOISE = 10, 10_000, 0.2
DEGREES = range(10)
SHOWN = (0, 1, 3, 9)  # the book's four fits
SEED = 11
# Per profile: how many further independent training sets (and unseen sets) the error curves average.
SETTINGS = {"tiny": {"replications": 20}, "quick": {"replications": 200}, "full": {"replications": 1000}}


def target(x: np.ndarray) -> np.ndarray:
    return np.sin(2 * np.pi * x) - np.cos(2 * np.pi * x)


def draw(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Ten training points and the 10,000 unseen points, each with N(0, 0.2^2) noise."""
    x, x_test = np.linspace(0, 1, N_TRAIN), np.linspace(0, 1, N_TEST)
    y = target(x) + rng.normal(0, NOISE, N_TRAIN)
    y_test = target(x_test) + rng.normal(0, NOISE, N_TEST)
    return x, y, x_test, y_test


def errors(x, y, x_test, y_test) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Training and test mean squared errors of the least-squares polynomial of each degree 0..9."""
    coefficients = [fit_polynomial(x, y, k) for k in DEGREES]
    train = np.array([np.mean((polynomial_values(c, x) - y) ** 2) for c in coefficients])
    test = np.array([np.mean((polynomial_values(c, x_test) - y_test) ** 2) for c in coefficients])
    return train, test, coefficients


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    x, y, x_test, y_test = draw(np.random.default_rng(SEED))
    train, test, coefficients = errors(x, y, x_test, y_test)
    replicated = [
        errors(*draw(np.random.default_rng([SEED, r])))[:2] for r in range(settings["replications"])
    ]
    mean_train = np.mean([r[0] for r in replicated], axis=0)
    mean_test = np.mean([r[1] for r in replicated], axis=0)
    condition = float(np.linalg.cond(np.column_stack([np.ones(N_TRAIN), polynomial_features(x, 9)])))

    fig, axes = subplots(2, 3, figsize=(15, 7.5), gridspec_kw={"width_ratios": [1, 1, 1.3]})
    grid = np.linspace(0, 1, 500)
    for ax, k, letter in zip(axes[:, :2].ravel(), SHOWN, "abcd", strict=True):
        ax.plot(grid, target(grid), color="tab:green", lw=1.5, label="sin 2πx − cos 2πx")
        ax.plot(
            grid, polynomial_values(coefficients[k], grid), color="tab:red", lw=2, label=f"degree {k} fit"
        )
        ax.scatter(x, y, color="k", s=18, zorder=3, label="10 training points")
        ax.set(
            title=f"({letter}) polynomial fit with k = {k}\n"
            f"train MSE {train[k]:.2g}, unseen MSE {test[k]:.2g}",
            xlabel="x",
            ylabel="y",
            ylim=(-2.2, 2.2),
        )
        ax.legend(loc="upper right")
    gs = axes[0, 2].get_gridspec()
    for ax in axes[:, 2]:
        ax.remove()
    ax = fig.add_subplot(gs[:, 2])
    ax.plot(DEGREES, train, "o-", color="tab:red", label="E_train (this draw)")
    ax.plot(DEGREES, test, "o-", color="k", label="E_unseen, 10,000 points (this draw)")
    ax.plot(DEGREES, mean_train, "--", color="tab:red", alpha=0.7,
            label=f"E_train, mean over {settings['replications']} training sets")  # fmt: skip
    ax.plot(DEGREES, mean_test, "--", color="k", alpha=0.7,
            label=f"E_unseen, mean over {settings['replications']} training sets")  # fmt: skip
    ax.axhline(NOISE**2, color="tab:blue", ls=":", label="noise variance 0.2² = 0.04")
    ax.annotate(f"degree 9 interpolates the 10 points:\ntrain MSE {train[9]:.1e} (condition number of\n"
                f"the 10 × 10 Vandermonde matrix {condition:.1e})",
                (9, train[9]), xytext=(3.6, 0.55), arrowprops={"arrowstyle": "->"}, fontsize=8)  # fmt: skip
    ax.set(
        title="(e) mean squared error against polynomial degree",
        xlabel="model (polynomial degree k)",
        ylabel="mean squared error",
        xticks=list(DEGREES),
        ylim=(0, 1.12),
    )
    ax.legend(loc="upper right")
    figure = save_figure(fig, ctx.out_dir, "fig-2.10")

    best, mean_best = int(np.argmin(test)), int(np.argmin(mean_test))
    claims = [
        Claim(
            "the training error falls with the degree (nested least-squares models) to ~0 at degree 9, where "
            "the polynomial interpolates the 10 points",
            "E_train(k+1) <= E_train(k) + 1e-12 for k = 0..8, and E_train(9) < 1e-12",
            {"train_mse": train.tolist()},
            bool(np.all(np.diff(train) <= 1e-12)) and train[9] < 1e-12,
        ),
        Claim(
            "the unseen error is U-shaped (this draw): large for degree 0, smallest in between, larger again "
            "at degree 9",
            "argmin in 3..8, E_unseen(0) > 5 min and E_unseen(9) > 1.5 min",
            {
                "argmin": best,
                "min": float(test[best]),
                "degree_0": float(test[0]),
                "degree_9": float(test[9]),
            },
            3 <= best <= 8 and test[0] > 5 * test[best] and test[9] > 1.5 * test[best],
        ),
        Claim(
            f"on average over {settings['replications']} training sets the U-shape is clear",
            "argmin of the mean unseen error in 3..6, mean E_unseen(9) > 2 min, mean E_train decreasing",
            {"argmin": mean_best, "mean_test": mean_test.tolist()},
            3 <= mean_best <= 6
            and mean_test[9] > 2 * mean_test[mean_best]
            and bool(np.all(np.diff(mean_train) < 0)),
        ),
        Claim(
            "the best degree's unseen error approaches the irreducible noise variance 0.04",
            "0.9 x 0.04 <= min E_unseen < 2 x 0.04 (this draw and on average)",
            {"this_draw": float(test[best]), "mean": float(mean_test[mean_best])},
            all(NOISE**2 * 0.9 <= v < 2 * NOISE**2 for v in (test[best], mean_test[mean_best])),
        ),
    ]
    return RecipeOutput(
        figure,
        claims,
        values={
            "train_mse": train.tolist(),
            "test_mse": test.tolist(),
            "mean_train_mse": mean_train.tolist(),
            "mean_test_mse": mean_test.tolist(),
            "replications": settings["replications"],
            "vandermonde_condition_number": condition,
            "coefficients": {str(k): coefficients[k].tolist() for k in SHOWN},
        },
    )


RECIPE = Recipe(
    id="fig-2.10",
    title="Polynomial fits of degree 0, 1, 3, 9 and training against unseen error by degree",
    book_ref="Figure 2.10, section 2.5",
    chapter=2,
    claim="more flexible models always fit the training data better, but the error on unseen data is "
    "U-shaped: too simple underfits, degree 9 interpolates the noise and overfits",
    run=run,
    minutes_quick=0.08,
)
