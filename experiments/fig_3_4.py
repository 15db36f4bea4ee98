"""fig-3.4: the loss landscape of logistic regression on six points (book section 3.2).

Six points x = -3, -2, -1, 1, 2, 3 with labels y = (1, 0, 0, 1, 1, 0) (data=six_points) and the model
y_hat = sigmoid(b + w x). Over w in [-5, 5] and b in [-10, 10] the recipe computes, directly with torch
in float64 (no training), the summed squared error sum_i (y_i - y_hat_i)^2 and the mean binary
cross-entropy (the companion notebook Python/loss_landscapes_logistic.ipynb uses the same two), their
gradient norms and their 2 x 2 Hessians' eigenvalues at every grid point (mde_exp.landscapes:
torch.func under vmap). The companion
writes the sigmoid as 1 / (1 + exp(b + w x)), i.e. sigmoid(-(b + w x)): its surfaces are ours turned
half a turn about the origin, (w, b) -> (-w, -b); curvature and flatness are the same.

Cross-entropy is convex (its Hessian is (1/n) sum p_i (1 - p_i) (x_i, 1)(x_i, 1)^T); the squared error
is not, and is flat on plateaus far from its minimum, where the sigmoid saturates.
"""

import numpy as np
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from matplotlib.patches import Patch

from mde_exp.data.toy_sets import six_points
from mde_exp.figures.style import save_figure, subplots
from mde_exp.landscapes import Landscape, gradient_norms, hessian_eigenvalues
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput

# Per profile: the grid step in w and b (the companion's step is 0.05; the claims hold on any of these).
SETTINGS = {"tiny": {"step": 0.2}, "quick": {"step": 0.05}, "full": {"step": 0.05}}
W_RANGE, B_RANGE = (-5.0, 5.0), (-10.0, 10.0)
FLAT_GRADIENT = 1e-2  # a grid point is "flat" where the gradient norm is below this (< 1% of its maximum)
ABOVE_MINIMUM = 0.5  # ... and "far from the minimum" where the loss is this much above its grid minimum


def logistic_losses(x: torch.Tensor, y: torch.Tensor) -> tuple[Landscape, Landscape]:
    """The two losses of y_hat = sigmoid(b + w x) on data (x, y) as landscapes of theta = (w, b)
    (tensors (..., 2) to values (...)): the summed squared error sum_i (y_i - y_hat_i)^2 and the mean
    binary cross-entropy (from the logits, so it stays finite where y_hat rounds to 0 or 1)."""

    def logits(theta: torch.Tensor) -> torch.Tensor:
        return theta[..., 1:2] + theta[..., 0:1] * x.to(theta.dtype)

    def squared_error(theta: torch.Tensor) -> torch.Tensor:
        return ((y.to(theta.dtype) - torch.sigmoid(logits(theta))) ** 2).sum(-1)

    def cross_entropy(theta: torch.Tensor) -> torch.Tensor:
        z = logits(theta)
        target = y.to(theta.dtype).expand_as(z)
        return F.binary_cross_entropy_with_logits(z, target, reduction="none").mean(-1)

    return squared_error, cross_entropy


def landscape(loss: Landscape, points: torch.Tensor) -> dict[str, torch.Tensor]:
    """A loss, its gradient norm and its Hessian's eigenvalues (ascending) at each of `points` (N x 2)."""
    return {
        "value": loss(points),
        "gradient_norm": gradient_norms(loss, points),
        "eigenvalues": hessian_eigenvalues(loss, points),
    }


def _data(ctx: RecipeContext) -> tuple[torch.Tensor, torch.Tensor]:
    """The six points as the data module serves them (data=six_points), checked against the book's."""
    datamodule = instantiate(ctx.compose(["data=six_points"]).data)
    datamodule.setup()
    x, y = datamodule.splits["train"]
    book_x, book_y = six_points()
    order = torch.argsort(x[:, 0])
    x, y = x[order, 0].double(), y[order].double()
    if not (np.allclose(x.numpy(), book_x[:, 0]) and np.array_equal(y.numpy(), book_y)):
        raise ValueError("data=six_points no longer holds the book's six points")
    return x, y


