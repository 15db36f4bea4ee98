"""fig-3.8: logistic regression beyond linearity in one dimension (book section 3.4).

Runs experiment logistic_quadratic: logistic regression on the book's 38 presence / absence sites
(data=presence_book) with the linear feature x (precipitation) and with the features x and x^2
(data.polynomial_degree=2), full-batch L-BFGS. With one feature, sigmoid(b + w x) is monotone in x
whatever the fit; with x^2 it can rise and fall, as presence does. Each fit is checked against
scikit-learn's unpenalised maximum-likelihood fit on the same features.
"""

import numpy as np
import torch
from omegaconf import OmegaConf
from sklearn.linear_model import LogisticRegression as SklearnLogistic

from mde_exp.figures.regions import class_probabilities, input_map
from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import load_model

# Per profile: full-batch L-BFGS epochs (an epoch is one L-BFGS step of up to 20 iterations); each
# reaches the maximum-likelihood fit.
SETTINGS = {"tiny": {"epochs": 20}, "quick": {"epochs": 50}, "full": {"epochs": 100}}
NAMES = {1: "linear feature: σ(b + w₁x)", 2: "quadratic feature: σ(b + w₁x + w₂x²)"}
COLOURS = {1: "tab:red", 2: "tab:blue"}
CHI2_1DF_95 = 3.841  # the 95% point of chi-squared with one degree of freedom
AGREEMENT = 0.01  # largest |p - p_sklearn| over the plotted range


def _degree(job: list[str]) -> int:
    return int(next(o.split("=", 1)[1] for o in job if o.startswith("data.polynomial_degree=")))


def _cross_entropy(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _logit(model: torch.nn.Module, inputs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.logit(torch.as_tensor(inputs)).numpy()


def run(ctx: RecipeContext) -> RecipeOutput:
    epochs = SETTINGS[ctx.profile]["epochs"]
    jobs = ctx.sweep(["+experiment=logistic_quadratic", f"trainer.max_epochs={epochs}"])
    results = dict(sorted((_degree(job), result) for job, result in jobs))

    fits = {}
    for degree, result in results.items():
        raw, to_inputs = input_map(OmegaConf.load(result.dir / "config.yaml").data)
        x, y = (t.numpy() for t in raw.splits["train"])
        grid = np.linspace(x.min() - 5, x.max() + 5, 401)[:, None]
        model = load_model(result.dir)
        p_grid = class_probabilities(model, to_inputs(grid))[:, 1]
        p_data = class_probabilities(model, to_inputs(x))[:, 1]
        reference = SklearnLogistic(C=np.inf, tol=1e-10, max_iter=100_000).fit(to_inputs(x), y)
        steps = np.diff(p_grid)
        peak = int(p_grid.argmax())
        fits[degree] = {
            "x": x[:, 0],
            "y": y,
            "grid": grid[:, 0],
            "p": p_grid,
            "loss": _cross_entropy(p_data, y),
            "sklearn_loss": _cross_entropy(reference.predict_proba(to_inputs(x))[:, 1], y),
            "max_abs_diff_sklearn": float(
                np.abs(p_grid - reference.predict_proba(to_inputs(grid))[:, 1]).max()
            ),
            "monotone": bool((steps >= 0).all() or (steps <= 0).all()),
            "peak_precipitation": float(grid[peak, 0]),
            "peak_minus_ends": float(p_grid[peak] - max(p_grid[0], p_grid[-1])),
            "accuracy": float(((p_data > 0.5) == y).mean()),
            "weights": model.net[1].weight.detach().flatten().tolist(),
            "logit": _logit(model, to_inputs(grid)),
        }
    linear, quadratic = fits[1], fits[2]
    n = len(linear["y"])
    deviance_drop = 2 * n * (linear["loss"] - quadratic["loss"])

    fig, axes = subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1.3, 1]})
    ax = axes[0]
    jitter = np.random.default_rng(0).uniform(-0.02, 0.02, n)
    ax.scatter(linear["x"], linear["y"] + jitter, s=22, color="k", alpha=0.5, label="sites (jittered)")
    for degree, fit in fits.items():
        ax.plot(fit["grid"], fit["p"], color=COLOURS[degree], lw=2, label=NAMES[degree])
    for level in (0, 1):
        ax.axhline(level, color="k", ls=":", lw=0.8)
    ax.set(
        title="(a) fitted probability of presence",
        xlabel="x: precipitation",
        ylabel="ŷ = P(presence | x)",
        ylim=(-0.08, 1.08),
    )
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, 0.93))
    ax = axes[1]
    for degree, fit in fits.items():
        label = f"{NAMES[degree]}\ncross-entropy {fit['loss']:.3f} (scikit-learn {fit['sklearn_loss']:.3f})"
        ax.plot(fit["grid"], fit["logit"], color=COLOURS[degree], lw=2, label=label)
    ax.axhline(0, color="k", ls=":", lw=0.8)
    ax.set(
        title=f"(b) the fitted logit z (ŷ = σ(z)); drop in deviance\n2n·ΔCE = {deviance_drop:.1f} "
        f"(χ²₁ 95% point: {CHI2_1DF_95})",
        xlabel="x: precipitation",
        ylabel="z = b + w₁x (+ w₂x²)",
    )
    ax.legend(loc="lower center")
    figure = save_figure(fig, ctx.out_dir, "fig-3.8")

    claims = [
        Claim(
            "with a linear feature the fitted probability is monotone; with a quadratic feature it rises "
            "and falls (a peak inside the data's range)",
            "linear: monotone; quadratic: not monotone, peak probability exceeds both ends by > 0.5",
            {
                "linear monotone": linear["monotone"],
                "quadratic monotone": quadratic["monotone"],
                "quadratic peak minus ends": quadratic["peak_minus_ends"],
                "quadratic peak at": quadratic["peak_precipitation"],
            },
            bool(linear["monotone"])
            and not quadratic["monotone"]
            and quadratic["peak_minus_ends"] > 0.5
            and bool(linear["x"].min() < quadratic["peak_precipitation"] < linear["x"].max()),
        ),
        Claim(
            "the quadratic feature fits the data far better: the drop in deviance is significant",
            f"2 n (CE_linear - CE_quadratic) > {CHI2_1DF_95} (chi-squared, 1 df, 95%)",
            deviance_drop,
            deviance_drop > CHI2_1DF_95,
        ),
        Claim(
            "both trained models reach the maximum-likelihood fit",
            f"max |p - p_sklearn| over the plotted range < {AGREEMENT}, each model",
            {NAMES[d]: fit["max_abs_diff_sklearn"] for d, fit in fits.items()},
            all(fit["max_abs_diff_sklearn"] < AGREEMENT for fit in fits.values()),
        ),
    ]
    keep = (
        "loss",
        "sklearn_loss",
        "max_abs_diff_sklearn",
        "monotone",
        "peak_precipitation",
        "accuracy",
        "weights",
    )
    return RecipeOutput(
        figure,
        claims,
        values={
            "epochs": epochs,
            "deviance_drop": deviance_drop,
            "by_degree": {str(d): {k: fit[k] for k in keep} for d, fit in fits.items()},
        },
        runs=[str(r.dir) for r in results.values()],
    )


RECIPE = Recipe(
    id="fig-3.8",
    title="Logistic regression with a linear against a quadratic feature: presence against precipitation",
    book_ref="Figure 3.8, section 3.4",
    chapter=3,
    claim="a linear feature can only give a monotone probability; adding x² lets logistic regression fit "
    "a presence that peaks at middle precipitation",
    run=run,
    minutes_quick=0.05,
)
