"""fig-2.6: loss functions (squared, absolute, Huber with delta 1) and the Normal against the Laplace
density (book section 2.3). Direct computation: the losses are torch.nn.functional's, the densities
torch.distributions'; nothing is trained.

The two panels belong together: the negative log-density of Normal noise is the squared loss (up to
scale and a constant) and that of Laplace noise is the absolute loss, so least squares is maximum
likelihood under Normal noise and least absolute deviations under Laplace noise. Panel (c) shows the
densities on a log scale, where the Laplace's heavier tails are straight lines.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.integrate import quad
from scipy.optimize import minimize_scalar
from torch.distributions import Laplace, Normal

from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput

DELTA = 1.0  # the Huber loss's threshold in the book's figure
LOSS_RANGE = (-2.0, 2.0)  # the book's axes
DENSITY_RANGE = (-4.0, 4.0)
TAIL = 3.0  # tail probabilities P(|X| > 3) of unit-variance Normal and Laplace
# A sample with one gross outlier: where each loss puts the best constant fit (its location estimate).
SAMPLE = np.array([-0.9, -0.5, -0.2, 0.0, 0.1, 0.3, 0.6, 1.0, 12.0])
TOLERANCE = 1e-12  # float64 identities


def losses(u: torch.Tensor) -> dict[str, torch.Tensor]:
    """The three losses of a residual u (prediction - target), elementwise."""
    zero = torch.zeros_like(u)
    return {
        "squared": F.mse_loss(u, zero, reduction="none"),
        "absolute": F.l1_loss(u, zero, reduction="none"),
        "Huber (δ = 1)": F.huber_loss(u, zero, reduction="none", delta=DELTA),
    }


def _location(loss: str) -> float:
    """The constant c minimising sum_i loss(c - x_i) over SAMPLE."""
    x = torch.as_tensor(SAMPLE, dtype=torch.float64)
    result = minimize_scalar(
        lambda c: float(losses(torch.full_like(x, c) - x)[loss].sum()),
        bounds=(SAMPLE.min(), SAMPLE.max()),
        method="bounded",
        options={"xatol": 1e-10},
    )
    return float(result.x)


def _moment(dist, k: int, lower: float = -math.inf, upper: float = math.inf) -> float:
    """The integral of x^k times the density over (lower, upper), by adaptive quadrature (both halves
    of the line separately, as the Laplace density has a kink at 0)."""

    def integrand(t: float) -> float:
        return t**k * math.exp(float(dist.log_prob(torch.tensor(t, dtype=torch.float64))))

    pieces = [(lower, min(upper, 0.0)), (max(lower, 0.0), upper)]
    return sum(quad(integrand, a, b, epsabs=1e-13, epsrel=1e-12)[0] for a, b in pieces if a < b)


def run(ctx: RecipeContext) -> RecipeOutput:
    u = torch.linspace(*LOSS_RANGE, 801, dtype=torch.float64).requires_grad_(True)
    loss = losses(u)
    huber_grad = torch.autograd.grad(loss["Huber (δ = 1)"].sum(), u)[0]
    u, loss = u.detach(), {k: v.detach() for k, v in loss.items()}

    normal, laplace = Normal(0.0, 1.0), Laplace(0.0, 1.0)  # the book's pair (Laplace variance 2)
    laplace_unit = Laplace(0.0, 1 / math.sqrt(2))  # the Laplace with the Normal's variance, 1
    x = torch.linspace(*DENSITY_RANGE, 801, dtype=torch.float64)
    densities = {
        "Normal(0, 1)": (normal, "tab:blue", "-"),
        "Laplace(0, 1), variance 2 (the book's)": (laplace, "tab:red", "-"),
        "Laplace(0, 1/√2), variance 1": (laplace_unit, "tab:red", "--"),
    }

    fig, axes = subplots(1, 3, figsize=(15, 4.4))
    ax = axes[0]
    for (name, values), colour in zip(loss.items(), ("tab:blue", "tab:orange", "tab:green"), strict=True):
        ax.plot(u, values, lw=2, color=colour, label=name)
    ax.axvspan(-DELTA, DELTA, color="0.88", zorder=0, label="|u| ≤ δ, where Huber = u²/2")
    ax.set(title="(a) loss functions", xlabel="residual u = ŷ − y", ylabel="loss", ylim=(0, 4.1))
    ax.legend(loc="upper center")
    for ax, log in ((axes[1], False), (axes[2], True)):
        for name, (dist, colour, ls) in densities.items():
            p = dist.log_prob(x).exp()
            ax.plot(x, p, color=colour, ls=ls, lw=2, label=name)
        ax.set(xlabel="x", ylabel="density" + (" (log scale)" if log else ""))
        if log:
            ax.set_yscale("log")
            ax.set(title="(c) log scale: the Laplace tails are straight lines", ylim=(1e-4, 1))
        else:
            ax.set(title="(b) Normal against Laplace density")
        ax.legend(loc="lower center" if log else "upper left")
    figure = save_figure(fig, ctx.out_dir, "fig-2.6")

    inside = u.abs() <= DELTA
    huber = loss["Huber (δ = 1)"]
    piecewise = torch.where(inside, u**2 / 2, DELTA * (u.abs() - DELTA / 2))
    huber_gap = float((huber - piecewise).abs().max())
    grad_gap = float((huber_grad - u.clamp(-DELTA, DELTA)).abs().max())
    # negative log-densities, measured from their value at 0, against the losses
    nll_normal = -(normal.log_prob(u) - normal.log_prob(torch.zeros(1, dtype=torch.float64)))
    nll_laplace = -(laplace.log_prob(u) - laplace.log_prob(torch.zeros(1, dtype=torch.float64)))
    nll_gap = {
        "Normal vs squared / 2": float((nll_normal - loss["squared"] / 2).abs().max()),
        "Laplace vs absolute": float((nll_laplace - loss["absolute"]).abs().max()),
    }
    mass, variance, tail, kurtosis = {}, {}, {}, {}
    for name, dist in (("Normal(0, 1)", normal), ("Laplace(0, 1/√2)", laplace_unit)):
        mass[name] = _moment(dist, 0)
        variance[name] = _moment(dist, 2)
        tail[name] = _moment(dist, 0, upper=-TAIL) + _moment(dist, 0, lower=TAIL)
        kurtosis[name] = _moment(dist, 4) / variance[name] ** 2
    tail_exact = {
        "Normal(0, 1)": math.erfc(TAIL / math.sqrt(2)),
        "Laplace(0, 1/√2)": math.exp(-TAIL * math.sqrt(2)),
    }
    location = {name: _location(name) for name in loss}
    mean, median = float(SAMPLE.mean()), float(np.median(SAMPLE))

    claims = [
        Claim(
            "Huber with δ = 1 is the squared loss halved inside |u| ≤ δ and linear, δ(|u| − δ/2), outside",
            f"max |huber_loss - piecewise formula| < {TOLERANCE:g} on [-2, 2]",
            huber_gap,
            huber_gap < TOLERANCE,
        ),
        Claim(
            "its derivative is continuous: u inside, ±δ outside (a clipped residual, so outliers pull "
            "with bounded force)",
            f"max |d huber / du - clip(u, -δ, δ)| < {TOLERANCE:g}",
            grad_gap,
            grad_gap < TOLERANCE,
        ),
        Claim(
            "least squares is maximum likelihood under Normal noise, least absolute deviations under Laplace "
            "noise: -log density (from its value at 0) equals u²/2 and |u|",
            f"max gaps < {TOLERANCE:g}",
            nll_gap,
            max(nll_gap.values()) < TOLERANCE,
        ),
        Claim(
            "both densities integrate to 1, and Laplace(0, 1/√2) has the Normal's variance 1",
            "|mass - 1| < 1e-6 and |variance - 1| < 1e-6",
            {"mass": mass, "variance": variance},
            all(abs(m - 1) < 1e-6 for m in mass.values())
            and all(abs(v - 1) < 1e-6 for v in variance.values()),
        ),
        Claim(
            f"at the same variance the Laplace has heavier tails: P(|X| > {TAIL:g}) and kurtosis larger",
            "P_Laplace > 3 P_Normal (exact: e^{-3√2} = 0.0144 vs erfc(3/√2) = 0.0027), "
            "kurtosis 6 vs 3 (± 1e-4)",
            {"tail": tail, "kurtosis": kurtosis},
            tail["Laplace(0, 1/√2)"] > 3 * tail["Normal(0, 1)"]
            and all(abs(tail[k] - tail_exact[k]) < 1e-6 for k in tail)
            and abs(kurtosis["Laplace(0, 1/√2)"] - 6) < 1e-4
            and abs(kurtosis["Normal(0, 1)"] - 3) < 1e-4,
            book_value=tail_exact,
        ),
        Claim(
            "with one gross outlier, the squared loss's best constant is the mean (pulled away), the "
            "absolute loss's the median, and Huber's lies between, near the median",
            "|c_sq - mean| < 1e-6, |c_abs - median| < 1e-6, median < c_Huber < (median + mean) / 2",
            {"location": location, "mean": mean, "median": median},
            abs(location["squared"] - mean) < 1e-6
            and abs(location["absolute"] - median) < 1e-6
            and median < location["Huber (δ = 1)"] < (median + mean) / 2,
        ),
    ]
    return RecipeOutput(
        figure,
        claims,
        values={
            "huber_gap": huber_gap,
            "huber_grad_gap": grad_gap,
            "nll_gap": nll_gap,
            "tail_probability": tail,
            "kurtosis": kurtosis,
            "location": location,
            "sample": SAMPLE.tolist(),
        },
    )


RECIPE = Recipe(
    id="fig-2.6",
    title="Loss functions (squared, absolute, Huber) and the Normal against the Laplace density",
    book_ref="Figure 2.6, section 2.3",
    chapter=2,
    claim="the squared loss goes with Normal noise and the absolute loss with the heavier-tailed Laplace; "
    "Huber is quadratic near zero and linear beyond δ, so it is less sensitive to outliers",
    run=run,
    minutes_quick=0.04,
)
