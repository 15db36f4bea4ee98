"""abl-dense-vs-cnn: a dense net against a CNN at the same training budget (book section 6.3, course unit 5).

Runs experiment dense_vs_cnn: Adam (lr 5e-3), batch 1000, 30 epochs, for the dense net 784-200(relu)-
100(tanh)-10 (model mlp_relu_tanh) and the CNN conv 5x5x8 - maxpool - conv 3x3x16 - maxpool - dense
400 -> 10 (model convnet). The course trains on 5,000 MNIST digits and validates on 5,000 more (the full
profile); the quick profile has mnist_5k's 5,000 digits: 4,000 to train on and 1,000 to validate.
"""

import numpy as np
import pandas as pd

from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import read_epoch_metrics

MODELS = {  # label -> the model's overrides
    "dense 784-200-100-10": ["model=mlp_relu_tanh"],
    "CNN conv5x5x8-pool-conv3x3x16-pool-400-10": ["model=convnet"],
}
DENSE, CNN = MODELS
COLOURS = {DENSE: "tab:orange", CNN: "tab:blue"}
# Per profile: overrides of every run (both models alike) and the seeds repeated.
SETTINGS = {
    "tiny": {
        "overrides": [
            "trainer.max_epochs=12",
            "data.train_size=2000",
            "data.batch_size=250",
            "data.eval_train_size=500",
        ],
        "seeds": [0],
    },
    "quick": {"overrides": [], "seeds": [0, 1]},
    "full": {"overrides": ["data=mnist", "data.train_size=5000", "data.val_size=5000"], "seeds": [0, 1, 2]},
}
COURSE_VAL_ACC = {DENSE: 0.937, CNN: 0.963}  # course unit 5: MNIST 5000 / 5000, 30 epochs
COURSE_TOLERANCE = 0.015  # full profile: measured validation accuracy within this of the course's
# Parameters of each architecture, counted by hand (weights + biases of each layer).
PARAMETERS = {
    DENSE: (784 * 200 + 200) + (200 * 100 + 100) + (100 * 10 + 10),
    CNN: (8 * 1 * 5 * 5 + 8) + (16 * 8 * 3 * 3 + 16) + (400 * 10 + 10),
}
FEWER = 10  # "far fewer": the CNN has less than a tenth of the dense net's parameters


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    curves: dict[str, list[pd.DataFrame]] = {label: [] for label in MODELS}
    parameters: dict[str, int] = {}
    dirs = []
    for seed in settings["seeds"]:
        for label, model in MODELS.items():
            result = ctx.train(["+experiment=dense_vs_cnn", *model, f"seed={seed}", *settings["overrides"]])
            curves[label].append(read_epoch_metrics(result.dir))
            parameters[label] = int(result.summary["parameters"])
            dirs.append(str(result.dir))
    final_acc = {label: [float(f["val/acc"].iloc[-1]) for f in frames] for label, frames in curves.items()}
    final_loss = {label: [float(f["val/loss"].iloc[-1]) for f in frames] for label, frames in curves.items()}
    mean_acc = {label: float(np.mean(a)) for label, a in final_acc.items()}
    mean_loss = {label: float(np.mean(v)) for label, v in final_loss.items()}
    full = ctx.profile == "full"
    n_seeds = len(settings["seeds"])

    fig, grid_axes = subplots(2, 2, figsize=(12, 8.5))
    axes = grid_axes.ravel()
    for label, frames in curves.items():
        epochs = frames[0].index.to_numpy() + 1
        colour = COLOURS[label]
        acc = np.stack([f["val/acc"].to_numpy() for f in frames])
        axes[0].plot(epochs, acc.mean(0), color=colour, label=f"{label}: {mean_acc[label]:.3f}")
        axes[0].fill_between(epochs, acc.min(0), acc.max(0), color=colour, alpha=0.2, lw=0)
        axes[0].axhline(COURSE_VAL_ACC[label], color=colour, ls=":", lw=1,
                        label=f"course (MNIST 5000 / 5000): {COURSE_VAL_ACC[label]}")  # fmt: skip
        for key, style, what in (("val/loss", "-", "validation"), ("train/loss", "--", "training")):
            loss = np.stack([f[key].to_numpy() for f in frames])
            axes[1].plot(epochs, loss.mean(0), style, color=colour, label=f"{label.split()[0]}, {what}")
    lowest = min(float(f["val/acc"].iloc[2:].min()) for frames in curves.values() for f in frames)
    axes[0].set(
        title=f"(a) validation accuracy (mean, min-max over {n_seeds} seeds)",
        xlabel="epoch",
        ylabel="validation accuracy",
        ylim=(max(0.0, lowest - 0.02), 1.0),
    )
    axes[0].legend(loc="lower right")
    axes[1].set(title=f"(b) loss (mean over {n_seeds} seeds)", xlabel="epoch", ylabel="cross-entropy loss",
                yscale="log")  # fmt: skip
    axes[1].legend()
    labels = list(MODELS)
    bars = axes[2].bar([label.split()[0] for label in labels], [parameters[label] for label in labels],
                       color=[COLOURS[label] for label in labels])  # fmt: skip
    axes[2].bar_label(bars, labels=[f"{parameters[label]:,}" for label in labels])
    axes[2].set(title="(c) trainable parameters", ylabel="parameters (log scale)", yscale="log",
                ylim=(1000, 2e6))  # fmt: skip
    for i, label in enumerate(labels):
        accs = final_acc[label]
        name = label.split()[0]
        spread = np.full(len(accs), i) + np.linspace(-0.08, 0.08, len(accs))
        axes[3].scatter(spread, accs, color=COLOURS[label], s=40, zorder=3, label=f"{name}, each seed")
        axes[3].plot([i - 0.25, i + 0.25], [COURSE_VAL_ACC[label]] * 2, ":", color=COLOURS[label], lw=1.5,
                     label=f"course, {name}")  # fmt: skip
    axes[3].set(
        title="(d) final validation accuracy (same epochs, optimiser, batch)",
        xticks=range(len(labels)),
        xticklabels=[label.split()[0] for label in labels],
        ylabel="validation accuracy",
        xlim=(-0.6, 1.6),
    )
    axes[3].legend(fontsize=7)
    split = (
        "MNIST 5000 / 5000" if full else ("mnist_5k 4000 / 1000" if ctx.profile == "quick" else "mnist_5k")
    )
    fig.suptitle(f"Dense net against CNN, Adam 5e-3, {split} ({ctx.profile} profile)", fontsize=11)
    figure = save_figure(fig, ctx.out_dir, "abl-dense-vs-cnn")

    course = {k.split()[0]: v for k, v in COURSE_VAL_ACC.items()} if full else None
    per_seed = {label.split()[0]: accs for label, accs in final_acc.items()}
    claims = [
        Claim(
            "at the same training budget (epochs, optimiser, batch) the CNN is more accurate on the "
            "validation digits than the dense net, for every seed",
            f"val acc(CNN) > val acc(dense) for each of {n_seeds} seeds",
            per_seed,
            all(c > d for c, d in zip(final_acc[CNN], final_acc[DENSE], strict=True)),
            book_value=course,
        ),
        Claim(
            "the CNN's validation loss is lower too (the dense net fits its training digits more closely "
            "but generalises worse)",
            "mean val loss(CNN) < mean val loss(dense)",
            {label.split()[0]: v for label, v in mean_loss.items()},
            mean_loss[CNN] < mean_loss[DENSE],
        ),
        Claim(
            "the CNN has far fewer parameters: the counts are those of the two architectures, and the "
            f"CNN's are less than 1/{FEWER} of the dense net's",
            f"{PARAMETERS[CNN]:,} (CNN) and {PARAMETERS[DENSE]:,} (dense); ratio < 1/{FEWER}",
            {label.split()[0]: n for label, n in parameters.items()},
            parameters == PARAMETERS and parameters[CNN] * FEWER < parameters[DENSE],
        ),
    ]
    if full:
        gaps = {label: mean_acc[label] - COURSE_VAL_ACC[label] for label in MODELS}
        claims.append(
            Claim(
                "the dense net and the CNN match the course's validation accuracy",
                f"|measured - course| <= {COURSE_TOLERANCE} for each",
                {label.split()[0]: mean_acc[label] for label in MODELS},
                all(abs(g) <= COURSE_TOLERANCE for g in gaps.values()),
                book_value=course,
            )
        )
    values = {
        "val_acc": {label.split()[0]: mean_acc[label] for label in MODELS},
        "val_acc_per_seed": per_seed,
        "val_loss": {label.split()[0]: mean_loss[label] for label in MODELS},
        "parameters": {label.split()[0]: parameters[label] for label in MODELS},
        "epochs": int(len(curves[CNN][0])),
        "seeds": settings["seeds"],
    }
    return RecipeOutput(figure, claims, values=values, runs=dirs)


RECIPE = Recipe(
    id="abl-dense-vs-cnn",
    title="A dense net against a CNN at the same training budget",
    book_ref="Section 6.3",
    chapter=6,
    claim="the CNN beats the dense net on validation accuracy with far fewer parameters",
    run=run,
    minutes_quick=0.3,
)
