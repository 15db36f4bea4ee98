"""abl-autodiff: forward against reverse mode automatic differentiation (book section 4.4).

The gradient of f(x) = sum_i sin(x_i x_{i+1}) (R^n -> R, float64) for n from 10 to 2000: forward mode
(torch.func.jvp, one pass per coordinate: n passes) against reverse mode (torch.func.vjp, and
torch.func.grad, which is built on it: one pass). The recipe measures wall time, because the claim is
about cost: each time is the median of a few repeats on one thread, and the log-log slope of time
against n says how the cost grows. The gradients are checked against each other and against the
gradient written by hand.
"""

import numpy as np
import torch
from torch.func import grad

from mde_exp.autodiff import (
    forward_mode_gradient,
    reverse_mode_gradient,
    sin_chain,
    sin_chain_gradient,
    time_call,
)
from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput

# Per profile: the dimensions n and the repeats each time is the median of.
SETTINGS = {
    "tiny": {"dims": [10, 30, 100, 300], "repeats": 3},
    "quick": {"dims": [10, 20, 50, 100, 200, 500, 1000, 2000], "repeats": 5},
    "full": {"dims": [10, 20, 50, 100, 200, 500, 1000, 2000, 5000], "repeats": 7},
}
METHODS = {
    "forward": "forward mode: n × jvp",
    "reverse": "reverse mode: vjp",
    "grad": "reverse mode: torch.func.grad",
    "function": "f(x) alone",
}
COLOURS = {"forward": "tab:red", "reverse": "tab:blue", "grad": "tab:cyan", "function": "0.4"}
TOLERANCE = 1e-12  # float64: the gradients agree to rounding


def slope(dims: list[int], times: list[float]) -> float:
    """The least-squares slope of log(time) against log(n): cost ~ n^slope."""
    return float(np.polyfit(np.log(dims), np.log(times), 1)[0])


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    dims, repeats = settings["dims"], settings["repeats"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the claim is about work: one thread, as the other recipes
    try:
        times = {m: [] for m in METHODS}
        errors = {"forward - reverse": [], "reverse - by hand": [], "grad - by hand": []}
        generator = torch.Generator().manual_seed(0)
        for n in dims:
            x = torch.randn(n, dtype=torch.float64, generator=generator)
            forward = forward_mode_gradient(sin_chain, x)
            reverse = reverse_mode_gradient(sin_chain, x)
            by_grad = grad(sin_chain)(x)
            exact = sin_chain_gradient(x)
            scale = float(exact.abs().max())
            errors["forward - reverse"].append(float((forward - reverse).abs().max()) / scale)
            errors["reverse - by hand"].append(float((reverse - exact).abs().max()) / scale)
            errors["grad - by hand"].append(float((by_grad - exact).abs().max()) / scale)
            times["forward"].append(time_call(lambda x=x: forward_mode_gradient(sin_chain, x), repeats))
            times["reverse"].append(time_call(lambda x=x: reverse_mode_gradient(sin_chain, x), repeats))
            times["grad"].append(time_call(lambda x=x: grad(sin_chain)(x), repeats))
            times["function"].append(time_call(lambda x=x: sin_chain(x), repeats))
    finally:
        torch.set_num_threads(threads)
    slopes = {m: slope(dims, t) for m, t in times.items()}
    ratio = times["forward"][-1] / times["reverse"][-1]

    fig, (left, right) = subplots(1, 2, figsize=(11.5, 4.4))
    for m, label in METHODS.items():
        left.loglog(dims, times[m], "o-", color=COLOURS[m], lw=1.5, ms=4,
                    label=f"{label} (slope {slopes[m]:.2f})")  # fmt: skip
    reference = times["forward"][0] * np.array(dims) / dims[0]
    left.loglog(dims, reference, ":", color="k", lw=1, label="∝ n (slope 1)")
    left.set(
        title="(a) time for one gradient of f: R^n → R",
        xlabel="n (input dimension)",
        ylabel=f"wall time, s (median of {repeats}, 1 thread)",
    )
    left.legend(loc="upper left")
    for m in ("forward", "reverse", "grad"):
        cost = np.array(times[m]) / np.array(times["function"])
        right.loglog(dims, cost, "o-", color=COLOURS[m], lw=1.5, ms=4, label=METHODS[m])
    right.set(
        title="(b) cost of the gradient in evaluations of f",
        xlabel="n (input dimension)",
        ylabel="time(gradient) / time(f)",
    )
    right.legend(loc="upper left")
    fig.suptitle(
        f"abl-autodiff: f(x) = Σ sin(xᵢ xᵢ₊₁) in float64; at n = {dims[-1]} reverse mode is "
        f"{ratio:.0f}× faster",
        fontsize=10,
    )
    figure = save_figure(fig, ctx.out_dir, "abl-autodiff")

    worst = {k: max(v) for k, v in errors.items()}
    claims = [
        Claim(
            "forward mode needs n passes: its time grows in proportion to n",
            "log-log slope of time against n in [0.75, 1.25]",
            slopes["forward"],
            0.75 <= slopes["forward"] <= 1.25,
        ),
        Claim(
            "reverse mode needs one pass: its time barely grows with n",
            "log-log slope < 0.3 (vjp and torch.func.grad)",
            {"reverse": slopes["reverse"], "grad": slopes["grad"]},
            slopes["reverse"] < 0.3 and slopes["grad"] < 0.3,
        ),
        Claim(
            f"at n = {dims[-1]} reverse mode is much cheaper than forward mode",
            f"time(forward) / time(reverse) > {dims[-1] // 20}",
            ratio,
            ratio > dims[-1] // 20,
        ),
        Claim(
            "both modes give the same gradient, and the gradient written by hand",
            f"max |difference| / max |gradient| <= {TOLERANCE:g} at every n",
            worst,
            all(v <= TOLERANCE for v in worst.values()),
        ),
    ]
    values = {
        "dims": dims,
        "times_s": times,
        "slopes": slopes,
        "forward_over_reverse_at_largest_n": ratio,
        "relative_errors": errors,
        "repeats": repeats,
    }
    return RecipeOutput(figure, claims, values=values)


RECIPE = Recipe(
    id="abl-autodiff",
    title="Forward against reverse mode automatic differentiation as the input dimension grows",
    book_ref="Section 4.4",
    chapter=4,
    claim="the gradient of f: R^n -> R costs n forward-mode passes but one reverse-mode pass, so "
    "reverse mode's cost does not grow with n the way forward mode's does; both give the same gradient",
    run=run,
    minutes_quick=0.1,
)
