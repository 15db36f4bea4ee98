"""fig-4.4: early stopping (book section 4.2) on the MLP 784-400-200-100-50-10; runs early_stopping_mlp.

Two runs of the same network, seed and data. The first trains for all its epochs with Lightning's
ModelCheckpoint keeping the model of the lowest validation loss (`callbacks=best_checkpoint`,
checkpoints/best.ckpt): its curves show the training loss falling throughout while the validation
loss and error turn up after the best epoch, the early-stopping point. The second carries Lightning's
EarlyStopping on the validation loss (`callbacks=early_stopping`) and halts `patience` epochs after
its best epoch; until then it repeats the first run exactly.

Profiles. full: the book's settings, the first 1000 MNIST training images and the next 500 (data=mnist,
split=sequential), Adam lr 1e-5, batch 10, 200 epochs. quick: the same network and batch on
mnist_5k (1000 train / 500 validation drawn stratified, as mnist_5k is sorted by label), but lr 1e-4
and 50 epochs: at lr 1e-5 the validation loss on this subset reaches its minimum only near epoch 180
(measured: 200 epochs take about 3 minutes on one thread), so the quick profile moves ten times
faster along the same path and overfits by epoch 20. tiny: 100 / 200 images, lr 5e-4, 30 epochs.
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from mde_exp import store
from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import load_datamodule, load_model, read_epoch_metrics

SETTINGS = {
    "tiny": {
        "overrides": [
            "data.train_size=100",
            "data.val_size=200",
            "optimizer.lr=5e-4",
            "trainer.max_epochs=30",
        ],
    },
    "quick": {"overrides": ["optimizer.lr=1e-4", "trainer.max_epochs=50"]},
    "full": {"overrides": ["data=mnist", "data.split=sequential"]},
}
LAYERS = (784, 400, 200, 100, 50, 10)


def parameter_count(widths: tuple[int, ...]) -> int:
    """Weights and biases of a fully connected network with these layer widths: sum (n_{l-1} + 1) n_l."""
    return sum((a + 1) * b for a, b in zip(widths, widths[1:], strict=False))


def _validation(run_dir: Path, model: torch.nn.Module) -> tuple[float, float]:
    """(cross-entropy, error rate) of `model` on its run's validation split."""
    datamodule = load_datamodule(run_dir)
    x, y = datamodule.splits["val"]
    with torch.no_grad():
        logits = model(x.cpu())
    return float(F.cross_entropy(logits, y.cpu())), float((logits.argmax(1) != y.cpu()).float().mean())


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    base = ["+experiment=early_stopping_mlp", *settings["overrides"]]
    results = {}
    for job, result in ctx.sweep(base):  # the experiment's two jobs, by their callbacks
        results[next(o.split("=", 1)[1] for o in job if o.startswith("callbacks="))] = result
    full, stopped = results["best_checkpoint"], results["early_stopping"]
    config = OmegaConf.load(stopped.dir / "config.yaml")
    patience = int(config.callbacks.early_stopping.patience)
    max_epochs = int(config.trainer.max_epochs)

    frame = read_epoch_metrics(full.dir)
    epochs = frame.index.to_numpy() + 1
    train_loss = frame["train_eval/loss"].to_numpy()
    val_loss = frame["val/loss"].to_numpy()
    val_error = 1 - frame["val/acc"].to_numpy()
    train_error = 1 - frame["train_eval/acc"].to_numpy()
    best = int(val_loss.argmin())  # index of the early-stopping epoch (lowest validation loss)
    best_epoch = best + 1
    short = read_epoch_metrics(stopped.dir)
    stop_epoch = len(short)
    stopped_best_epoch = int(short["val/loss"].to_numpy().argmin()) + 1
    common = min(len(short), len(frame))
    same_path = float(np.abs(short["val/loss"].to_numpy()[:common] - val_loss[:common]).max())

    model = load_model(full.dir, "best.ckpt")
    checkpoint_epoch = store.checkpoint_epoch(full.dir / "checkpoints" / "best.ckpt")
    ckpt_loss, ckpt_error = _validation(full.dir, model)
    count = sum(p.numel() for p in model.parameters())
    widths = (int(model.hparams.input_dim), *model.hparams.hidden_sizes, int(model.hparams.num_classes))
    formula = parameter_count(widths)
    after = train_loss[best:]
    falling = float(np.mean(np.diff(after) < 0)) if len(after) > 1 else 0.0

    fig, (left, right) = subplots(1, 2, figsize=(12, 4.4))
    left.plot(epochs, train_loss, color="tab:blue", lw=1.6, label="training loss (cross-entropy)")
    left.set(xlabel="epoch", ylabel="training loss", yscale="log")
    twin = left.twinx()
    twin.plot(epochs, 100 * val_error, color="tab:red", lw=1.4, label="validation error")
    twin.set_ylabel("validation error (%)", color="tab:red")
    twin.tick_params(axis="y", colors="tab:red")
    twin.set_ylim(0, min(100, 200 * float(val_error[best:].max())))  # the early epochs' 90% go off the top
    twin.grid(False)
    for ax in (left, right):
        ax.axvline(best_epoch, color="k", ls="--", lw=1)
        ax.axvline(stop_epoch, color="tab:green", ls=":", lw=1.2)
    twin.plot(best_epoch, 100 * val_error[best], "o", color="k", ms=6, zorder=5)
    handles = [
        *left.get_lines()[:1],
        *twin.get_lines()[:1],
        left.get_lines()[1],
        right.plot([], [], ":", color="tab:green", label=f"EarlyStopping halts (patience {patience})")[0],
    ]
    handles[2].set_label(f"early stopping: epoch {best_epoch}, val. error {100 * val_error[best]:.1f}%")
    left.legend(handles=handles, loc="upper center", fontsize=8)
    left.set_title("(a) training loss and validation error against epoch")

    right.plot(epochs, train_loss, color="tab:blue", lw=1.6, label="training loss")
    right.plot(epochs, val_loss, color="tab:red", lw=1.6, label="validation loss")
    right.plot(np.arange(1, stop_epoch + 1), short["val/loss"], color="tab:green", lw=3, alpha=0.35,
               label="run with EarlyStopping")  # fmt: skip
    right.plot(best_epoch, val_loss[best], "o", color="k", ms=6, label="best epoch (best.ckpt)")
    right.set(xlabel="epoch", ylabel="cross-entropy", yscale="log")
    right.set_title("(b) training and validation loss: the U after the best epoch")
    right.legend(loc="lower left", fontsize=8)
    layers = "-".join(str(w) for w in widths)
    fig.suptitle(
        f"fig-4.4: early stopping, MLP {layers} ({count:,} parameters), {len(frame)} epochs, "
        f"lr {config.optimizer.lr:g}, batch {config.data.batch_size}",
        fontsize=10,
    )
    figure = save_figure(fig, ctx.out_dir, "fig-4.4")

    claims = [
        Claim(
            "the network overfits after the early-stopping epoch: the validation loss and error end above "
            "their values there",
            "val loss(last) > 1.2 val loss(best); val error(best) < val error(last)",
            {
                "val_loss_best": float(val_loss[best]),
                "val_loss_last": float(val_loss[-1]),
                "val_error_best": float(val_error[best]),
                "val_error_last": float(val_error[-1]),
            },
            val_loss[-1] > 1.2 * val_loss[best] and val_error[best] < val_error[-1],
        ),
        Claim(
            "the early-stopping epoch comes well before the end of training",
            f"best epoch <= 0.6 x {len(frame)} epochs",
            best_epoch,
            best_epoch <= 0.6 * len(frame),
        ),
        Claim(
            "the training loss keeps decreasing after the early-stopping epoch",
            "train loss(last) < train loss(best) / 5, and it falls in >= 80% of the later epochs",
            {
                "train_loss_best": float(train_loss[best]),
                "train_loss_last": float(train_loss[-1]),
                "fraction_of_epochs_falling": falling,
            },
            train_loss[-1] < train_loss[best] / 5 and falling >= 0.8,
        ),  # fmt: skip
        Claim(
            "the parameter count of the model is the formula's sum (n_{l-1} + 1) n_l",
            f"{formula:,} for {layers}",
            count,
            count == formula == parameter_count(LAYERS),
        ),
        Claim(
            "ModelCheckpoint kept the best epoch's model: reloaded, it gives that epoch's validation loss",
            "checkpoint epoch = best epoch; |loss - logged| < 1e-4; same error",
            {"checkpoint_epoch": checkpoint_epoch, "val_loss": ckpt_loss, "val_error": ckpt_error},
            checkpoint_epoch == best_epoch
            and abs(ckpt_loss - val_loss[best]) < 1e-4
            and abs(ckpt_error - val_error[best]) < 1e-6,
        ),
        Claim(
            "Lightning's EarlyStopping halts `patience` epochs after its best epoch, before max_epochs, "
            "having followed the full run exactly",
            f"stop = best + {patience} < {max_epochs}; max |val loss difference| < 1e-6",
            {"stop_epoch": stop_epoch, "its_best_epoch": stopped_best_epoch, "max_difference": same_path},
            stop_epoch == stopped_best_epoch + patience and stop_epoch < max_epochs and same_path < 1e-6,
        ),
    ]
    values = {
        "parameters": count,
        "parameters_formula": formula,
        "layers": list(widths),
        "best_epoch": best_epoch,
        "best_val_error": float(val_error[best]),
        "best_val_loss": float(val_loss[best]),
        "lowest_val_error": float(val_error.min()),
        "lowest_val_error_epoch": int(val_error.argmin()) + 1,
        "last_val_error": float(val_error[-1]),
        "last_val_loss": float(val_loss[-1]),
        "train_loss_best": float(train_loss[best]),
        "train_loss_last": float(train_loss[-1]),
        "train_error_last": float(train_error[-1]),
        "early_stopping": {"patience": patience, "stop_epoch": stop_epoch, "best_epoch": stopped_best_epoch},
        "epochs": len(frame),
        "lr": float(config.optimizer.lr),
        "batch_size": int(config.data.batch_size),
        "test_acc_last": full.metrics.get("test/acc"),
    }
    return RecipeOutput(figure, claims, values=values, runs=[str(full.dir), str(stopped.dir)])


RECIPE = Recipe(
    id="fig-4.4",
    title="Early stopping: training loss and validation error of an overfitting MLP",
    book_ref="Figure 4.4, section 4.2",
    chapter=4,
    claim="the training loss keeps falling while the validation error turns up; early stopping keeps the "
    "model of the best validation epoch",
    run=run,
    minutes_quick=0.8,
)
