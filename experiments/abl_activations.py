"""abl-activations: the activations of fig-5.6 in the same deep MLP (book section 5.3); activations_sweep.

Every activation trains the same MLP (four hidden layers of 128, PyTorch's default initialisation, SGD
with momentum). Besides the training curves, the recipe measures the gradient that backpropagation
sends to each layer at initialisation: the sigmoid's derivative is at most 1/4, so the gradient shrinks
layer by layer towards the input (the vanishing gradient), and the step function's derivative is zero,
so its hidden layers get no gradient at all and only the output layer learns.
"""

import lightning as L
import numpy as np
import pandas as pd
import torch.nn.functional as F
from hydra.utils import instantiate
from matplotlib.ticker import MaxNLocator
from omegaconf import DictConfig
from torch import nn

from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import read_epoch_metrics
from mde_exp.validate import model_inputs_for

# Per profile: overrides of every run, the seeds repeated, and the epoch at which "how fast" is read.
SETTINGS = {
    "tiny": {"overrides": ["trainer.max_epochs=8"], "seeds": [0], "early_epoch": 4, "floor": 0.75},
    "quick": {"overrides": ["trainer.max_epochs=20"], "seeds": [0, 1, 2], "early_epoch": 5, "floor": 0.9},
    "full": {
        "overrides": ["data=mnist", "trainer.max_epochs=25"],
        "seeds": [0, 1, 2],
        "early_epoch": 5,
        "floor": 0.95,
    },
}
LAST_EPOCHS = 3
STYLE = {  # colour, line style
    "sigmoid": ("tab:red", "-"),
    "scaled_sigmoid": ("tab:orange", "-"),
    "tanh": ("tab:purple", "-"),
    "relu": ("tab:blue", "-"),
    "leaky_relu_0.05": ("tab:cyan", "--"),
    "leaky_relu_0.1": ("tab:green", ":"),
    "step": ("0.4", "-."),
}
FAST = ("tanh", "relu", "leaky_relu_0.05", "leaky_relu_0.1")  # zero-centred or non-saturating
TRAINABLE = ("scaled_sigmoid", *FAST)


def layer_gradient_norms(cfg: DictConfig, seed: int, batch_size: int = 256) -> list[float]:
    """||dL/dW|| of every linear layer (input to output) of the MLP of `cfg` at its initialisation with
    `seed`, on the first `batch_size` training examples; 0 for a layer that no gradient reaches."""
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    x, y = next(iter(datamodule.train_dataloader()))
    x, y = x[:batch_size], y[:batch_size]
    L.seed_everything(seed, verbose=False)
    model = instantiate(cfg.model, **model_inputs_for(cfg.model, datamodule.model_inputs()), _convert_="all")
    F.cross_entropy(model(x), y).backward()
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return [0.0 if m.weight.grad is None else float(m.weight.grad.norm()) for m in linears]


def _activation(job: list[str]) -> str:
    return next(o.split("=", 1)[1] for o in job if o.startswith("model.activation="))


def _stack(frames: list[pd.DataFrame], key: str) -> np.ndarray:
    return np.stack([f[key].to_numpy() for f in frames])


