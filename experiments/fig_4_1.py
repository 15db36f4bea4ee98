"""fig-4.1: a convex surface against a non-convex one (book section 4.1), a direct computation.

The companion's two functions over [-2.5, 2.5]^2 (Convexity and local extrema.py), taken from
mde_exp.objectives: the convex bowl theta1^2 + theta2^2 and the non-convex "peaks" surface. Convexity
is checked through the Hessian (torch.func.hessian at every grid point: positive semi-definite
everywhere for the bowl; a negative eigenvalue for peaks), and the local extrema of peaks are found on
the grid (points beyond all eight neighbours) and refined by BFGS with the autograd gradient, then
classified by the Hessian's eigenvalues there.
"""

import numpy as np
import torch
from scipy.optimize import minimize

from mde_exp.figures.style import save_figure, subplots
from mde_exp.landscapes import gradient_norms, grid, grid_local_minima, hessian_eigenvalues
from mde_exp.objectives import convex_bowl, peaks
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput

# Per profile: grid points per axis (the companion uses a step of 0.05 over [-2.5, 2.5)).
SETTINGS = {"tiny": {"num": 41}, "quick": {"num": 101}, "full": {"num": 401}}
BOX = (-2.5, 2.5)
NEGATIVE = -1e-8  # an eigenvalue below this is negative (not rounding of a zero)


def refine(f, start: np.ndarray, sign: float = 1.0) -> np.ndarray:
    """The stationary point of f that BFGS reaches from `start` minimising sign * f (sign = -1 finds
    a maximum), with the gradient by autograd."""

    def value_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
        value = sign * f(t)
        (gradient,) = torch.autograd.grad(value, t)
        return float(value.detach()), gradient.numpy()

    return minimize(value_and_grad, start, jac=True, method="BFGS", options={"gtol": 1e-10}).x


def extrema(f, points: torch.Tensor, values: torch.Tensor, sign: float) -> list[dict]:
    """The grid's local minima (sign 1) or maxima (sign -1), refined, each with its value, gradient
    norm and Hessian eigenvalues, duplicates (refined to the same point) dropped."""
    found: list[dict] = []
    for i, j in grid_local_minima(sign * values):
        theta = refine(f, points[i, j].numpy(), sign)
        if any(np.linalg.norm(theta - e["theta"]) < 1e-6 for e in found):
            continue
        t = torch.tensor(theta, dtype=torch.float64)[None]
        found.append(
            {
                "theta": theta,
                "value": float(f(t)[0]),
                "grad_norm": float(gradient_norms(f, t)[0]),
                "hessian_eigenvalues": hessian_eigenvalues(f, t)[0].tolist(),
            }
        )
    return sorted(found, key=lambda e: sign * e["value"])


