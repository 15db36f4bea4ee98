"""abl-regularization: the L2 penalty and early stopping (book section 5.7); runs regularization_sweep.

A wide MLP (784-512-512-10) is trained on a small training set so that it overfits. The L2 part trains
it with penalty strength lambda in {0, 1e-3, 1e-2} (SGD with momentum, whose weight_decay is exactly the
gradient of (lambda / 2) ||w||^2), without early stopping; the early-stopping part trains the
unpenalised net with `callbacks=early_stopping` (validation loss, patience from its config). Because the
runs share seed and data, the early-stopped run follows the un-stopped run exactly until it stops.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import OmegaConf

from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import read_epoch_metrics

# Per profile: overrides of every run, the seeds repeated, and how many final epochs the end-of-training
# numbers are averaged over. The early-stopping patience comes from conf/callbacks/early_stopping.yaml
# unless the profile overrides it.
SETTINGS = {
    "tiny": {
        "overrides": ["trainer.max_epochs=16", "data.batch_size=64"],
        "early_stopping": ["callbacks.early_stopping.patience=4"],
        "seeds": [0],
        "last_epochs": 2,
    },
    "quick": {
        "overrides": ["trainer.max_epochs=40", "data.batch_size=64"],
        "early_stopping": [],
        "seeds": [0, 1, 2],
        "last_epochs": 3,
    },
    "full": {
        "overrides": ["data=mnist", "data.train_size=5000", "trainer.max_epochs=60", "data.batch_size=64"],
        "early_stopping": [],
        "seeds": [0, 1, 2],
        "last_epochs": 3,
    },
}
COLOURS = ["tab:red", "tab:orange", "tab:blue", "tab:green", "tab:purple"]
NEAR_MINIMUM = 2  # epochs: how close the early-stopped run's best epoch must be to the un-stopped minimum


def weight_norm(run_dir: Path) -> float:
    """The Frobenius norm of all weight matrices (biases excluded) of a run's last checkpoint."""
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    squares = [float((v.float() ** 2).sum()) for k, v in state["state_dict"].items() if k.endswith("weight")]
    return float(np.sqrt(sum(squares)))


def _lambda(job: list[str]) -> float:
    return float(next(o.split("=", 1)[1] for o in job if o.startswith("optimizer.weight_decay=")))


def _stack(frames: list[pd.DataFrame], key: str) -> np.ndarray:
    return np.stack([f[key].to_numpy() for f in frames])


