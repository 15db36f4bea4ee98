"""fig-2.3: simple regression on Boston housing, medv on rm and on lstat (book section 2.3).

Runs experiment boston_regression: LinearRegression trained by full-batch gradient descent (plain SGD
with the batch = all 490 tracts whose medv is below 50, standardised inputs) on (a) rm and (b) lstat,
linear and quadratic (data.polynomial_degree=2). Each trained model is loaded back from its run's
checkpoint and drawn in the original units; the 95% confidence bands for the mean come from the
least-squares fit (what R's stat_smooth draws in the book), and the gradient-descent fits are checked
against LinearRegression.least_squares.
"""

from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from mde_exp.data.splits import normalise
from mde_exp.figures.style import save_figure, subplots
from mde_exp.least_squares import mean_confidence_band, polynomial_features
from mde_exp.models.linear import LinearRegression
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import load_model, read_epoch_metrics

# The three fits of the figure: (feature, polynomial degree).
FITS = {"rm, linear": ("rm", 1), "lstat, linear": ("lstat", 1), "lstat, quadratic": ("lstat", 2)}
COLOURS = {"rm, linear": "tab:red", "lstat, linear": "tab:red", "lstat, quadratic": "tab:blue"}
# Per profile: overrides of every run (the experiment trains 500 epochs of full-batch gradient descent
# at lr 0.45; the data set is the book's at every scale, so full is quick).
SETTINGS = {
    "tiny": {"overrides": ["trainer.max_epochs=300", "trainer.check_val_every_n_epoch=100"]},
    "quick": {"overrides": []},
    "full": {"overrides": []},
}
AGREEMENT = 0.01  # $1000s: largest allowed |GD prediction - least-squares prediction| on the data
LABELS = {
    "rm": "average number of rooms per dwelling (rm)",
    "lstat": "lower status of the population, % (lstat)",
}


