"""abl-cnn-architectures: the dense net, ConvNet, LeNet-5, VGG, Inception and ResNet (book sections 6.3, 6.4).

Runs experiment cnn_architectures: the six architectures trained alike on mnist_5k (batch norm, Adam with
a cosine schedule, batch 64, the same epochs), then plots validation accuracy per epoch, test accuracy
against the number of parameters, and seconds per epoch (the run's wall time over its epochs, evaluation
included, from its summary.json). The dense net has more parameters than any of the convolutional nets.
"""

import numpy as np
import pandas as pd

from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import read_epoch_metrics

# The architectures, by model option: (label, overrides of that model). The conv nets store their
# weights and batches channels-last, which trains them faster on a CPU as well, with the same results.
DENSE = "mlp_relu_tanh"
ARCHITECTURES = {
    DENSE: ("dense 200-100", []),
    "convnet": ("ConvNet", []),
    "lenet5": ("LeNet-5", []),
    "vgg": ("VGG", []),
    "inception": ("Inception", []),
    "resnet": ("ResNet", []),
}
# Per profile: overrides of every run, extra overrides per model, the seeds, and the accuracy that
# every architecture must reach on the test split. The experiment trains all alike: batch norm, Adam
# (lr 0.003) with a cosine schedule, batch 64; the tiny profile takes batches of 16 (more steps on its
# 1,500 digits: the global-average-pooling nets, Inception and ResNet, need them).
SETTINGS = {
    "tiny": {
        "overrides": [
            "trainer.max_epochs=4",
            "data.train_size=1500",
            "data.val_size=500",
            "data.test_size=1000",
            "data.eval_train_size=100",
            "data.batch_size=16",
        ],
        "models": {"resnet": ["model.blocks_per_stage=1"]},
        "seeds": [0],
        "min_acc": 0.85,
    },
    "quick": {
        "overrides": ["trainer.max_epochs=10", "data.eval_train_size=100"],
        "models": {"resnet": ["model.blocks_per_stage=1"]},  # ResNet-8: stem, 3 blocks of 2 convs, output
        "seeds": [0, 1],
        "min_acc": 0.9,
    },
    "full": {
        "overrides": ["data=mnist", "trainer.max_epochs=10"],
        "models": {},  # ResNet-20 as conf/model/resnet.yaml gives it
        "seeds": [0, 1],
        "min_acc": 0.97,
    },
}
COLOURS = dict(
    zip(ARCHITECTURES, ["k", "tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"], strict=True)
)


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    test_acc: dict[str, list[float]] = {}
    val_curves: dict[str, list[np.ndarray]] = {}
    seconds: dict[str, list[float]] = {}
    params: dict[str, int] = {}
    dirs = []
    for seed in settings["seeds"]:
        for model, (_, extra) in ARCHITECTURES.items():
            result = ctx.train(
                [
                    "+experiment=cnn_architectures",
                    f"model={model}",
                    f"seed={seed}",
                    *extra,
                    *settings["models"].get(model, []),
                    *settings["overrides"],
                ]
            )
            if result.status != "finished":
                raise RuntimeError(f"{model} (seed {seed}) ended {result.status}: {result.dir}")
            frame: pd.DataFrame = read_epoch_metrics(result.dir)
            val_curves.setdefault(model, []).append(frame["val/acc"].to_numpy())
            test_acc.setdefault(model, []).append(float(result.metrics["test/acc"]))
            seconds.setdefault(model, []).append(
                result.summary["wall_time_s"] / max(result.summary["epochs"], 1)
            )
            params[model] = int(result.summary["parameters"])
            dirs.append(str(result.dir))
    mean_acc = {m: float(np.mean(v)) for m, v in test_acc.items()}
    mean_seconds = {m: float(np.mean(v)) for m, v in seconds.items()}
    labels = {m: label for m, (label, _) in ARCHITECTURES.items()}

    fig, axes = subplots(1, 3, figsize=(17, 5.2))
    for model, curves in val_curves.items():
        stack = np.stack(curves)
        epochs = np.arange(1, stack.shape[1] + 1)
        axes[0].plot(epochs, stack.mean(0), "-o", ms=3, color=COLOURS[model], label=labels[model])
        if len(curves) > 1:
            axes[0].fill_between(epochs, stack.min(0), stack.max(0), color=COLOURS[model], alpha=0.15)
    low = min(float(np.mean(np.stack(c), 0)[min(1, len(c[0]) - 1)]) for c in val_curves.values())
    axes[0].set(title="(a) validation accuracy (mean; band: range over seeds)", xlabel="epoch",
                ylabel="validation accuracy", ylim=(max(low - 0.05, 0.0), 1.0))  # fmt: skip
    axes[0].xaxis.get_major_locator().set_params(integer=True)
    axes[0].legend(loc="lower right")
    for model, accs in test_acc.items():
        n = params[model]
        axes[1].plot([n] * len(accs), accs, "o", color=COLOURS[model], alpha=0.4, ms=5)
        axes[1].plot(n, mean_acc[model], "D", color=COLOURS[model], ms=8)
        left = model == "inception"  # Inception's label to the left, clear of ResNet's (close in size)
        axes[1].annotate(labels[model], (n, mean_acc[model]), xytext=(-8 if left else 8, -3),
                         textcoords="offset points", ha="right" if left else "left", va="top")  # fmt: skip
    axes[1].axhline(mean_acc[DENSE], color="k", ls="--", lw=1, label="dense net's test accuracy")
    seeds = len(settings["seeds"])
    axes[1].set(title=f"(b) test accuracy against size ({seeds} seed{'s; ◆ mean' if seeds > 1 else ''})",
                xlabel="parameters", ylabel="test accuracy", xscale="log")  # fmt: skip
    axes[1].set_xlim(min(params.values()) / 2, max(params.values()) * 3)
    axes[1].legend(loc="upper right", fontsize=8)
    order = list(ARCHITECTURES)
    axes[2].barh(
        [labels[m] for m in order],
        [mean_seconds[m] for m in order],
        color=[COLOURS[m] for m in order],
        xerr=[np.ptp(seconds[m]) / 2 for m in order],
    )
    for i, m in enumerate(order):
        end = mean_seconds[m] + np.ptp(seconds[m]) / 2
        axes[2].text(end, i, f"  {mean_seconds[m]:.2f} s", va="center", fontsize=9)
    axes[2].invert_yaxis()
    axes[2].set(
        title="(c) seconds per epoch (run's wall time / epochs)",
        xlabel="seconds per epoch (evaluation included)",
        xlim=(0, max(mean_seconds.values()) * 1.3),
    )
    axes[2].grid(False, axis="y")
    figure = save_figure(fig, ctx.out_dir, "abl-cnn-architectures")

    convs = [m for m in ARCHITECTURES if m != DENSE]
    full = ctx.profile == "full"
    per_seed_margin = {m: [a - d for a, d in zip(test_acc[m], test_acc[DENSE], strict=True)] for m in convs}
    min_acc = settings["min_acc"]
    claims = [
        Claim(
            "every convolutional architecture beats the dense net, which has more parameters than any of "
            "them, on test accuracy (at every seed)",
            "test acc(CNN) > test acc(dense) at each seed; parameters(dense) >= parameters(CNN)",
            {
                "test_acc": mean_acc,
                "parameters": params,
                "min_margin_over_seeds": {m: min(v) for m, v in per_seed_margin.items()},
            },
            all(min(v) > 0 for v in per_seed_margin.values())
            and all(params[DENSE] >= params[m] for m in convs),
        ),
        Claim(
            f"every architecture reaches a sensible test accuracy ({'full MNIST' if full else 'mnist_5k'})",
            f"test acc > {min_acc} for each architecture (mean over seeds)",
            mean_acc,
            all(a > min_acc for a in mean_acc.values()),
        ),
    ]
    values = {
        "architectures": list(ARCHITECTURES),
        "test_acc": mean_acc,
        "test_acc_by_seed": test_acc,
        "parameters": params,
        "seconds_per_epoch": mean_seconds,
        "final_val_acc": {m: float(np.mean([c[-1] for c in v])) for m, v in val_curves.items()},
        "epochs": int(len(next(iter(val_curves.values()))[0])),
        "seeds": settings["seeds"],
    }
    return RecipeOutput(figure, claims, values=values, runs=dirs)


RECIPE = Recipe(
    id="abl-cnn-architectures",
    title="CNN architectures against a dense net: accuracy, size and time",
    book_ref="Sections 6.3 and 6.4",
    chapter=6,
    claim="every convolutional architecture beats a larger dense net on test accuracy",
    run=run,
    minutes_quick=1.6,
)
