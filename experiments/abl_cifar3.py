"""abl-cifar3: the course practical's CNN with batch norm and dropout on three CIFAR-10 classes (section 6.3).

Course practical 5: airplane / cat / truck, 2000 training and 1000 validation images, conv 3x3x8
(padded) - pool - conv 3x3x4 - pool - dense 80 - dense 40 - 3, batch norm and dropout 0.5, Adam 0.005,
batch 50, 20 epochs, about 0.8 test accuracy; and the same CNN without batch norm and dropout: two of
the four jobs of experiment cifar3_cnn (its sweep crosses batch norm and dropout).
Where the practical puts batch norm after the ReLU and none in the dense layers, ConvNet normalises
before the activation and in the hidden dense layers too (its `norm` rule); inputs are standardised per
channel where the practical scales them to [0, 1]; the 2000 / 1000 images are drawn class-balanced
(data=cifar3's stratified split) where the practical takes the first 3000 of those classes.

The full profile reads CIFAR-10 (data/cifar10). The quick and tiny profiles have no CIFAR-10 (nothing is
downloaded): they run the same recipe on a stand-in, three MNIST digits of the embedded 5,000 (3, 5 and
8, as 1 x 28 x 28 images: the same net fits them), with 300 training images so that, as with 2000 CIFAR
images, generalisation rather than fitting limits the test accuracy; the course's 0.8 is shown only
beside the full profile's measurement.
"""

import numpy as np
import pandas as pd

from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import read_epoch_metrics