def run(ctx: RecipeContext) -> RecipeOutput:
    num = SETTINGS[ctx.profile]["num"]
    T1, T2, points = grid(BOX, BOX, num)
    surfaces = {"convex": convex_bowl, "non-convex": peaks}
    measured = {}
    for name, f in surfaces.items():
        values = f(points)
        eig = hessian_eigenvalues(f, points)
        measured[name] = {
            "values": values,
            "negative": (eig[..., 0] < NEGATIVE).numpy(),
            "min_eigenvalue": float(eig[..., 0].min()),
            "max_eigenvalue": float(eig[..., 1].max()),
            "fraction_negative_curvature": float((eig[..., 0] < NEGATIVE).double().mean()),
            "minima": extrema(f, points, values, 1.0),
            "maxima": extrema(f, points, values, -1.0),
        }
    bowl, bumpy = measured["convex"], measured["non-convex"]

    fig = _figure(T1.numpy(), T2.numpy(), measured)
    figure = save_figure(fig, ctx.out_dir, "fig-4.1")

    minima = bumpy["minima"]
    is_minimum = [e["grad_norm"] < 1e-6 and min(e["hessian_eigenvalues"]) > 0 for e in minima]
    claims = [
        Claim(
            "θ₁² + θ₂² is convex: its Hessian (2I) is positive semi-definite at every grid point",
            "every Hessian eigenvalue on the grid >= 0 (and = 2)",
            {"min": bowl["min_eigenvalue"], "max": bowl["max_eigenvalue"]},
            bowl["min_eigenvalue"] >= 0
            and abs(bowl["min_eigenvalue"] - 2) < 1e-9
            and abs(bowl["max_eigenvalue"] - 2) < 1e-9,
        ),
        Claim(
            "the convex surface has a single minimum, the global one at 0",
            "one local minimum on the grid, at (0, 0)",
            [[round(float(v), 6) for v in e["theta"]] for e in bowl["minima"]],
            len(bowl["minima"]) == 1 and np.linalg.norm(bowl["minima"][0]["theta"]) < 1e-6,
        ),
        Claim(
            "the peaks surface is not convex: its Hessian has a negative eigenvalue",
            f"min eigenvalue < 0; a negative one (< {NEGATIVE:g}) at > 10% of the grid",
            {"min": bumpy["min_eigenvalue"], "fraction": bumpy["fraction_negative_curvature"]},
            bumpy["min_eigenvalue"] < 0 and bumpy["fraction_negative_curvature"] > 0.1,
        ),
        Claim(
            "the peaks surface has several local minima (and maxima): stationary points with a positive "
            "definite Hessian and different values",
            ">= 2 local minima, each with ||∇f|| < 1e-6 and Hessian eigenvalues > 0; >= 2 local maxima",
            {
                "minima": [[round(float(v), 4) for v in (*e["theta"], e["value"])] for e in minima],
                "maxima": [[round(float(v), 4) for v in (*e["theta"], e["value"])] for e in bumpy["maxima"]],
            },
            len(minima) >= 2 and all(is_minimum) and len(bumpy["maxima"]) >= 2,
        ),
        Claim(
            "its lowest minimum is the global one of the peaks function",
            "f = -6.5511 at (0.2283, -1.6255)",
            {"theta": minima[0]["theta"].round(4).tolist(), "value": minima[0]["value"]} if minima else None,
            bool(minima) and abs(minima[0]["value"] + 6.5511) < 1e-3,
        ),
    ]

    def _extremum(e: dict) -> dict:
        return {**e, "theta": e["theta"].tolist()}

    values = {
        name: {
            "min_hessian_eigenvalue": m["min_eigenvalue"],
            "max_hessian_eigenvalue": m["max_eigenvalue"],
            "fraction_negative_curvature": m["fraction_negative_curvature"],
            "local_minima": [_extremum(e) for e in m["minima"]],
            "local_maxima": [_extremum(e) for e in m["maxima"]],
        }
        for name, m in measured.items()
    }
    values["grid"] = {"theta1": list(BOX), "theta2": list(BOX), "points_per_axis": num}
    return RecipeOutput(figure, claims, values=values)


def _figure(T1: np.ndarray, T2: np.ndarray, measured: dict):
    fig, axes = subplots(2, 2, figsize=(11, 10), gridspec_kw={"height_ratios": [1.15, 1]})
    titles = {"convex": "θ₁² + θ₂²", "non-convex": "the peaks function"}
    for col, (name, m) in enumerate(measured.items()):
        z = m["values"].numpy()
        axes[0, col].remove()
        ax = fig.add_subplot(2, 2, col + 1, projection="3d")
        ax.plot_surface(T1, T2, z, cmap="viridis", linewidth=0, antialiased=False, rstride=1, cstride=1)
        ax.view_init(30, 70)
        ax.set(xlabel="θ₁", ylabel="θ₂", zlabel="C(θ)")
        ax.set_title(f"({'ab'[col]}) {name}: {titles[name]}", fontsize=10)

        ax = axes[1, col]
        cs = ax.contour(T1, T2, z, levels=20, cmap="viridis", linewidths=0.9)
        fig.colorbar(cs, ax=ax, label="C(θ)", shrink=0.9)
        if m["negative"].any():
            ax.contourf(
                T1, T2, m["negative"].astype(float), levels=[0.5, 1.5], colors=["tab:red"], alpha=0.15
            )
        for e in m["minima"]:
            ax.plot(*e["theta"], "v", color="tab:blue", ms=9, mec="k")
        for e in m["maxima"]:
            ax.plot(*e["theta"], "^", color="tab:orange", ms=9, mec="k")
        ax.plot([], [], "v", color="tab:blue", mec="k", label=f"local minimum ({len(m['minima'])})")
        ax.plot([], [], "^", color="tab:orange", mec="k", label=f"local maximum ({len(m['maxima'])})")
        share = m["fraction_negative_curvature"]
        ax.fill_between(
            [], [], color="tab:red", alpha=0.3, label=f"Hessian not PSD ({share:.0%} of the grid)"
        )
        ax.set(xlabel="θ₁", ylabel="θ₂", aspect="equal", title=f"({'cd'[col]}) {name}: contours and extrema")
        ax.title.set_fontsize(10)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8)
    fig.suptitle(
        "fig-4.1: a convex surface (one global minimum) against a non-convex one (several local extrema)",
        fontsize=10,
    )
    return fig


RECIPE = Recipe(
    id="fig-4.1",
    title="A convex surface against a non-convex one",
    book_ref="Figure 4.1, section 4.1",
    chapter=4,
    claim="a convex function (positive semi-definite Hessian everywhere) has one minimum, the global one; "
    "a non-convex one has negative curvature somewhere and several local minima",
    run=run,
    minutes_quick=0.04,
)
