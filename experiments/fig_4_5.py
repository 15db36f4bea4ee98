"""fig-4.5: the non-convex landscape of a two-weight network (book section 4.2), a direct computation.

The network y_hat = sigmoid(w2 sigmoid(w1 x)) on the six points of fig-3.4 (x = -3..3 without 0,
y = (1, 0, 0, 1, 1, 0)); its summed squared error and mean cross-entropy (as the companion's
Non-convex-landscapes.py defines them) over w1, w2 in [-20, 20]. Curvature comes from torch.func:
the Hessian's smaller eigenvalue at every grid point (negative: the surface is not convex there) and
the gradient's norm (small: a plateau). As w1 -> -inf the inner sigmoid becomes a step, y_hat =
sigmoid(w2) for x < 0 and 1/2 for x > 0, and both losses fall towards their infimum at
sigmoid(w2) = 1/3 (w2 = -ln 2): 2/3 + 3/4 = 17/12 for the squared error, (H(1/3) + ln 2) / 2 for the
cross-entropy; no interior point is a minimum.
"""

import math

import numpy as np
import torch
from matplotlib.patches import Patch

from mde_exp.data.toy_sets import six_points
from mde_exp.figures.style import save_figure, subplots
from mde_exp.landscapes import (
    gradient_norms,
    grid,
    grid_local_minima,
    hessian_eigenvalues,
    sigmoid_chain_losses,
)
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput

# Per profile: the grid's points per axis (the companion uses a step of 1 over [-20, 20)).
SETTINGS = {"tiny": {"num": 81}, "quick": {"num": 161}, "full": {"num": 401}}
BOX = (-20.0, 20.0)
FLAT = 1e-3  # a plateau: ||grad C|| below this fraction of C's range (max - min over the box) per unit w
NAMES = {"squared_error": "squared error  Σ (y − ŷ)²", "cross_entropy": "cross-entropy (mean)"}


def infima() -> dict[str, float]:
    """The losses' infimum over the plane, reached as w1 -> -inf with sigmoid(w2) = 1/3 (see above)."""
    p = 1 / 3
    entropy = -(math.log(p) + 2 * math.log(1 - p)) / 3  # x < 0: y = (1, 0, 0) predicted with p
    return {
        "squared_error": (1 - p) ** 2 + 2 * p**2 + 3 * 0.25,  # x > 0: y = (1, 1, 0) predicted with 1/2
        "cross_entropy": (entropy + math.log(2)) / 2,
    }


def run(ctx: RecipeContext) -> RecipeOutput:
    num = SETTINGS[ctx.profile]["num"]
    x, y = six_points()
    x = torch.as_tensor(x[:, 0], dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64)
    losses = dict(zip(NAMES, sigmoid_chain_losses(x, y), strict=True))
    T1, T2, points = grid(BOX, BOX, num)
    limit = infima()

    measured = {}
    for name, f in losses.items():
        values = f(points)
        smallest = hessian_eigenvalues(f, points)[..., 0]
        norms = gradient_norms(f, points)
        span = float(values.max() - values.min())
        at = np.unravel_index(int(values.argmin()), values.shape)
        measured[name] = {
            "values": values.numpy(),
            "negative": (smallest < 0).numpy(),
            "flat": (norms < FLAT * span).numpy(),
            "fraction_negative_curvature": float((smallest < 0).double().mean()),
            "min_hessian_eigenvalue": float(smallest.min()),
            "fraction_flat": float((norms < FLAT * span).double().mean()),
            "min": float(values.min()),
            "max": float(values.max()),
            "argmin": [float(points[at][0]), float(points[at][1])],
            "interior_local_minima": len(grid_local_minima(values)),
            "infimum": limit[name],
        }

    fig = _figure(T1.numpy(), T2.numpy(), measured, x, y)
    figure = save_figure(fig, ctx.out_dir, "fig-4.5")

    sq, ce = measured["squared_error"], measured["cross_entropy"]
    claims = [
        Claim(
            "the squared error is not convex: its Hessian has a negative eigenvalue on much of the box",
            "fraction of grid points with λ_min(∇²C) < 0 > 0.1",
            sq["fraction_negative_curvature"],
            sq["fraction_negative_curvature"] > 0.1,
        ),
        Claim(
            "unlike logistic regression's (fig-3.4), the cross-entropy of this two-layer net is not convex",
            "fraction of grid points with λ_min(∇²C) < 0 > 0.01",
            ce["fraction_negative_curvature"],
            ce["fraction_negative_curvature"] > 0.01,
        ),
        Claim(
            "the squared error has plateaus, the cross-entropy hardly any",
            f"fraction with ||∇C|| < {FLAT:g} x range: squared error > 0.2, cross-entropy < 0.05",
            {"squared_error": sq["fraction_flat"], "cross_entropy": ce["fraction_flat"]},
            sq["fraction_flat"] > 0.2 and ce["fraction_flat"] < 0.05,
        ),
        Claim(
            "neither loss has a minimum inside the box: the lowest value lies on the edge w1 = -20, near "
            "w2 = -ln 2, just above the infimum reached as w1 -> -inf",
            "no interior grid minimum; argmin w1 = -20; 0 <= min - infimum < 0.01",
            {
                k: {"argmin": m["argmin"], "min - infimum": m["min"] - m["infimum"]}
                for k, m in measured.items()
            },
            all(
                m["interior_local_minima"] == 0
                and m["argmin"][0] == BOX[0]
                and 0 <= m["min"] - m["infimum"] < 0.01
                for m in measured.values()
            ),
        ),
    ]
    values = {
        name: {k: v for k, v in m.items() if not isinstance(v, np.ndarray)} for name, m in measured.items()
    }
    values["grid"] = {"w1": list(BOX), "w2": list(BOX), "points_per_axis": num}
    return RecipeOutput(figure, claims, values=values)


