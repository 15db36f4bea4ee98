"""fig-2.8: input normalisation and the loss landscape (book section 2.4), a direct computation.

n = 1000 inputs x1 ~ N(2, 2^2), x2 ~ N(1, 1) (NumPy's default_rng(0)), y = 2 x1 + 0.5 x2 + N(0, 0.1^2).
The loss is half the mean squared error of y_hat = w1 x1 + w2 x2, C(w) = ||y - X w||^2 / (2n), whose
Hessian is X^T X / n (here from torch.func.hessian, checked against the formula). On the raw inputs
the features have different scales and are correlated through their non-zero means, so the Hessian is
ill-conditioned and the contours are long, tilted ellipses; standardising the inputs (scikit-learn's
StandardScaler; y centred, which is what an intercept would absorb) makes the Hessian the features'
correlation matrix, close to I, and the contours close to circles. Gradient descent from the same
distance with the rate 1 / lambda_max of each problem shows what the condition number costs.
"""

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler
from torch.func import hessian

from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput

SETTINGS = {"tiny": {"num": 81}, "quick": {"num": 201}, "full": {"num": 401}}
N, SEED, NOISE = 1000, 0, 0.1
TOL = 1e-6  # gradient descent stops when ||w - w*|| < TOL x ||w_0 - w*||
RADIUS = 3.0  # the contour window: w* ± RADIUS in both coordinates


def data() -> tuple[np.ndarray, np.ndarray]:
    """The figure's inputs X (n x 2) and responses y."""
    rng = np.random.default_rng(SEED)
    x1 = rng.normal(2.0, 2.0, N)
    x2 = rng.normal(1.0, 1.0, N)
    y = 2.0 * x1 + 0.5 * x2 + rng.normal(0.0, NOISE, N)
    return np.stack([x1, x2], axis=1), y


def half_mse(x: torch.Tensor, y: torch.Tensor):
    """C(w) = ||y - X w||^2 / (2n) as a function of w (..., 2)."""
    return lambda w: ((y - w @ x.T) ** 2).mean(-1) / 2


def gradient_descent(x: np.ndarray, y: np.ndarray, start: np.ndarray, rate: float, w_star: np.ndarray):
    """Full-batch gradient descent on C from `start` until ||w - w*|| < TOL ||start - w*||."""
    path = [start]
    w = start
    while np.linalg.norm(w - w_star) >= TOL * np.linalg.norm(start - w_star) and len(path) < 100_000:
        w = w - rate * x.T @ (x @ w - y) / len(y)
        path.append(w)
    return np.array(path)