def _label(name: str) -> str:
    return name.replace("leaky_relu_", "leaky ReLU ").replace("relu", "ReLU").replace("_", " ")


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    curves: dict[str, list[pd.DataFrame]] = {}
    grads: dict[str, list[list[float]]] = {}
    runs = []
    for seed in settings["seeds"]:
        overrides = ["+experiment=activations_sweep", f"seed={seed}", *settings["overrides"]]
        for job, result in ctx.sweep(overrides):
            name = _activation(job)
            curves.setdefault(name, []).append(read_epoch_metrics(result.dir))
            grads.setdefault(name, []).append(layer_gradient_norms(ctx.compose(job), seed))
            runs.append(str(result.dir))
    missing = [name for name in STYLE if name not in curves]
    if missing:
        raise ValueError(f"abl-activations needs every activation of {list(STYLE)}; missing {missing}")
    early, last = settings["early_epoch"], LAST_EPOCHS

    fig, axes = subplots(1, 4, figsize=(18, 4.4))
    final_acc, early_loss, grad_ratio, hidden_grad = {}, {}, {}, {}
    for name, (colour, ls) in STYLE.items():
        acc, loss = _stack(curves[name], "val/acc"), _stack(curves[name], "train_eval/loss")
        epochs = np.arange(1, acc.shape[1] + 1)
        for ax, values in ((axes[0], acc), (axes[1], loss)):
            ax.plot(epochs, values.mean(0), ls, color=colour, lw=1.6, label=_label(name))
            if values.shape[0] > 1:
                ax.fill_between(epochs, values.min(0), values.max(0), color=colour, alpha=0.15)
        g = np.mean(grads[name], axis=0)
        layers = np.arange(1, len(g) + 1)
        if name == "step":
            axes[2].plot([], [], ls, color=colour, label=f"{_label(name)}: 0 in every hidden layer")
        else:
            axes[2].plot(layers, g, ls, marker="o", ms=4, color=colour, label=_label(name))
        final_acc[name] = float(acc[:, -last:].mean())
        early_loss[name] = float(loss[:, early - 1].mean())
        grad_ratio[name] = float(g[0] / g[-2]) if g[-2] > 0 else 0.0  # first against last hidden layer
        hidden_grad[name] = float(np.max(np.asarray(grads[name])[:, :-1]))
    n_seeds = len(settings["seeds"])
    axes[0].set(title=f"(a) validation accuracy, mean and range over {n_seeds} seed(s)", xlabel="epoch")
    axes[0].set(ylabel="validation accuracy")
    axes[0].legend(loc="center right")
    for ax in axes[:2]:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[1].set(title="(b) training loss", xlabel="epoch", ylabel="cross-entropy (train)", yscale="log")
    axes[2].set(
        title="(c) gradient norm per layer at initialisation",
        xlabel="linear layer (1 = input side, 5 = output)",
        ylabel="||dL/dW||",
        yscale="log",
    )
    axes[2].set_xticks(np.arange(1, len(g) + 1))
    axes[2].legend(fontsize=7)
    names = list(STYLE)
    axes[3].bar(range(len(names)), [final_acc[n] for n in names], color=[STYLE[n][0] for n in names])
    for i, n in enumerate(names):
        per_seed = _stack(curves[n], "val/acc")[:, -last:].mean(1)
        axes[3].scatter(np.full(len(per_seed), i), per_seed, color="k", s=10, zorder=3)
    axes[3].axhline(
        settings["floor"], color="k", ls="--", lw=1, label=f"floor {settings['floor']:g} (tanh, ReLUs)"
    )
    axes[3].set_xticks(range(len(names)), [_label(n) for n in names], rotation=35, ha="right")
    axes[3].set(
        title="(d) final validation accuracy (dots: seeds)", ylabel="validation accuracy", ylim=(0, 1)
    )
    axes[3].legend(loc="upper left")
    for ax in axes:
        ax.title.set_fontsize(9)
    fig.suptitle("abl-activations: MLP 784-128-128-128-128-10 on MNIST, SGD with momentum", fontsize=10)
    figure = save_figure(fig, ctx.out_dir, "abl-activations")

    slowest_fast = max(early_loss[n] for n in FAST)
    claims = [
        Claim(
            f"tanh and the ReLU family train faster than the sigmoid (training loss at epoch {early})",
            "loss(sigmoid) > 1.5 x max loss(tanh, ReLU, leaky ReLU 0.05 / 0.1)",
            early_loss,
            early_loss["sigmoid"] > 1.5 * slowest_fast,
        ),
        Claim(
            "the sigmoid's gradient vanishes towards the input: first / last hidden layer gradient norm",
            "ratio(sigmoid) < 0.2 and < ratio of every other trainable activation / 5",
            grad_ratio,
            grad_ratio["sigmoid"] < 0.2 and all(grad_ratio["sigmoid"] < grad_ratio[n] / 5 for n in TRAINABLE),
        ),
        Claim(
            "the zero-centred scaled sigmoid 2σ(z) - 1 trains faster than the sigmoid σ(z)",
            "final val acc(scaled sigmoid) > val acc(sigmoid) + 0.1",
            {n: final_acc[n] for n in ("sigmoid", "scaled_sigmoid")},
            final_acc["scaled_sigmoid"] > final_acc["sigmoid"] + 0.1,
        ),
        Claim(
            "tanh and the ReLU family train the deep MLP past a floor accuracy",
            f"final val acc >= {settings['floor']:g} for tanh, ReLU, leaky ReLU 0.05 and 0.1",
            {n: final_acc[n] for n in FAST},
            all(final_acc[n] >= settings["floor"] for n in FAST),
        ),
        Claim(
            "the step function passes no gradient to its hidden layers (backpropagation cannot train them)",
            "max ||dL/dW|| over hidden layers (step) == 0",
            hidden_grad["step"],
            hidden_grad["step"] == 0.0 and min(hidden_grad[n] for n in TRAINABLE) > 0,
        ),
        Claim(
            "so the step net learns only through its output layer, far below ReLU",
            "final val acc(step) < val acc(ReLU) - 0.3",
            {n: final_acc[n] for n in ("step", "relu")},
            final_acc["step"] < final_acc["relu"] - 0.3,
        ),
    ]
    values = {
        "final_val_acc": final_acc,
        "early_train_loss": early_loss,
        "gradient_ratio_first_to_last_hidden": grad_ratio,
        "gradient_norms_at_init": {n: np.mean(g, axis=0).tolist() for n, g in grads.items()},
        "seeds": settings["seeds"],
    }
    return RecipeOutput(figure, claims, values=values, runs=runs)


RECIPE = Recipe(
    id="abl-activations",
    title="The activations of fig-5.6 in the same deep MLP",
    book_ref="Section 5.3 (activation functions)",
    chapter=5,
    claim="tanh and ReLU-type activations train a deep MLP quickly; the sigmoid's gradient vanishes and "
    "the step function's is zero",
    run=run,
    minutes_quick=0.7,
)
