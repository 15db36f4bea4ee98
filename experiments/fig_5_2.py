"""fig-5.2: a ReLU network with hand-set weights interpolates a curve (book section 5.2, expressive power)."""

import numpy as np
import torch

from mde_exp.figures.style import save_figure, subplots
from mde_exp.nn.interpolation import book_curve, relu_interpolant, uniform_knots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput

DOMAIN = (0.0, 4.0)
KNOTS = (10, 30)  # the book's two interpolants (knots include both ends of the domain)
# Finer interpolants, where the spacing resolves g's fastest oscillation (near x = 4): the h^2 regime.
CONVERGENCE_KNOTS = (10, 20, 30, 50, 100, 200, 300, 500, 1000)
ASYMPTOTIC = (100, 300)  # the error ratio between these is compared with the squared spacing ratio
GRID_POINTS = 20_001


def _forward(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The network's output at points x (1-D, float64), computed in the network's own dtype."""
    dtype = next(net.parameters()).dtype
    with torch.no_grad():
        return net(x.to(dtype).unsqueeze(1)).squeeze(1).to(torch.float64)


def run(ctx: RecipeContext) -> RecipeOutput:
    grid = torch.linspace(*DOMAIN, GRID_POINTS, dtype=torch.float64)
    g = book_curve(grid)
    nets, knots, knot_err, sup_err, interp_gap, outputs = {}, {}, {}, {}, {}, {}
    for n in sorted({*KNOTS, *CONVERGENCE_KNOTS}):
        kx = uniform_knots(n, *DOMAIN)
        ky = book_curve(kx)
        net = relu_interpolant(kx, ky)  # float32, as a trained network would be
        f = _forward(net, grid)
        nets[n], knots[n], outputs[n] = net, (kx, ky), f
        knot_err[n] = float((_forward(net, kx) - ky).abs().max())
        sup_err[n] = float((f - g).abs().max())
        # the textbook piecewise-linear interpolant, at the float32 grid points the network sees
        reference = np.interp(grid.float().double().numpy(), kx.numpy(), ky.numpy())
        interp_gap[n] = float((f - torch.from_numpy(reference)).abs().max())

    fig, axes = subplots(1, 3, figsize=(14, 4.0))
    for ax, n, letter in zip(axes[:2], KNOTS, "ab", strict=True):
        kx, ky = knots[n]
        ax.plot(grid, g, color="0.55", lw=2.2, label="g(x)")
        ax.plot(grid, outputs[n], color="tab:blue", lw=1.3, label=f"ReLU network, {n - 1} hidden units")
        ax.plot(kx, ky, "o", color="tab:red", ms=4, label=f"{n} knots")
        ax.set(
            title=f"({letter}) {n} knots: sup error {sup_err[n]:.2f}",
            xlabel="x",
            ylabel="g(x) and network output",
        )
        ax.legend(loc="upper left")
    ns = np.array(CONVERGENCE_KNOTS)
    spacing = (DOMAIN[1] - DOMAIN[0]) / (ns - 1)
    errors = np.array([sup_err[n] for n in CONVERGENCE_KNOTS])
    fine = ns >= ASYMPTOTIC[0]
    slope, intercept = np.polyfit(np.log(spacing[fine]), np.log(errors[fine]), 1)
    ax = axes[2]
    ax.loglog(spacing, errors, "o-", color="tab:blue", label="sup |network - g| on [0, 4]")
    ax.loglog(
        spacing[fine], np.exp(intercept) * spacing[fine] ** slope, "--", color="tab:red",
        label=f"fit for ≥ {ASYMPTOTIC[0]} knots: error ∝ h^{slope:.2f}",
    )  # fmt: skip
    for n in KNOTS:
        ax.annotate(f"{n} knots", (spacing[list(ns).index(n)], sup_err[n]), textcoords="offset points",
                    xytext=(-50, 4))  # fmt: skip
    ax.set(title="(c) error against knot spacing h", xlabel="knot spacing h", ylabel="sup-norm error")
    ax.legend(loc="lower right")
    figure = save_figure(fig, ctx.out_dir, "fig-5.2")

    few, many = KNOTS
    ratio = sup_err[few] / sup_err[many]
    lo, hi = ASYMPTOTIC
    asymptotic_ratio = sup_err[lo] / sup_err[hi]
    spacing_ratio_sq = ((hi - 1) / (lo - 1)) ** 2
    units = {str(n): nets[n][0].out_features for n in KNOTS}
    claims = [
        Claim(
            "the hand-set network passes through every knot (10 and 30 knots, float32)",
            "max |f(x_k) - g(x_k)| < 1e-5",
            {str(n): knot_err[n] for n in KNOTS},
            all(knot_err[n] < 1e-5 for n in KNOTS),
        ),
        Claim(
            "its forward pass is the piecewise-linear interpolant through the knots (numpy.interp)",
            "max difference on a 20,001-point grid < 2e-5 (float32 rounding of knots times slope changes)",
            {str(n): interp_gap[n] for n in KNOTS},
            all(interp_gap[n] < 2e-5 for n in KNOTS),
        ),
        Claim(
            "one hidden ReLU unit per segment: K + 1 knots need K hidden units",
            "9 and 29 units",
            units,
            units == {str(n): n - 1 for n in KNOTS},
        ),
        Claim(
            f"the sup-norm error falls from {few} to {many} knots (g oscillates fast near x = 4, so "
            "30 knots are not yet in the h^2 regime)",
            f"sup error({few}) / sup error({many}) > 2",
            ratio,
            ratio > 2,
        ),
        Claim(
            f"once the spacing resolves g, the error falls as h^2: from {lo} to {hi} knots by the "
            "squared spacing ratio",
            f"sup error ratio within ±25% of (({hi}-1)/({lo}-1))^2 = {spacing_ratio_sq:.2f}; "
            "fitted order 2 ± 0.2",
            {"ratio": asymptotic_ratio, "fitted_order": slope},
            abs(asymptotic_ratio / spacing_ratio_sq - 1) < 0.25 and abs(slope - 2) < 0.2,
        ),
    ]
    return RecipeOutput(
        figure,
        claims,
        values={
            "sup_error": {str(n): sup_err[n] for n in sorted(sup_err)},
            "knot_error": {str(n): knot_err[n] for n in KNOTS},
            "hidden_units": units,
            "error_ratio": ratio,
            "asymptotic_ratio": asymptotic_ratio,
            "fitted_order": float(slope),
        },
    )


RECIPE = Recipe(
    id="fig-5.2",
    title="A hand-set ReLU network interpolating a curve with 10 and 30 knots",
    book_ref="Figure 5.2, section 5.2",
    chapter=5,
    claim="a one-hidden-layer ReLU network can be set by hand to interpolate any curve through its knots, "
    "more knots giving a smaller error",
    run=run,
    minutes_quick=0.05,
)