def _band(ax, x, values: np.ndarray, colour: str, **kwargs) -> None:
    ax.plot(x, values.mean(0), color=colour, **kwargs)
    if values.shape[0] > 1:
        ax.fill_between(x, values.min(0), values.max(0), color=colour, alpha=0.2)


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    base = ["+experiment=regularization_sweep", *settings["overrides"]]
    l2: dict[float, list[pd.DataFrame]] = {}
    norms: dict[float, list[float]] = {}
    stopped: list[dict] = []
    runs = []
    for seed in settings["seeds"]:
        # The L2 part: every lambda of the sweep, no early stopping.
        for job, result in ctx.sweep([*base, f"seed={seed}", "callbacks=none"]):
            lam = _lambda(job)
            l2.setdefault(lam, []).append(read_epoch_metrics(result.dir))
            norms.setdefault(lam, []).append(weight_norm(result.dir))
            runs.append(str(result.dir))
        # The early-stopping part: the unpenalised net with early stopping on the validation loss.
        es_overrides = ["optimizer.weight_decay=0.0", "callbacks=early_stopping", *settings["early_stopping"]]
        for _, result in ctx.sweep([*base, f"seed={seed}", *es_overrides]):
            config = OmegaConf.load(result.dir / "config.yaml")
            frame = read_epoch_metrics(result.dir)
            stopped.append(
                {
                    "frame": frame,
                    "patience": int(config.callbacks.early_stopping.patience),
                    "max_epochs": int(config.trainer.max_epochs),
                }
            )
            runs.append(str(result.dir))
    lams = sorted(l2)
    if len(lams) < 2 or lams[0] != 0.0:
        raise ValueError(f"abl-regularization needs lambda = 0 and at least one penalty; got {lams}")
    last = settings["last_epochs"]

    # End-of-training numbers per lambda (means over seeds of the last epochs).
    final = {}
    for lam in lams:
        frames = l2[lam]
        train, val = _stack(frames, "train_eval/loss"), _stack(frames, "val/loss")
        final[lam] = {
            "train_loss": float(train[:, -last:].mean()),
            "val_loss": float(val[:, -last:].mean()),
            "loss_gap": float((val - train)[:, -last:].mean()),
            "acc_gap": float(
                (_stack(frames, "train_eval/acc") - _stack(frames, "val/acc"))[:, -last:].mean()
            ),
            "val_acc": float(_stack(frames, "val/acc")[:, -last:].mean()),
            "weight_norm": float(np.mean(norms[lam])),
        }

    # Early stopping against the un-stopped unpenalised run of the same seed.
    es = []
    for record, full in zip(stopped, l2[0.0], strict=True):
        frame = record["frame"]
        best_epoch = int(frame["val/loss"].to_numpy().argmin()) + 1
        es.append(
            {
                "stopped_at_epoch": len(frame),
                "max_epochs": record["max_epochs"],
                "patience": record["patience"],
                "best_epoch": best_epoch,
                "unstopped_best_epoch": int(full["val/loss"].to_numpy().argmin()) + 1,
                "best_val_loss": float(frame["val/loss"].min()),
                "unstopped_final_val_loss": float(full["val/loss"].to_numpy()[-last:].mean()),
            }
        )

    fig, axes = subplots(1, 4, figsize=(17, 4.2))
    epochs = np.arange(1, len(l2[0.0][0]) + 1)
    colours = dict(zip(lams, COLOURS, strict=False))
    for lam in lams:
        c, name = colours[lam], f"λ={lam:g}"
        _band(axes[0], epochs, _stack(l2[lam], "val/loss"), c, lw=1.5, label=f"{name} validation")
        axes[0].plot(epochs, _stack(l2[lam], "train_eval/loss").mean(0), "--", color=c, lw=1.2)
        xs = np.full(len(norms[lam]), lams.index(lam))
        axes[1].scatter(xs, norms[lam], color=c, s=18, zorder=3)
    axes[0].set(title="(a) loss with L2 penalty λ (dashed: train)", xlabel="epoch", ylabel="cross-entropy")
    axes[0].set(yscale="log")
    axes[0].legend()
    ticks = [f"{lam:g}" for lam in lams]
    axes[1].plot(range(len(lams)), [final[lam]["weight_norm"] for lam in lams], "k-", lw=1, label="mean")
    axes[1].set(title="(b) weight norm after training", xlabel="L2 penalty λ", ylabel="||W|| (Frobenius)")
    axes[1].set_xticks(range(len(lams)), ticks)
    axes[1].legend()
    width = 0.38
    idx = np.arange(len(lams))
    axes[2].bar(idx - width / 2, [final[lam]["train_loss"] for lam in lams], width, label="train loss")
    axes[2].bar(idx + width / 2, [final[lam]["val_loss"] for lam in lams], width, label="validation loss")
    axes[2].set_xticks(idx, ticks)
    axes[2].set(
        title="(c) final losses: the gap narrows with λ", xlabel="L2 penalty λ", ylabel="cross-entropy"
    )
    axes[2].legend()
    for i, (record, item) in enumerate(zip(stopped, es, strict=True)):
        full_val = l2[0.0][i]["val/loss"].to_numpy()
        frame = record["frame"]
        axes[3].plot(epochs, full_val, color="0.6", lw=1, label="no early stopping" if i == 0 else None)
        stop = np.arange(1, len(frame) + 1)
        axes[3].plot(
            stop, frame["val/loss"], color="tab:green", lw=1.8, label="early stopping" if i == 0 else None
        )
        axes[3].axvline(item["stopped_at_epoch"], color="tab:green", ls=":", lw=1)
        axes[3].plot(item["best_epoch"], item["best_val_loss"], "o", color="tab:green", ms=5)
    tail = np.concatenate([f["val/loss"].to_numpy()[2:] for f in l2[0.0]])
    axes[3].set_ylim(0.9 * tail.min(), 1.25 * tail.max())  # the first epochs' losses would flatten the rest
    axes[3].plot([], [], "o", color="tab:green", label="best epoch (lowest val loss)")
    axes[3].plot([], [], ":", color="tab:green", label="stopped (patience later)")
    axes[3].set(title="(d) early stopping, λ=0: validation loss", xlabel="epoch", ylabel="validation loss")
    axes[3].legend()
    for ax in axes:
        ax.title.set_fontsize(9)
    n = len(settings["seeds"])
    fig.suptitle(
        f"abl-regularization: MLP 784-512-512-10 overfitting a small MNIST training set; {n} seed(s), "
        "mean and range",
        fontsize=10,
    )
    figure = save_figure(fig, ctx.out_dir, "abl-regularization")

    none, strongest = final[lams[0]], final[lams[-1]]
    norms_mean = [final[lam]["weight_norm"] for lam in lams]
    gap_ratio = strongest["loss_gap"] / none["loss_gap"]
    stops = [e["stopped_at_epoch"] for e in es]
    offsets = [e["best_epoch"] - e["unstopped_best_epoch"] for e in es]
    best_vs_final = [e["best_val_loss"] / e["unstopped_final_val_loss"] for e in es]
    claims = [
        Claim(
            "the L2 penalty shrinks the weights: ||W|| decreases as λ grows",
            " > ".join(f"||W||(λ={lam:g})" for lam in lams),
            {f"{lam:g}": v for lam, v in zip(lams, norms_mean, strict=True)},
            all(a > b for a, b in zip(norms_mean, norms_mean[1:], strict=False)),
        ),
        Claim(
            f"L2 (λ={lams[-1]:g}) narrows the train-validation loss gap of the unpenalised net",
            f"gap(λ={lams[-1]:g}) / gap(0) < 0.75",
            gap_ratio,
            gap_ratio < 0.75,
        ),
        Claim(
            "every L2 penalty lowers the final validation loss",
            "val loss(λ) < val loss(0) for every λ > 0",
            {f"{lam:g}": final[lam]["val_loss"] for lam in lams},
            all(final[lam]["val_loss"] < none["val_loss"] for lam in lams[1:]),
        ),
        Claim(
            f"a moderate L2 penalty (λ={lams[1]:g}) costs no validation accuracy",
            f"val acc(λ={lams[1]:g}) >= val acc(0) - 0.01",
            {f"{lam:g}": final[lam]["val_acc"] for lam in lams},
            final[lams[1]]["val_acc"] >= none["val_acc"] - 0.01,
        ),
        Claim(
            "early stopping stops before max_epochs",
            f"stopped epoch < max_epochs ({es[0]['max_epochs']})",
            stops,
            all(e["stopped_at_epoch"] < e["max_epochs"] for e in es),
        ),
        Claim(
            "it stops `patience` epochs after the validation-loss minimum of the un-stopped run",
            f"best epoch = stop - patience, within {NEAR_MINIMUM} epochs of the un-stopped minimum",
            {
                "best_epoch - unstopped_minimum": offsets,
                "stop - best": [s - e["best_epoch"] for s, e in zip(stops, es, strict=True)],
            },
            all(abs(o) <= NEAR_MINIMUM for o in offsets)
            and all(s - e["best_epoch"] == e["patience"] for s, e in zip(stops, es, strict=True)),
        ),
        Claim(
            "the early-stopped net's best validation loss is below the un-stopped net's final one",
            "best val loss (early stopping) / final val loss (none) < 0.9, every seed",
            best_vs_final,
            max(best_vs_final) < 0.9,
        ),
    ]
    values = {
        "l2": {f"{lam:g}": final[lam] for lam in lams},
        "early_stopping": es,
        "seeds": settings["seeds"],
    }
    return RecipeOutput(figure, claims, values=values, runs=runs)


RECIPE = Recipe(
    id="abl-regularization",
    title="L2 penalty (weight decay) and early stopping on an overfitting MLP",
    book_ref="Section 5.7 (L2 regularisation, early stopping)",
    chapter=5,
    claim="an L2 penalty shrinks the weights and narrows the generalisation gap; early stopping halts "
    "near the validation-loss minimum, below the un-stopped net's final validation loss",
    run=run,
    minutes_quick=0.8,
)
