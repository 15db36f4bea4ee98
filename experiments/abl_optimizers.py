"""abl-optimizers: SGD, momentum, Nesterov, Adagrad, RMSprop and Adam on Rosenbrock's function and on
the MNIST MLP (book sections 4.2 to 4.5); runs optimizer_sweep.

The experiment is one sweep over problem (conf/problem: rosenbrock, mnist_mlp) x optimizer. On
Rosenbrock (from (0.2, -0.2), paths by callbacks=parameter_path) each optimiser has its own learning
rate (learning_rates in conf/problem/rosenbrock.yaml): SGD the book's 0.001, momentum and Nesterov the
same 0.001 with beta = 0.9, Adagrad 0.1, RMSprop 0.003, Adam 0.02. On the MLP (784-128-64-10 on
5,000 MNIST digits) each runs at its config's rate. The recipe runs the two halves of the sweep
separately only so that a profile can scale each (steps on Rosenbrock, epochs and data on MNIST).
"""

import numpy as np

from mde_exp.figures.paths import contours, draw_path, mark_points, path_metrics
from mde_exp.figures.style import save_figure, subplots
from mde_exp.objectives import rosenbrock
from mde_exp.parameter_path import path_array, read_parameter_path
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import read_epoch_metrics

# Per profile: overrides of the Rosenbrock half (steps = epochs x 100) and of the MNIST half, and the
# validation accuracy every optimiser must reach on MNIST.
SETTINGS = {
    "tiny": {
        "rosenbrock": ["trainer.max_epochs=5"],
        "mnist": ["trainer.max_epochs=2", "data.train_size=1000"],
        "min_val_acc": 0.3,
    },
    "quick": {"rosenbrock": [], "mnist": [], "min_val_acc": 0.85},
    "full": {
        "rosenbrock": [],
        "mnist": ["data=mnist", "data.train_size=50000", "data.val_size=10000"],
        "min_val_acc": 0.95,
    },
}
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
ADAPTIVE = ("adagrad", "rmsprop", "adam")
COLOURS = dict(
    zip(OPTIMIZERS, ("k", "tab:blue", "tab:cyan", "tab:orange", "tab:green", "tab:red"), strict=True)
)
OPTIMUM = np.array([1.0, 1.0])
SPEED_UP = 5  # how much closer momentum and Nesterov must end than SGD at the same rate


def _optimizer(job: list[str]) -> str:
    return next(o.split("=", 1)[1] for o in job if o.startswith("optimizer="))


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    base = ["+experiment=optimizer_sweep"]
    paths, lrs, curves, results = {}, {}, {}, []
    for job, result in ctx.sweep([*base, "problem=rosenbrock", *settings["rosenbrock"]]):
        paths[_optimizer(job)] = path_array(read_parameter_path(result.dir)[0])
        lrs[_optimizer(job)] = ctx.compose(job).optimizer.lr
        results.append(result)
    for job, result in ctx.sweep([*base, "problem=mnist_mlp", *settings["mnist"]]):
        curves[_optimizer(job)] = read_epoch_metrics(result.dir)
        results.append(result)
    metrics = {name: path_metrics(theta, OPTIMUM) for name, theta in paths.items()}
    distance = {name: m["final_distance"] for name, m in metrics.items()}
    steps = len(paths["sgd"]) - 1
    final_loss = {name: float(c["train_eval/loss"].iloc[-1]) for name, c in curves.items()}
    final_acc = {name: float(c["val/acc"].iloc[-1]) for name, c in curves.items()}

    fig, axes = subplots(2, 2, figsize=(13, 10.5))
    ax = axes[0, 0]
    contours(ax, rosenbrock, (-0.3, 1.2), (-0.3, 1.2))
    for name in OPTIMIZERS:
        draw_path(ax, paths[name], f"{name} (lr {lrs[name]:g})", COLOURS[name], lw=1.3, alpha=0.85)
    mark_points(ax, paths["sgd"][0], OPTIMUM)
    ax.set(title=f"(a) Rosenbrock's function, {steps:,} steps", xlabel="θ₁", ylabel="θ₂", aspect="equal")
    ax.legend(loc="upper left", ncol=2)
    ax = axes[0, 1]
    for name in OPTIMIZERS:
        ax.plot(np.linalg.norm(paths[name] - OPTIMUM, axis=1), color=COLOURS[name], lw=1.3, label=name)
    ax.set(
        title="(b) distance to the minimiser (1, 1)", xlabel="step t", ylabel="‖θ⁽ᵗ⁾ − (1, 1)‖ (log scale)"
    )
    ax.set_yscale("log")
    ax.legend()
    for ax, key, title, label in (
        (
            axes[1, 0],
            "train_eval/loss",
            "(c) MLP on MNIST: training loss",
            "cross-entropy on training data (log)",
        ),
        (axes[1, 1], "val/acc", "(d) MLP on MNIST: validation accuracy", "validation accuracy"),
    ):
        for name in OPTIMIZERS:
            curve = curves[name][key]
            ax.plot(curve.index + 1, curve.to_numpy(), "-o", ms=3, color=COLOURS[name], label=name)
        ax.set(title=title, xlabel="epoch", ylabel=label)
        ax.legend()
    axes[1, 0].set_yscale("log")
    figure = save_figure(fig, ctx.out_dir, "abl-optimizers")

    claims = [
        Claim(
            "momentum and Nesterov at SGD's learning rate get much closer to Rosenbrock's minimum than SGD",
            f"distance(momentum), distance(nesterov) < distance(sgd) / {SPEED_UP}",
            {k: distance[k] for k in ("sgd", "momentum", "nesterov")},
            max(distance["momentum"], distance["nesterov"]) < distance["sgd"] / SPEED_UP,
        ),
        Claim(
            "each adaptive method (Adagrad, RMSprop, Adam) ends closer to Rosenbrock's minimum than SGD",
            "distance(adaptive) < distance(sgd) for each",
            {k: distance[k] for k in ("sgd", *ADAPTIVE)},
            all(distance[k] < distance["sgd"] for k in ADAPTIVE),
        ),
        Claim(
            "every optimiser trains the MLP",
            f"final validation accuracy > {settings['min_val_acc']} for each",
            final_acc,
            min(final_acc.values()) > settings["min_val_acc"],
        ),
        Claim(
            "plain SGD trains the MLP slowest: it ends with the highest training loss",
            "train loss(sgd) > train loss(any other) at the last epoch",
            final_loss,
            all(final_loss["sgd"] > v for k, v in final_loss.items() if k != "sgd"),
        ),
    ]
    return RecipeOutput(
        figure,
        claims,
        values={
            "rosenbrock": metrics,
            "rosenbrock_lr": lrs,
            "steps": steps,
            "mlp_final_train_loss": final_loss,
            "mlp_final_val_acc": final_acc,
        },
        runs=[str(r.dir) for r in results],
    )


RECIPE = Recipe(
    id="abl-optimizers",
    title="SGD, momentum, Nesterov, Adagrad, RMSprop and Adam on Rosenbrock's function and on the MNIST MLP",
    book_ref="Sections 4.2 to 4.5",
    chapter=4,
    claim="momentum and the adaptive methods move along Rosenbrock's valley far faster than plain SGD, and "
    "train the MLP faster",
    run=run,
    minutes_quick=0.45,
)
