"""abl-batchnorm: batch norm trains faster and tolerates larger learning rates (book section 5.6).

Runs experiment batchnorm_sweep (norm none / batch x SGD learning rates), and the same pair trained by
Adam at lr 0.001 as in the course (784-128-64-10: about 0.97 test accuracy, 0.977 with batch norm).
"""

import math

import numpy as np
import pandas as pd

from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.run import RunResult
from mde_exp.store import read_epoch_metrics

# Per profile: overrides of every run, the seeds repeated, and (tiny only) fewer learning rates.
SETTINGS = {
    "tiny": {
        "overrides": [
            "trainer.max_epochs=6",
            "data.train_size=1000",
            "data.val_size=500",
            "data.test_size=500",
            "data.eval_train_size=500",
            "data.batch_size=64",
        ],
        "sweep": ["optimizer.lr=0.1,1.0,3.0"],
        "seeds": [0],
    },
    "quick": {"overrides": ["trainer.max_epochs=15"], "sweep": [], "seeds": [0, 1, 2]},
    "full": {"overrides": ["data=mnist", "trainer.max_epochs=25"], "sweep": [], "seeds": [0, 1, 2]},
}
ADAM = ["optimizer=adam", "optimizer.lr=0.001"]  # the course's setting, for the accuracy comparison
COURSE_TEST_ACC = {"none": 0.97, "batch": 0.977}  # course: 784-128-64-10, Adam, full MNIST
NORMS = ("none", "batch")
EARLY_EPOCH = 3  # "trains faster": the curves compared after this many epochs
TRAINS = 0.5  # a run "trains" when its final validation accuracy exceeds this (chance is 0.1)
STYLE = {"none": ("tab:red", "no batch norm"), "batch": ("tab:blue", "batch norm")}


def _value(job: list[str], key: str) -> str:
    return next(o.split("=", 1)[1] for o in job if o.startswith(f"{key}="))


def _final(frame: pd.DataFrame, key: str) -> float:
    """The run's last recorded value of `key` (a diverged run keeps its last finite record), or NaN."""
    values = frame[key].dropna() if key in frame else pd.Series(dtype=float)
    return float(values.iloc[-1]) if len(values) else float("nan")


