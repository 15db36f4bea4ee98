"""fig-4.8: one step of exact line search on Rosenbrock's function (book section 4.6).

At theta = (0.8, 0) with the descent direction d = -grad C(theta) (Python/Line-search-concepts.py), the
loss along the ray, phi(alpha) = C(theta + alpha d) for alpha in [0, 0.003], and its minimiser alpha*:
the step exact line search takes. A direct computation (no training): alpha* comes from the same
routine that optimizer=line_search uses (mde_exp.optim.line_minimum), the grid minimum from the
companion's grid of alpha (step 1e-5), and the gradient at the new point from autograd.
"""

import numpy as np
import torch

from mde_exp.figures.paths import contours, mark_points
from mde_exp.figures.style import save_figure, subplots
from mde_exp.objectives import rosenbrock
from mde_exp.optim import line_minimum
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput

THETA = (0.8, 0.0)
ALPHA_MAX, ALPHA_STEP = 0.003, 1e-5  # the companion's grid: np.arange(0, 0.003, 0.00001)
OPTIMUM = np.array([1.0, 1.0])


def gradient(theta: torch.Tensor) -> torch.Tensor:
    return torch.func.grad(rosenbrock)(theta)


def run(ctx: RecipeContext) -> RecipeOutput:
    theta = torch.tensor(THETA, dtype=torch.float64)
    d = -gradient(theta)

    def phi(alpha: float) -> float:
        return float(rosenbrock(theta + alpha * d))

    alphas = np.arange(0.0, ALPHA_MAX, ALPHA_STEP)
    values = rosenbrock(theta + torch.from_numpy(alphas)[:, None] * d).numpy()
    grid_alpha = float(alphas[np.argmin(values)])
    alpha = line_minimum(phi, phi(0.0), first=1e-4)
    new = theta + alpha * d
    g_new = gradient(new)
    orthogonality = float(torch.dot(g_new, d) / (g_new.norm() * d.norm()))

    fig, axes = subplots(1, 2, figsize=(12, 4.8))
    ax = axes[0]
    ax.plot(alphas, values, "-r", lw=1.6, label="C(θ⁽ᵗ⁾ + α d⁽ᵗ⁾)")
    ax.plot([alpha, alpha], [-5, phi(alpha)], "-g", lw=2, label=f"α⁽ᵗ⁾ = {alpha:.6f} (exact line search)")
    ax.plot(alpha, phi(alpha), "o", color="g")
    ax.set(
        xlim=(0, ALPHA_MAX), ylim=(-5, 45), xlabel="learning rate α along the ray", ylabel="C(θ⁽ᵗ⁾ + α d⁽ᵗ⁾)"
    )
    ax.set_title("(a) the loss along the descent direction d = −∇C(θ⁽ᵗ⁾)")
    ax.legend(loc="upper right")
    ax = axes[1]
    contours(ax, rosenbrock, (-0.3, 1.1), (-0.3, 1.2))
    end = (theta + ALPHA_MAX * d).numpy()
    ax.annotate("", xy=end, xytext=THETA, arrowprops={"arrowstyle": "->", "lw": 2, "color": "red"})
    ax.plot([], [], "-r", lw=2, label=f"ray θ⁽ᵗ⁾ + αd⁽ᵗ⁾, α ≤ {ALPHA_MAX}")
    mark_points(ax, np.array(THETA), OPTIMUM, start_label="current point θ⁽ᵗ⁾ = (0.8, 0)")
    ax.plot(*new.numpy(), "o", color="green", ms=6, zorder=7, label="next point θ⁽ᵗ⁺¹⁾")
    ax.set(
        xlabel="θ₁", ylabel="θ₂", aspect="equal", title="(b) the ray on the contours of Rosenbrock's function"
    )
    ax.legend(loc="upper left")
    figure = save_figure(fig, ctx.out_dir, "fig-4.8")

    claims = [
        Claim(
            "the exact line search's step is the minimum of the loss along the ray that the figure plots",
            f"|alpha* - grid argmin| <= {ALPHA_STEP:g} (the grid's spacing)",
            {"alpha_star": alpha, "grid_argmin": grid_alpha},
            abs(alpha - grid_alpha) <= ALPHA_STEP,
        ),
        Claim(
            "the step lowers the loss",
            "C(theta + alpha* d) < C(theta)",
            {"before": phi(0.0), "after": phi(alpha)},
            phi(alpha) < phi(0.0),
        ),
        Claim(
            "at the minimum along the ray the new gradient is orthogonal to the direction (phi'(alpha*) = 0)",
            "|cos(grad C(theta + alpha* d), d)| < 1e-6",
            orthogonality,
            abs(orthogonality) < 1e-6,
        ),
    ]
    return RecipeOutput(
        figure,
        claims,
        values={
            "theta": list(THETA),
            "direction": d.tolist(),
            "alpha_star": alpha,
            "grid_argmin": grid_alpha,
            "next_theta": new.tolist(),
            "loss_before": phi(0.0),
            "loss_after": phi(alpha),
        },
    )


RECIPE = Recipe(
    id="fig-4.8",
    title="Exact line search: the loss along the descent direction and its minimiser",
    book_ref="Figure 4.8, section 4.6",
    chapter=4,
    claim="exact line search takes the step alpha* that minimises the loss along -grad C; there the new "
    "gradient is orthogonal to the direction just taken",
    run=run,
    minutes_quick=0.02,
)
