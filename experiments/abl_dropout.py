"""abl-dropout: dropout narrows the generalisation gap (book section 5.7); runs experiment dropout_sweep."""

import numpy as np

from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import read_epoch_metrics

# Per profile: overrides of every run, and the seeds that are repeated.
SETTINGS = {
    "tiny": {"overrides": ["trainer.max_epochs=12", "data.batch_size=64"], "seeds": [0]},
    "quick": {"overrides": ["trainer.max_epochs=30"], "seeds": [0, 1, 2]},
    "full": {"overrides": ["data=mnist", "trainer.max_epochs=25"], "seeds": [0, 1, 2]},
}
LAST_EPOCHS = 3  # the gap is read as the mean over the last few epochs


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    curves: dict[float, list] = {}
    runs = []
    for seed in settings["seeds"]:
        for job, result in ctx.sweep(["+experiment=dropout_sweep", f"seed={seed}", *settings["overrides"]]):
            rate = float(next(o.split("=")[1] for o in job if o.startswith("dropout=")))
            curves.setdefault(rate, []).append(read_epoch_metrics(result.dir))
            runs.append(str(result.dir))
    rates = sorted(curves)

    fig, axes = subplots(1, 3, figsize=(13, 3.8))
    colours = dict(zip(rates, ["tab:red", "tab:orange", "tab:blue", "tab:green"], strict=False))
    gaps, val_acc, val_loss = {}, {}, {}
    for rate in rates:
        frames = curves[rate]
        epochs = frames[0].index.to_numpy() + 1
        stack = {
            k: np.stack([f[k].to_numpy() for f in frames])
            for k in ("train_eval/loss", "val/loss", "train_eval/acc", "val/acc")
        }
        gap = stack["train_eval/acc"] - stack["val/acc"]
        c = colours[rate]
        for ax, metric in ((axes[0], "loss"), (axes[1], "acc")):
            ax.plot(epochs, stack[f"train_eval/{metric}"].mean(0), "--", color=c, label=f"p={rate:g} train")
            ax.plot(epochs, stack[f"val/{metric}"].mean(0), "-", color=c, label=f"p={rate:g} validation")
        axes[2].plot(epochs, gap.mean(0), color=c, label=f"p={rate:g}")
        if len(frames) > 1:
            axes[2].fill_between(epochs, gap.min(0), gap.max(0), color=c, alpha=0.2)
        gaps[rate] = float(gap[:, -LAST_EPOCHS:].mean())
        val_acc[rate] = float(stack["val/acc"][:, -LAST_EPOCHS:].mean())
        val_loss[rate] = float(stack["val/loss"][:, -LAST_EPOCHS:].mean())
    axes[0].set(title="(a) cross-entropy loss", xlabel="epoch", ylabel="loss", yscale="log")
    axes[1].set(title="(b) accuracy", xlabel="epoch", ylabel="accuracy")
    axes[2].set(title="(c) generalisation gap", xlabel="epoch", ylabel="train acc - validation acc")
    axes[0].legend(ncol=1)
    axes[2].legend()
    figure = save_figure(fig, ctx.out_dir, "abl-dropout")

    none, most = gaps[rates[0]], gaps[rates[-1]]
    claims = [
        Claim(
            f"dropout {rates[-1]:g} narrows the train-validation accuracy gap of no dropout",
            "gap(0.5) / gap(0) < 0.9",
            most / none,
            most / none < 0.9,
        ),
        Claim(
            "the gap shrinks as the dropout rate grows",
            "gap(0) > gap(0.2) > gap(0.5)",
            {f"{r:g}": g for r, g in gaps.items()},
            all(gaps[a] > gaps[b] for a, b in zip(rates, rates[1:], strict=False)),
        ),
        Claim(
            f"dropout {rates[-1]:g} costs no validation accuracy",
            "val acc(0.5) >= val acc(0) - 0.01",
            {f"{r:g}": a for r, a in val_acc.items()},
            val_acc[rates[-1]] >= val_acc[rates[0]] - 0.01,
        ),
        Claim(
            "with dropout the validation loss overfits less",
            "val loss(0.5) < val loss(0)",
            {f"{r:g}": v for r, v in val_loss.items()},
            val_loss[rates[-1]] < val_loss[rates[0]],
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
    title="Dropout rate sweep: training against validation curves",
    book_ref="Section 5.7 (dropout)",
    chapter=5,
    claim="dropout narrows the gap between training and validation accuracy",
    run=run,
    minutes_quick=1.0,
)