def _band(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, min and max over seeds (rows) of the finite values of each epoch (NaN where none is)."""
    finite = np.isfinite(stack)
    count = finite.sum(0)
    total = np.where(finite, stack, 0.0).sum(0)
    mean = np.divide(total, count, out=np.full(stack.shape[1], np.nan), where=count > 0)
    low = np.where(finite, stack, np.inf).min(0)
    high = np.where(finite, stack, -np.inf).max(0)
    return mean, np.where(count > 0, low, np.nan), np.where(count > 0, high, np.nan)


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    # runs[(norm, lr)] = list of (epoch metrics, result) over seeds
    runs: dict[tuple[str, float], list[tuple[pd.DataFrame, RunResult]]] = {}
    adam: dict[str, list[RunResult]] = {}
    dirs = []
    for seed in settings["seeds"]:
        common = ["+experiment=batchnorm_sweep", f"seed={seed}", *settings["overrides"]]
        for job, result in ctx.sweep([*common, *settings["sweep"]]):
            key = (_value(job, "norm"), float(_value(job, "optimizer.lr")))
            runs.setdefault(key, []).append((read_epoch_metrics(result.dir), result))
            dirs.append(str(result.dir))
        for job, result in ctx.sweep([*common, *ADAM]):
            adam.setdefault(_value(job, "norm"), []).append(result)
            dirs.append(str(result.dir))
    lrs = sorted({lr for _, lr in runs})

    def stat(norm: str, lr: float, key: str, epoch: int | None = None) -> float:
        """Mean over seeds of `key` at `epoch` (index from 1), or at the end; NaN if a seed lacks it."""
        vals = []
        for frame, _result in runs[(norm, lr)]:
            if epoch is None:
                vals.append(_final(frame, key))
            else:
                vals.append(float(frame[key].get(epoch - 1, math.nan)))
        return float(np.mean(vals))

    diverged = {k: sum(r.status == "diverged" for _, r in v) for k, v in runs.items()}
    final_acc = {k: [_final(f, "val/acc") for f, r in v] for k, v in runs.items()}
    trains = {
        k: diverged[k] == 0 and float(np.nanmean(final_acc[k])) > TRAINS for k in runs
    }  # every seed finite, and it learnt

    # Figure: one panel of training-loss curves per learning rate, then final accuracy against lr.
    ncols = 3
    nrows = math.ceil((len(lrs) + 1) / ncols)
    fig, axes = subplots(nrows, ncols, figsize=(4.3 * ncols, 3.4 * nrows), squeeze=False)
    flat = axes.ravel()
    for ax, lr in zip(flat, lrs, strict=False):
        for norm in NORMS:
            colour, label = STYLE[norm]
            frames = [f for f, _ in runs[(norm, lr)]]
            length = max(len(f) for f in frames)
            stack = np.full((len(frames), length), np.nan)
            for i, f in enumerate(frames):
                stack[i, : len(f)] = f["train_eval/loss"].to_numpy()
            epochs = np.arange(1, length + 1)
            mean, low, high = _band(stack)
            bad = [r for _, r in runs[(norm, lr)] if r.status == "diverged"]
            if bad:
                label += f" ({len(bad)} of {len(frames)} seeds diverged: x)"
            ax.plot(epochs, mean, color=colour, label=label)
            if len(frames) > 1:
                ax.fill_between(epochs, low, high, color=colour, alpha=0.2)
            for result in bad:  # where the loss stopped being finite, on the panel's top edge
                at = (result.summary.get("diverged_at_epoch") or 0) + 1
                ax.plot(at, 0.96, "x", color=colour, ms=10, mew=2.5, transform=ax.get_xaxis_transform())
        ax.axhline(math.log(10), color="grey", lw=0.8, ls="--", label="chance (ln 10)")
        ax.set(
            title=f"({chr(97 + lrs.index(lr))}) SGD, learning rate {lr:g}",
            xlabel="epoch",
            ylabel="training loss (cross-entropy)",
            yscale="log",
        )
        ax.legend(loc="lower left")
    ax = flat[len(lrs)]
    for norm in NORMS:
        colour, label = STYLE[norm]
        accs = np.array([final_acc[(norm, lr)] for lr in lrs])
        ax.errorbar(
            lrs,
            np.nanmean(accs, 1),
            yerr=np.nanstd(accs, 1),
            color=colour,
            marker="o",
            capsize=3,
            label=label,
        )
        for lr in lrs:
            if diverged[(norm, lr)]:
                ax.plot(lr, np.nanmean(final_acc[(norm, lr)]), "x", color=colour, ms=11, mew=2.5)
        adam_acc = np.mean([r.metrics["test/acc"] for r in adam[norm]])
        ax.axhline(adam_acc, color=colour, ls=":", label=f"{label}, Adam 0.001 (test)")
    ax.axhline(0.1, color="grey", lw=0.8, ls="--", label="chance")
    ax.plot([], [], "x", color="k", ms=9, mew=2, label="a seed diverged")
    ax.set(
        title=f"({chr(97 + len(lrs))}) final validation accuracy",
        xlabel="SGD learning rate",
        ylabel="validation accuracy",
        xscale="log",
        ylim=(0, 1.02),
    )
    ax.legend(loc="lower left")
    for extra in flat[len(lrs) + 1 :]:
        extra.set_visible(False)
    figure = save_figure(fig, ctx.out_dir, "abl-batchnorm")

    # Claims.
    usable = [lr for lr in lrs if trains[("none", lr)]]  # the rates at which the plain net learns
    early_ratio = {
        f"{lr:g}": stat("batch", lr, "train_eval/loss", EARLY_EPOCH)
        / stat("none", lr, "train_eval/loss", EARLY_EPOCH)
        for lr in usable
    }
    early_acc = {f"{lr:g}": {n: stat(n, lr, "val/acc", EARLY_EPOCH) for n in NORMS} for lr in usable}
    largest = {n: max((lr for lr in lrs if trains[(n, lr)]), default=None) for n in NORMS}
    top = largest["batch"]
    adam_acc = {n: float(np.mean([r.metrics["test/acc"] for r in adam[n]])) for n in NORMS}
    full = ctx.profile == "full"
    claims = [
        Claim(
            f"batch norm trains faster: training loss after {EARLY_EPOCH} epochs, batch norm / none",
            f"< 0.8 at every learning rate at which the plain net learns (at least one: {usable})",
            early_ratio,
            bool(usable) and all(r < 0.8 for r in early_ratio.values()),
        ),
        Claim(
            f"batch norm reaches a higher validation accuracy after {EARLY_EPOCH} epochs at the same rate",
            "val acc(batch) > val acc(none) at every learning rate at which the plain net learns",
            early_acc,
            bool(usable) and all(a["batch"] > a["none"] for a in early_acc.values()),
        ),
        Claim(
            "batch norm tolerates larger learning rates: the largest rate that still trains "
            f"(no seed diverges, final val acc > {TRAINS})",
            "largest rate(batch) > largest rate(none); at it the plain net diverges or stalls",
            {
                **{n: largest[n] for n in NORMS},
                **(
                    {
                        f"plain net at {top:g}": {
                            "val_acc": float(np.nanmean(final_acc[("none", top)])),
                            "diverged_seeds": diverged[("none", top)],
                        }
                    }
                    if top is not None
                    else {}
                ),
            },
            top is not None and (largest["none"] is None or top > largest["none"]),
        ),
        Claim(
            "with Adam (lr 0.001, the course's setting) batch norm costs no test accuracy",
            "test acc(batch) >= test acc(none) - 0.01"
            + ("; course 0.97 without, 0.977 with batch norm" if full else ""),
            adam_acc,
            adam_acc["batch"] >= adam_acc["none"] - 0.01,
            book_value=COURSE_TEST_ACC if full else None,
        ),
    ]
    values = {
        "learning_rates": lrs,
        "final_val_acc": {n: {f"{lr:g}": float(np.nanmean(final_acc[(n, lr)])) for lr in lrs} for n in NORMS},
        "diverged_seeds": {n: {f"{lr:g}": diverged[(n, lr)] for lr in lrs} for n in NORMS},
        "largest_trainable_lr": largest,
        "early_loss_ratio": early_ratio,
        "adam_test_acc": adam_acc,
        "seeds": settings["seeds"],
    }
    return RecipeOutput(figure, claims, values=values, runs=dirs)


RECIPE = Recipe(
    id="abl-batchnorm",
    title="Batch normalisation across learning rates",
    book_ref="Section 5.6 (batch normalisation)",
    chapter=5,
    claim="batch norm trains faster and tolerates larger learning rates than the plain network",
    run=run,
    minutes_quick=1.5,
)