def run(ctx: RecipeContext) -> RecipeOutput:
    step = SETTINGS[ctx.profile]["step"]
    x, y = _data(ctx)
    w = torch.arange(W_RANGE[0], W_RANGE[1] + step / 2, step, dtype=torch.float64)
    b = torch.arange(B_RANGE[0], B_RANGE[1] + step / 2, step, dtype=torch.float64)
    ww, bb = torch.meshgrid(w, b, indexing="xy")  # shape (len(b), len(w)): rows are b
    grid = torch.stack([ww.ravel(), bb.ravel()], dim=1)
    squared_error, cross_entropy = logistic_losses(x, y)
    losses = {
        "squared error": landscape(squared_error, grid),
        "cross-entropy": landscape(cross_entropy, grid),
    }

    summary = {}
    for name, land in losses.items():
        value, smallest = land["value"], land["eigenvalues"][:, 0]
        flat_far = (land["gradient_norm"] < FLAT_GRADIENT) & (value > value.min() + ABOVE_MINIMUM)
        best = int(value.argmin())
        summary[name] = {
            "grid_minimum": float(value.min()),
            "argmin_w": float(grid[best, 0]),
            "argmin_b": float(grid[best, 1]),
            "min_hessian_eigenvalue": float(smallest.min()),
            "share_negative_curvature": float((smallest < 0).double().mean()),
            "share_flat_far_from_minimum": float(flat_far.double().mean()),
            "min_gradient_norm_far_from_minimum": float(
                land["gradient_norm"][value > value.min() + ABOVE_MINIMUM].min()
            ),
        }
    se, ce = summary["squared error"], summary["cross-entropy"]
    shape = ww.shape

    fig, axes = subplots(2, 2, figsize=(13, 9.5))
    for col, name in enumerate(losses):
        axes[0, col].remove()  # the top row holds 3-D surfaces
        ax = fig.add_subplot(2, 2, col + 1, projection="3d")
        z = losses[name]["value"].reshape(shape).numpy()
        ax.plot_surface(ww.numpy(), bb.numpy(), z, cmap="Blues_r", vmin=z.min(), vmax=2 * z.max(),
                        edgecolor="none", antialiased=False, rcount=100, ccount=100)  # fmt: skip
        ax.view_init(25, -120)
        formula = (
            "C = Σᵢ (yᵢ − ŷᵢ)²"
            if name == "squared error"
            else "C = −(1/6) Σᵢ [yᵢ log ŷᵢ + (1 − yᵢ) log(1 − ŷᵢ)]"
        )
        ax.set(xlabel="w", ylabel="b", title=f"({'ab'[col]}) {name}: {formula}")
        ax.set_zlabel("C(w, b)", labelpad=8)
    for col, name in enumerate(losses):
        ax = axes[1, col]
        land, info = losses[name], summary[name]
        z = land["value"].reshape(shape).numpy()
        contours = ax.contour(ww.numpy(), bb.numpy(), z, levels=20, cmap="Blues_r", linewidths=0.8)
        ax.clabel(contours, fontsize=6, fmt="%.2f")
        negative = (land["eigenvalues"][:, 0] < 0).reshape(shape).numpy()
        flat = (
            (land["gradient_norm"] < FLAT_GRADIENT) & (land["value"] > land["value"].min() + ABOVE_MINIMUM)
        ).reshape(shape).numpy()  # fmt: skip
        ax.contourf(
            ww.numpy(), bb.numpy(), negative.astype(float), levels=[0.5, 1.5], colors=["tab:red"], alpha=0.15
        )
        ax.contourf(
            ww.numpy(), bb.numpy(), flat.astype(float), levels=[0.5, 1.5], colors="none", hatches=["...."]
        )
        ax.plot(info["argmin_w"], info["argmin_b"], "k*", ms=12)
        ax.set(
            xlabel="w", ylabel="b",
            title=f"({'cd'[col]}) {name}: contours; smallest Hessian eigenvalue "
            f"{info['min_hessian_eigenvalue']:.2g}\n"
            f"negative curvature on {100 * info['share_negative_curvature']:.0f}% of the grid, "
            f"flat plateaus on {100 * info['share_flat_far_from_minimum']:.0f}%",
        )  # fmt: skip
        ax.legend(
            handles=[
                Patch(facecolor="tab:red", alpha=0.3, label="Hessian has a negative eigenvalue (not convex)"),
                Patch(facecolor="white", edgecolor="k", hatch="....",
                      label=f"plateau: |∇| < {FLAT_GRADIENT:g}, loss > minimum + {ABOVE_MINIMUM:g}"),
                ax.plot([], [], "k*", ms=10, label="grid minimum")[0],
            ],
            loc="lower left", framealpha=0.9, frameon=True,
        )  # fmt: skip
    fig.suptitle(
        "Logistic regression on six points, x = −3..3 without 0, y = (1, 0, 0, 1, 1, 0): ŷ = σ(b + w x)"
    )
    figure = save_figure(fig, ctx.out_dir, "fig-3.4")

    claims = [
        Claim(
            "cross-entropy is convex on the grid: its Hessian is positive semi-definite at every grid point",
            "smallest Hessian eigenvalue over the grid >= -1e-12",
            ce["min_hessian_eigenvalue"],
            ce["min_hessian_eigenvalue"] >= -1e-12,
        ),
        Claim(
            "the summed squared error is not convex: its Hessian has a negative eigenvalue on much of "
            "the grid",
            "share of grid points with a negative Hessian eigenvalue > 0.1",
            se["share_negative_curvature"],
            se["share_negative_curvature"] > 0.1,
        ),
        Claim(
            "the squared error is flat far from its minimum (the sigmoid saturates); cross-entropy is not",
            f"share of grid with |grad| < {FLAT_GRADIENT:g} and loss > minimum + {ABOVE_MINIMUM:g}: "
            "> 0.05 for squared error, 0 for cross-entropy",
            {
                "squared error": se["share_flat_far_from_minimum"],
                "cross-entropy": ce["share_flat_far_from_minimum"],
            },
            se["share_flat_far_from_minimum"] > 0.05 and ce["share_flat_far_from_minimum"] == 0.0,
        ),
    ]
    return RecipeOutput(figure, claims, values={"grid_step": step, **summary})


RECIPE = Recipe(
    id="fig-3.4",
    title="Loss landscapes of logistic regression on six points: squared error against cross-entropy",
    book_ref="Figure 3.4, section 3.2",
    chapter=3,
    claim="with a sigmoid output, the squared error is non-convex with flat regions, while the "
    "cross-entropy is convex",
    run=run,
    minutes_quick=0.1,
)
