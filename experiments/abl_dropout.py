"""abl-dropout: dropout narrows the generalisation gap (book section 5.7); runs experiment dropout_sweep.

The sweep trains the same three-hidden-layer MLP with dropout 0, 0.2 and 0.5 in every hidden layer and
with the per-layer rates 0.4/0.3/0.2 (first to last hidden layer), over several seeds.
"""

import numpy as np
import pandas as pd

from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import read_epoch_metrics

# Per profile: overrides of every run, and the seeds that are repeated.
# The gap, validation accuracy and loss are read as means over the last `last_epochs` epochs.
SETTINGS = {
    "tiny": {"overrides": ["trainer.max_epochs=12", "data.batch_size=64"], "seeds": [0], "last_epochs": 3},
    "quick": {"overrides": ["trainer.max_epochs=30"], "seeds": [0, 1, 2], "last_epochs": 10},
    "full": {"overrides": ["data=mnist", "trainer.max_epochs=25"], "seeds": [0, 1, 2], "last_epochs": 5},
}
NONE, LOW, HIGH, BY_LAYER = "0", "0.2", "0.5", "0.4/0.3/0.2"
COLOURS = {NONE: "tab:red", LOW: "tab:orange", HIGH: "tab:blue", BY_LAYER: "tab:green"}


def dropout_label(job: list[str]) -> str:
    """The dropout setting of a sweep job as a label: `0.2` for one rate, `0.4/0.3/0.2` for a list."""
    value = next(o.split("=", 1)[1] for o in job if o.startswith("dropout="))
    rates = [float(r) for r in value.strip("[]").split(",")]
    return "/".join(f"{r:g}" for r in rates)


def _curves(frames: list[pd.DataFrame]) -> dict[str, np.ndarray]:
    keys = ("train_eval/loss", "val/loss", "train_eval/acc", "val/acc")
    return {k: np.stack([f[k].to_numpy() for f in frames]) for k in keys}


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    curves: dict[str, list[pd.DataFrame]] = {}
    runs = []
    for seed in settings["seeds"]:
        for job, result in ctx.sweep(["+experiment=dropout_sweep", f"seed={seed}", *settings["overrides"]]):
            curves.setdefault(dropout_label(job), []).append(read_epoch_metrics(result.dir))
            runs.append(str(result.dir))
    labels = [label for label in COLOURS if label in curves]
    missing = sorted(set(COLOURS) - set(labels)) or sorted(set(curves) - set(COLOURS))
    if missing:
        raise ValueError(f"abl-dropout expects dropout settings {list(COLOURS)}; mismatch: {missing}")

    fig, axes = subplots(1, 3, figsize=(14, 4.2))
    gaps, val_acc, val_loss = {}, {}, {}
    last = settings["last_epochs"]
    for label in labels:
        stack = _curves(curves[label])
        epochs = np.arange(1, stack["val/acc"].shape[1] + 1)
        gap = stack["train_eval/acc"] - stack["val/acc"]
        c = COLOURS[label]
        name = f"p={label}" if label != BY_LAYER else f"p={label} by layer"
        for ax, metric in ((axes[0], "loss"), (axes[1], "acc")):
            ax.plot(epochs, stack[f"train_eval/{metric}"].mean(0), "--", color=c, lw=1.2)
            ax.plot(epochs, stack[f"val/{metric}"].mean(0), "-", color=c, lw=1.5, label=name)
        axes[2].plot(epochs, gap.mean(0), color=c, label=name)
        if gap.shape[0] > 1:
            axes[2].fill_between(epochs, gap.min(0), gap.max(0), color=c, alpha=0.2)
        gaps[label] = float(gap[:, -last:].mean())
        val_acc[label] = float(stack["val/acc"][:, -last:].mean())
        val_loss[label] = float(stack["val/loss"][:, -last:].mean())
    n_seeds = len(settings["seeds"])
    axes[0].set(title="(a) cross-entropy loss (dashed: train, solid: validation)", xlabel="epoch")
    axes[0].set(ylabel="loss", yscale="log")
    axes[1].set(title="(b) accuracy (dashed: train, solid: validation)", xlabel="epoch", ylabel="accuracy")
    axes[2].set(
        title=f"(c) generalisation gap, mean and range over {n_seeds} seed(s)",
        xlabel="epoch",
        ylabel="train acc - validation acc",
    )
    for ax in axes:
        ax.title.set_fontsize(9)
    axes[0].legend(title="dropout rate")
    axes[2].legend(title="dropout rate")
    fig.suptitle("abl-dropout: MLP 784-256-256-256-10 on MNIST, Adam", fontsize=10)
    figure = save_figure(fig, ctx.out_dir, "abl-dropout")

    ratio = gaps[HIGH] / gaps[NONE]
    by_layer_ratio = gaps[BY_LAYER] / gaps[NONE]
    claims = [
        Claim(
            "dropout 0.5 narrows the train-validation accuracy gap of no dropout",
            "gap(0.5) / gap(0) < 0.9",
            ratio,
            ratio < 0.9,
        ),
        Claim(
            "the gap shrinks as the (uniform) dropout rate grows",
            "gap(0) > gap(0.2) > gap(0.5)",
            {label: gaps[label] for label in (NONE, LOW, HIGH)},
            gaps[NONE] > gaps[LOW] > gaps[HIGH],
        ),
        Claim(
            "per-layer dropout 0.4/0.3/0.2 also narrows the gap of no dropout",
            "gap(0.4/0.3/0.2) / gap(0) < 0.9",
            by_layer_ratio,
            by_layer_ratio < 0.9,
        ),
        Claim(
            "dropout 0.5 and 0.4/0.3/0.2 cost no validation accuracy",
            "val acc(p) >= val acc(0) - 0.01 for p = 0.5 and 0.4/0.3/0.2",
            val_acc,
            min(val_acc[HIGH], val_acc[BY_LAYER]) >= val_acc[NONE] - 0.01,
        ),
        Claim(
            "with dropout the validation loss overfits less",
            "val loss(0.5) < val loss(0) and val loss(0.4/0.3/0.2) < val loss(0)",
            val_loss,
            max(val_loss[HIGH], val_loss[BY_LAYER]) < val_loss[NONE],
        ),
    ]
    return RecipeOutput(
        figure,
        claims,
        values={"gap": gaps, "val_acc": val_acc, "val_loss": val_loss, "seeds": settings["seeds"]},
        runs=runs,
    )


RECIPE = Recipe(
    id="abl-dropout",
    title="Dropout rate sweep (0, 0.2, 0.5, 0.4/0.3/0.2 by layer): training against validation curves",
    book_ref="Section 5.7 (dropout)",
    chapter=5,
    claim="dropout narrows the gap between training and validation accuracy",
    run=run,
    minutes_quick=1.5,
)