def _figure(T1: np.ndarray, T2: np.ndarray, measured: dict, x: torch.Tensor, y: torch.Tensor):
    fig, axes = subplots(2, 2, figsize=(11, 10.5), gridspec_kw={"height_ratios": [1.1, 1]})
    for col, (name, m) in enumerate(measured.items()):
        axes[0, col].remove()
        ax = fig.add_subplot(2, 2, col + 1, projection="3d")
        z = m["values"]
        ax.plot_surface(T1, T2, z, cmap="Blues_r", linewidth=0, antialiased=False,
                        vmin=z.min(), vmax=1.5 * z.max())  # fmt: skip
        ax.view_init(25, -120)
        ax.set(
            xlabel="w₁",
            ylabel="w₂",
            zlabel="C(θ)",
            xticks=[-20, -10, 0, 10, 20],
            yticks=[-20, -10, 0, 10, 20],
        )
        ax.set_title(f"({'ab'[col]}) {NAMES[name]}", fontsize=10)

        ax = axes[1, col]
        levels = np.linspace(z.min(), z.max(), 25)
        cs = ax.contour(T1, T2, z, levels=levels, cmap="viridis", linewidths=0.8)
        fig.colorbar(cs, ax=ax, label="C(θ)", shrink=0.9)
        ax.contourf(T1, T2, m["negative"].astype(float), levels=[0.5, 1.5], colors=["tab:red"], alpha=0.15)
        ax.contourf(T1, T2, m["flat"].astype(float), levels=[0.5, 1.5], colors="none", hatches=["...."])
        ax.plot(*m["argmin"], "*", color="k", ms=12, clip_on=False, zorder=5)
        ax.set(
            title=f"({'cd'[col]}) {NAMES[name]}: where it is not convex, where it is flat",
            xlabel="w₁",
            ylabel="w₂",
            aspect="equal",
        )
        ax.title.set_fontsize(9)
        ax.legend(
            handles=[
                Patch(facecolor="tab:red", alpha=0.3,
                      label=f"λ_min(∇²C) < 0 ({m['fraction_negative_curvature']:.1%})"),
                Patch(facecolor="white", edgecolor="0.3", hatch="....",
                      label=f"plateau: ||∇C|| < {FLAT:g}·range ({m['fraction_flat']:.1%})"),
                ax.plot([], [], "*", color="k", ms=9, label=f"lowest in the box: {m['min']:.3f}")[0],
            ],
            loc="upper center",
            bbox_to_anchor=(0.5, -0.13),
            ncol=2,
            fontsize=8,
        )  # fmt: skip
    fig.suptitle(
        "fig-4.5: ŷ = σ(w₂ σ(w₁ x)) on the six points x = ±1, ±2, ±3, y = (1, 0, 0, 1, 1, 0): "
        "both losses are non-convex",
        fontsize=10,
    )
    return fig


RECIPE = Recipe(
    id="fig-4.5",
    title="Non-convex loss landscapes of a two-weight sigmoid network",
    book_ref="Figure 4.5, section 4.2",
    chapter=4,
    claim="with a hidden sigmoid, both the squared error and the cross-entropy are non-convex in (w1, w2); "
    "the squared error is flat over large regions",
    run=run,
    minutes_quick=0.02,
)
