"""fig-5.6: activation functions (book section 5.3), drawn from the same modules the MLP uses."""

import torch

from mde_exp.figures.style import save_figure, subplots
from mde_exp.nn.activations import make_activation
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput

SIGMOID_LIKE = ("step", "tanh", "sigmoid", "scaled_sigmoid")
RELU_LIKE = {"relu": 0.0, "leaky_relu_0.05": 0.05, "leaky_relu_0.1": 0.1}


def _slope(name: str, at: float) -> float:
    x = torch.tensor(at, requires_grad=True)
    make_activation(name)(x).backward()
    return float(x.grad)


def run(ctx: RecipeContext) -> RecipeOutput:
    x = torch.linspace(-5, 5, 1001)
    fig, (left, right) = subplots(1, 2, figsize=(10, 3.8))
    for name in SIGMOID_LIKE:
        left.plot(x, make_activation(name)(x), label=name.replace("_", " "), lw=2 if name != "step" else 1.5)
    left.set(title="(a) sigmoid-type activations", xlabel="z", ylabel="σ(z)", ylim=(-1.15, 1.15))
    left.legend()
    xr = torch.linspace(-2, 2, 401)
    for name in RELU_LIKE:
        label = "ReLU" if name == "relu" else f"leaky ReLU, slope {RELU_LIKE[name]:g}"
        right.plot(xr, make_activation(name)(xr), label=label, lw=2)
    right.set(title="(b) ReLU and leaky ReLU", xlabel="z", ylabel="σ(z)")
    right.legend()
    figure = save_figure(fig, ctx.out_dir, "fig-5.6")

    tanh_gap = float((make_activation("tanh")(x) - (2 * torch.sigmoid(2 * x) - 1)).abs().max())
    scaled_gap = float((make_activation("scaled_sigmoid")(x) - torch.tanh(x / 2)).abs().max())
    sigmoid_slope = _slope("sigmoid", 0.0)
    slopes = {name: _slope(name, -1.0) for name in RELU_LIKE}
    away = x[x.abs() >= 0.2]
    steep_gap = float((torch.sigmoid(50 * away) - make_activation("step")(away)).abs().max())
    claims = [
        Claim(
            "tanh is a shifted, rescaled sigmoid: tanh(z) = 2 σ(2z) - 1",
            "max |difference| < 1e-6",
            tanh_gap,
            tanh_gap < 1e-6,
        ),
        Claim(
            "the scaled sigmoid 2σ(z) - 1 equals tanh(z/2)",
            "max |difference| < 1e-6",
            scaled_gap,
            scaled_gap < 1e-6,
        ),
        Claim(
            "the sigmoid's slope at 0 is 1/4 (autograd)",
            "0.25 ± 1e-6",
            sigmoid_slope,
            abs(sigmoid_slope - 0.25) < 1e-6,
        ),
        Claim(
            "ReLU and leaky ReLU slopes for z < 0 (autograd)",
            "0, 0.05, 0.1",
            slopes,
            all(abs(slopes[n] - s) < 1e-6 for n, s in RELU_LIKE.items()),
        ),
        Claim(
            "the step is the limit of steep sigmoids: max |σ(50z) - step(z)| over |z| >= 0.2",
            "< 1e-4",
            steep_gap,
            steep_gap < 1e-4,
        ),
    ]
    return RecipeOutput(figure, claims, values={"tanh_identity_error": tanh_gap, "relu_slopes": slopes})


RECIPE = Recipe(
    id="fig-5.6",
    title="Activation functions",
    book_ref="Figure 5.6, section 5.3",
    chapter=5,
    claim="tanh is a rescaled sigmoid; ReLU and leaky ReLU differ only in their slope below zero",
    run=run,
    minutes_quick=0.05,
)