STAND_IN_CLASSES = [3, 5, 8]
STAND_IN = [
    "data=mnist_5k",
    f"data.classes=[{','.join(map(str, STAND_IN_CLASSES))}]",
    "data.train_size=300",
    "data.val_size=600",
    "data.test_size=600",
    "data.eval_train_size=300",
]
STAND_IN_NAME = f"stand-in: MNIST digits {', '.join(map(str, STAND_IN_CLASSES))}, 300 training images"
# Per profile: overrides of every run, the seeds, and what the data are (figure title and JSON values).
SETTINGS = {
    "tiny": {"overrides": STAND_IN, "seeds": [0, 1], "data": STAND_IN_NAME},
    "quick": {"overrides": STAND_IN, "seeds": [0, 1, 2], "data": STAND_IN_NAME},
    "full": {
        "overrides": ["data=cifar3"],
        "seeds": [0, 1, 2],
        "data": "CIFAR-10 airplane, cat, truck; 2000 training, 1000 validation images",
    },
}
# The two networks: the course's (the experiment's batch norm and dropout) and the ablation without both.
# Two jobs of the experiment's sweep (batch norm on / off x dropout on / off), its corners.
VARIANTS = {"batch norm + dropout": [], "plain (no batch norm, no dropout)": ["norm=none", "dropout=0.0"]}
COLOURS = dict(zip(VARIANTS, ["tab:blue", "tab:red"], strict=True))
COURSE_TEST_ACC = 0.8  # course practical 5: "about 0.8" test accuracy with batch norm and dropout
COURSE_TOLERANCE = 0.05  # full profile: the measured mean test accuracy within this of the course's
ABOVE_CHANCE = 0.6  # "well above chance" (1/3 for three classes): mean test accuracy above this


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    frames: dict[str, list[pd.DataFrame]] = {v: [] for v in VARIANTS}
    test_acc: dict[str, list[float]] = {v: [] for v in VARIANTS}
    train_acc: dict[str, list[float]] = {v: [] for v in VARIANTS}
    runs = []
    for variant, overrides in VARIANTS.items():
        for seed in settings["seeds"]:
            result = ctx.train(["+experiment=cifar3_cnn", f"seed={seed}", *settings["overrides"], *overrides])
            frame = read_epoch_metrics(result.dir)
            frames[variant].append(frame)
            test_acc[variant].append(float(result.metrics.get("test/acc", np.nan)))
            train_acc[variant].append(float(frame["train_eval/acc"].iloc[-1]))
            runs.append(str(result.dir))
    mean_test = {v: float(np.mean(a)) for v, a in test_acc.items()}
    gaps = {v: [float(t - a) for t, a in zip(train_acc[v], test_acc[v], strict=True)] for v in VARIANTS}
    gap = {v: float(np.mean(g)) for v, g in gaps.items()}
    course, plain = list(VARIANTS)
    full = ctx.profile == "full"

    fig, axes = subplots(1, 4, figsize=(17, 4.4), gridspec_kw={"width_ratios": [3, 3, 2, 2]})
    fig.suptitle(
        f"abl-cifar3: the course practical's CNN with and without batch norm + dropout ({settings['data']})"
    )
    for variant, runs_of in frames.items():
        c = COLOURS[variant]
        for ax, metric in ((axes[0], "acc"), (axes[1], "loss")):
            train = np.stack([f[f"train_eval/{metric}"].to_numpy() for f in runs_of]).mean(0)
            val = np.stack([f[f"val/{metric}"].to_numpy() for f in runs_of]).mean(0)
            epochs = np.arange(1, len(val) + 1)
            ax.plot(epochs, train, "--", color=c, lw=1.3, label=f"{variant}: training")
            ax.plot(epochs, val, "-", color=c, lw=1.8, label=f"{variant}: validation")
    n = len(settings["seeds"])
    axes[0].set(title=f"(a) accuracy (mean over {n} seeds)", xlabel="epoch", ylabel="accuracy")
    axes[1].set(title=f"(b) cross-entropy loss (mean over {n} seeds)", xlabel="epoch", ylabel="loss",
                yscale="log")  # fmt: skip
    for ax in axes[:2]:
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0].legend(loc="lower right")
    panels = (
        (axes[2], test_acc, mean_test, "(c) test accuracy", "test accuracy"),
        (axes[3], gaps, gap, "(d) generalisation gap", "training - test accuracy"),
    )
    for ax, per_seed, mean, title, ylabel in panels:
        for i, variant in enumerate(VARIANTS):
            c = COLOURS[variant]
            ax.plot(np.full(n, i), per_seed[variant], "o", color=c, alpha=0.6, ms=6,
                    label="each seed" if i == 0 else None)  # fmt: skip
            ax.hlines(mean[variant], i - 0.25, i + 0.25, color=c, lw=2.5, label="mean" if i == 0 else None)
            ax.annotate(f"{mean[variant]:.3f}", (i + 0.27, mean[variant]), va="center", fontsize=8)
        ax.set(title=title, ylabel=ylabel, xlim=(-0.6, len(VARIANTS) - 0.3), xticks=range(len(VARIANTS)),
               xticklabels=["batch norm\n+ dropout", "plain"])  # fmt: skip
    if full:
        axes[2].axhline(
            COURSE_TEST_ACC, ls="--", color="k", lw=1, label=f"course practical 5: {COURSE_TEST_ACC}"
        )
    axes[2].legend(loc="lower left")
    figure = save_figure(fig, ctx.out_dir, "abl-cifar3")

    claims = [
        Claim(
            "with batch norm and dropout the CNN learns the classes: test accuracy well above chance (1/3)",
            f"mean test accuracy > {ABOVE_CHANCE}",
            mean_test[course],
            mean_test[course] > ABOVE_CHANCE,
        ),
        Claim(
            "batch norm + dropout beat the same CNN without them on test accuracy",
            f"mean test accuracy over {n} seeds: batch norm + dropout > plain",
            mean_test,
            mean_test[course] > mean_test[plain],
        ),
        Claim(
            "batch norm + dropout narrow the generalisation gap (training minus test accuracy)",
            f"mean training - test accuracy over {n} seeds: batch norm + dropout < plain",
            gap,
            gap[course] < gap[plain],
        ),
    ]
    if full:
        claims.append(
            Claim(
                "the practical's CNN reaches about the course's test accuracy on CIFAR-10 airplane/cat/truck",
                f"|mean test accuracy - {COURSE_TEST_ACC}| <= {COURSE_TOLERANCE}",
                mean_test[course],
                abs(mean_test[course] - COURSE_TEST_ACC) <= COURSE_TOLERANCE,
                book_value=COURSE_TEST_ACC,
            )
        )
    values = {
        "data": settings["data"],
        "seeds": settings["seeds"],
        "test_acc": test_acc,
        "mean_test_acc": mean_test,
        "train_acc": train_acc,
        "gap": gaps,
        "mean_gap": gap,
        "course_test_acc": COURSE_TEST_ACC if full else None,
    }
    return RecipeOutput(figure, claims, values=values, runs=runs)


RECIPE = Recipe(
    id="abl-cifar3",
    title="The course practical's CNN on CIFAR-10 airplane / cat / truck: batch norm and dropout",
    book_ref="Section 6.3 (building a CNN; course practical 5)",
    chapter=6,
    claim="the CNN with batch norm and dropout: about 0.8 test accuracy (course), better than the plain CNN",
    run=run,
    minutes_quick=0.2,
)