def _fit(run_dir: Path, degree: int) -> dict:
    """The trained model of a run against least squares: predictions on the data and on a grid over
    the feature's range (raw units), mean squared errors, and the coefficients of 1, x, x^2 in raw units."""
    data_cfg = OmegaConf.load(run_dir / "config.yaml").data
    standardised, raw = instantiate(data_cfg), instantiate(data_cfg, normalize="none")
    standardised.setup()
    raw.setup()
    z, y = standardised.splits["train"]
    features = raw.splits["train"][0].double().numpy()  # x, x^2, ... as the model saw them before scaling
    x = features[:, 0]
    grid = np.linspace(x.min(), x.max(), 300)
    model = load_model(run_dir)
    with torch.no_grad():
        gd_train = model(z).squeeze(1).double().numpy()
        grid_z = normalise("standardize", features, polynomial_features(grid, degree), None)
        gd_grid = model(torch.as_tensor(grid_z, dtype=torch.float32)).squeeze(1).double().numpy()
    y = y.squeeze(1).double().numpy()
    bias, weights = LinearRegression.least_squares(torch.from_numpy(features), torch.from_numpy(y))
    ls_coef = np.concatenate([bias.numpy().ravel(), weights.numpy().ravel()])
    ls_train = ls_coef[0] + features @ ls_coef[1:]
    # the trained weights in raw units: y = b + w.(f - m)/s = (b - w.m/s) + (w/s).f
    mean, std = features.mean(0), features.std(0)
    w = model.net[1].weight.detach().double().numpy().ravel() / std
    b = float(model.net[1].bias.detach().double()) - float(w @ mean)
    design = np.column_stack([np.ones(len(x)), features])
    grid_design = np.column_stack([np.ones(len(grid)), polynomial_features(grid, degree)])
    _, lower, upper = mean_confidence_band(design, y, grid_design)
    return {
        "x": x,
        "y": y,
        "grid": grid,
        "gd_grid": gd_grid,
        "band": (lower, upper),
        "mse_gd": float(np.mean((gd_train - y) ** 2)),
        "mse_ls": float(np.mean((ls_train - y) ** 2)),
        "max_gap": float(np.max(np.abs(gd_train - ls_train))),
        "gd_coef": [b, *w.tolist()],
        "ls_coef": ls_coef.tolist(),
        "curve": read_epoch_metrics(run_dir)["train/loss"].dropna(),
    }


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    results = {
        label: ctx.train(
            [
                "+experiment=boston_regression",
                f"data.features=[{feature}]",
                f"data.polynomial_degree={degree}",
                *settings["overrides"],
            ]
        )  # fmt: skip
        for label, (feature, degree) in FITS.items()
    }
    fits = {label: _fit(results[label].dir, degree) for label, (_, degree) in FITS.items()}

    fig, axes = subplots(1, 3, figsize=(16, 5.0), gridspec_kw={"width_ratios": [1, 1, 0.9]})
    for ax, letter, feature in ((axes[0], "a", "rm"), (axes[1], "b", "lstat")):
        panel = [label for label, (f, _) in FITS.items() if f == feature]
        first = fits[panel[0]]
        ax.scatter(first["x"], first["y"], s=8, color="k", alpha=0.6, label="tracts (medv < 50, n = 490)")
        for label in panel:
            fit, colour = fits[label], COLOURS[label]
            kind = label.split(", ")[1]
            ax.plot(fit["grid"], fit["gd_grid"], color=colour, lw=2,
                    label=f"{kind} fit by gradient descent (MSE {fit['mse_gd']:.1f})")  # fmt: skip
            ax.fill_between(fit["grid"], *fit["band"], color=colour, alpha=0.25, lw=0,
                            label="its 95% confidence band for the mean (least squares)")  # fmt: skip
        ax.set(
            title=f"({letter}) medv on {feature}",
            xlabel=LABELS[feature],
            ylabel="median house value, $1000s (medv)",
            ylim=(-4, 66),  # room above the cloud for the legend
        )
        ax.legend(loc="upper left")
    ax = axes[2]
    for label, fit in fits.items():
        excess = np.clip(fit["curve"].to_numpy() - fit["mse_ls"], 1e-7, None)
        ax.semilogy(fit["curve"].index + 1, excess, lw=1.5, label=f"medv on {label}",
                    ls="--" if label.startswith("rm") else "-",
                    color={"rm, linear": "tab:green"}.get(label, COLOURS[label]))  # fmt: skip
    ax.axhspan(1e-7, 1e-5, color="0.9", zorder=0)
    ax.text(
        300, 2e-5, "shaded: float32 rounding of the loss", ha="center", va="bottom", fontsize=8, color="0.3"
    )
    ax.set(
        title="(c) gradient descent approaches least squares",
        xlabel="epoch (one full-batch step each)",
        ylabel="training MSE − least-squares MSE ($1000s²)",
    )
    ax.legend(loc="upper right")
    figure = save_figure(fig, ctx.out_dir, "fig-2.3")

    gap = max(f["max_gap"] for f in fits.values())
    rel_mse = max(abs(f["mse_gd"] / f["mse_ls"] - 1) for f in fits.values())
    lin, quad = fits["lstat, linear"]["mse_ls"], fits["lstat, quadratic"]["mse_ls"]
    slopes = {"rm": fits["rm, linear"]["gd_coef"][1], "lstat": fits["lstat, linear"]["gd_coef"][1]}
    curvature = fits["lstat, quadratic"]["gd_coef"][2]
    claims = [
        Claim(
            "full-batch gradient descent reaches the least-squares fit (all three fits)",
            f"max |prediction(GD) - prediction(least squares)| over the data < {AGREEMENT} ($1000s)",
            gap,
            gap < AGREEMENT,
        ),
        Claim(
            "and its training MSE equals the least-squares minimum",
            "|MSE(GD) / MSE(least squares) - 1| < 1e-4 (all three fits)",
            rel_mse,
            rel_mse < 1e-4,
        ),
        Claim(
            "a quadratic in lstat fits better than a line (the cloud is curved)",
            "MSE(quadratic) < MSE(linear) on lstat",
            {"linear": lin, "quadratic": quad},
            quad < lin,
        ),
        Claim(
            "more rooms, higher value; a larger lower-status share, lower value; the lstat curve is convex",
            "slope on rm > 0, slope on lstat < 0, coefficient of lstat^2 > 0",
            {"rm": slopes["rm"], "lstat": slopes["lstat"], "lstat^2": curvature},
            slopes["rm"] > 0 > slopes["lstat"] and curvature > 0,
        ),
    ]
    return RecipeOutput(
        figure,
        claims,
        values={
            label: {k: fit[k] for k in ("mse_gd", "mse_ls", "max_gap", "gd_coef", "ls_coef")}
            | {"epochs": int(fit["curve"].index.max()) + 1}
            for label, fit in fits.items()
        },
        runs=[str(r.dir) for r in results.values()],
    )


RECIPE = Recipe(
    id="fig-2.3",
    title="Simple regression on Boston housing: medv on rm (with its band), on lstat (linear, quadratic)",
    book_ref="Figure 2.3, section 2.3",
    chapter=2,
    claim="a linear model fitted by gradient descent on the squared error is the least-squares line; "
    "on lstat a quadratic feature fits the curved cloud better than a line",
    run=run,
    minutes_quick=0.15,
)