def run(ctx: RecipeContext) -> RecipeOutput:
    num = SETTINGS[ctx.profile]["num"]
    x_raw, y_raw = data()
    problems = {
        "raw": (x_raw, y_raw),
        "standardised": (StandardScaler().fit_transform(x_raw), y_raw - y_raw.mean()),
    }
    results = {}
    for name, (x, y) in problems.items():
        xt, yt = torch.as_tensor(x), torch.as_tensor(y)
        loss = half_mse(xt, yt)
        w_star = np.linalg.lstsq(x, y, rcond=None)[0]
        h = hessian(loss)(torch.as_tensor(w_star)).numpy()
        eig = np.linalg.eigvalsh(h)
        direction = np.array([-1.0, 1.0]) / np.sqrt(2)  # the same start offset for both problems
        start = w_star + 2.5 * direction
        path = gradient_descent(x, y, start, 1.0 / eig[-1], w_star)
        a = np.linspace(w_star[0] - RADIUS, w_star[0] + RADIUS, num)
        b = np.linspace(w_star[1] - RADIUS, w_star[1] + RADIUS, num)
        W1, W2 = np.meshgrid(a, b)
        surface = loss(torch.as_tensor(np.stack([W1, W2], -1))).numpy()
        results[name] = {
            "w_star": w_star,
            "hessian": h,
            "formula_gap": float(np.abs(h - x.T @ x / len(y)).max()),
            "eigenvalues": eig,
            "condition_number": float(eig[-1] / eig[0]),
            "path": path,
            "iterations": len(path) - 1,
            "grid": (W1, W2, surface),
        }
    raw, std = results["raw"], results["standardised"]

    fig, axes = subplots(1, 2, figsize=(11, 5.2))
    for ax, (name, r) in zip(axes, results.items(), strict=True):
        W1, W2, surface = r["grid"]
        levels = np.quantile(surface, np.linspace(0.002, 0.9, 18) ** 2)
        cs = ax.contour(W1, W2, surface, levels=np.unique(levels), cmap="viridis", linewidths=0.9)
        fig.colorbar(cs, ax=ax, label="½ MSE", shrink=0.85)
        p = r["path"]
        ax.plot(p[:, 0], p[:, 1], ".-", color="tab:red", lw=1, ms=3, label="gradient descent, α = 1/λ_max")
        ax.plot(*r["w_star"], "*", color="k", ms=12, label="minimiser w*")
        ax.plot(*p[0], "o", color="tab:red", ms=6, label="start")
        e = r["eigenvalues"]
        ax.set(
            title=f"({'ab'[list(results).index(name)]}) {name} inputs: Hessian eigenvalues {e[0]:.2f}, "
            f"{e[1]:.2f},\ncondition number κ = {r['condition_number']:.2f}; gradient descent: "
            f"{r['iterations']} steps",
            xlabel="w₁ (weight of x₁)",
            ylabel="w₂ (weight of x₂)",
            aspect="equal",
        )
        ax.title.set_fontsize(10)
        ax.legend(loc="lower left", fontsize=8, frameon=True)
    fig.suptitle(
        "fig-2.8: contours of ½ MSE for y ≈ w₁x₁ + w₂x₂, x₁ ~ N(2, 2²), x₂ ~ N(1, 1), n = 1000: "
        "raw against standardised inputs",
        fontsize=10,
    )
    figure = save_figure(fig, ctx.out_dir, "fig-2.8")

    claims = [
        Claim(
            "the Hessian of ½ MSE is X^T X / n (torch.func.hessian against the formula)",
            "max |difference| < 1e-10, both problems",
            {name: r["formula_gap"] for name, r in results.items()},
            all(r["formula_gap"] < 1e-10 for r in results.values()),
        ),
        Claim(
            "raw inputs make the loss ill-conditioned: long, thin elliptical contours",
            "condition number of X^T X / n > 5 (raw)",
            raw["condition_number"],
            raw["condition_number"] > 5,
        ),
        Claim(
            "standardised inputs make the Hessian nearly the identity: almost circular contours",
            "condition number < 1.2 (standardised); both eigenvalues within 0.1 of 1",
            {"condition_number": std["condition_number"], "eigenvalues": std["eigenvalues"].tolist()},
            std["condition_number"] < 1.2 and bool(np.all(np.abs(std["eigenvalues"] - 1) < 0.1)),
        ),
        Claim(
            "gradient descent at the rate 1/λ_max needs many more steps on the raw inputs",
            f"steps to shrink the error by {1 / TOL:.0e}: raw > 3 x standardised",
            {"raw": raw["iterations"], "standardised": std["iterations"]},
            raw["iterations"] > 3 * std["iterations"],
        ),
    ]
    values = {
        name: {
            "condition_number": r["condition_number"],
            "hessian_eigenvalues": r["eigenvalues"].tolist(),
            "hessian": r["hessian"].tolist(),
            "w_star": r["w_star"].tolist(),
            "gd_iterations": r["iterations"],
        }
        for name, r in results.items()
    }
    values["data"] = {"n": N, "seed": SEED, "noise_std": NOISE, "generator": "numpy default_rng"}
    return RecipeOutput(figure, claims, values=values)


RECIPE = Recipe(
    id="fig-2.8",
    title="Input normalisation and the loss landscape",
    book_ref="Figure 2.8, section 2.4",
    chapter=2,
    claim="with inputs on different scales the squared-error landscape is an elongated valley (a badly "
    "conditioned Hessian); standardising the inputs makes it nearly round",
    run=run,
    minutes_quick=0.03,
)
