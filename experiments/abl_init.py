"""abl-init: weight initialisation schemes with tanh and ReLU (book section 5.5); runs experiment init_sweep.

Five initialisations (zeros, small normal N(0, 0.01^2), large normal N(0, 1), Xavier, He) x {tanh, ReLU}
in a deep MLP, trained by plain SGD. Every run carries the LayerStatistics callback, whose
layer_stats.csv (per linear layer: activation and gradient statistics on a fixed batch, at
initialisation and after every epoch) is what the figure and the claims read back from the run store.
"""

import math
from typing import Any

import numpy as np
from matplotlib.lines import Line2D

from mde_exp.figures.style import save_figure, subplots
from mde_exp.layer_statistics import read_layer_stats
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import read_epoch_metrics

# Per profile: overrides of every run, and the seeds that are repeated.
SETTINGS = {
    "tiny": {
        "overrides": ["trainer.max_epochs=5", "data.train_size=1000", "data.val_size=500"],
        "seeds": [0],
    },
    "quick": {"overrides": ["trainer.max_epochs=10"], "seeds": [0, 1, 2]},
    "full": {"overrides": ["data=mnist", "trainer.max_epochs=25"], "seeds": [0, 1, 2]},
}
CASES = ("zeros", "small_normal", "large_normal", "xavier", "he")
LABELS = {
    "zeros": "zeros",
    "small_normal": "small normal (σ=0.01)",
    "large_normal": "large normal (σ=1)",
    "xavier": "Xavier/Glorot",
    "he": "He/Kaiming",
}
COLOURS = dict(zip(CASES, ["tab:gray", "tab:blue", "tab:red", "tab:green", "tab:purple"], strict=True))
ACTIVATIONS = ("tanh", "relu")
STYLE = {"tanh": "-", "relu": "--"}
NAMES = {"tanh": "tanh", "relu": "ReLU"}
MATCHED = {"tanh": "xavier", "relu": "he"}  # the scheme derived for each activation


def _value(job: list[str], key: str) -> str:
    return next(o.split("=", 1)[1] for o in job if o.startswith(f"{key}="))


def _per_layer(frames: list, column: str, epoch: int = 0) -> np.ndarray:
    """seeds x layers array of `column` at `epoch` (NaN where a run has no such row)."""
    rows = []
    for stats in frames:
        at = stats[stats.epoch == epoch].sort_values("layer")
        rows.append(at[column].to_numpy(dtype=float))
    return np.stack(rows)


def _last_epoch(frames: list, column: str) -> np.ndarray:
    """seeds x layers array of `column` at each run's last recorded epoch."""
    return np.stack(
        [s[s.epoch == s.epoch.max()].sort_values("layer")[column].to_numpy(float) for s in frames]
    )


def _json(value: Any) -> Any:
    """`value` with every non-finite float replaced by None (JSON has no NaN or infinity)."""
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _legend(ax, notes: dict[str, str], loc: str, extra=(), extra_labels=(), ncol: int = 1) -> None:
    """One legend entry per scheme (colour) and per activation (line style)."""
    handles = [Line2D([], [], color=COLOURS[c], marker="o", ms=4) for c in CASES]
    labels = [notes.get(c, LABELS[c]) for c in CASES]
    handles += [Line2D([], [], color="black", ls=STYLE[a]) for a in ACTIVATIONS] + list(extra)
    labels += [NAMES[a] for a in ACTIVATIONS] + list(extra_labels)
    ax.legend(handles, labels, loc=loc, fontsize=7, ncol=ncol)


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    stats: dict[tuple[str, str], list] = {}
    curves: dict[tuple[str, str], list] = {}
    status: dict[tuple[str, str], list[str]] = {}
    runs = []
    for seed in settings["seeds"]:
        for job, result in ctx.sweep(["+experiment=init_sweep", f"seed={seed}", *settings["overrides"]]):
            key = (_value(job, "init_case"), _value(job, "model.activation"))
            stats.setdefault(key, []).append(read_layer_stats(result.dir))
            curves.setdefault(key, []).append(read_epoch_metrics(result.dir))
            status.setdefault(key, []).append(result.status)
            runs.append(str(result.dir))
    epochs = max(int(f.index.max()) + 1 for frames in curves.values() for f in frames)

    # -- numbers behind the figure and the claims ------------------------------------------------
    hidden = lambda a: a[:, :-1]  # noqa: E731 (the last linear layer gives logits, not activations)
    post_std = {k: hidden(_per_layer(v, "post_std")) for k, v in stats.items()}  # seeds x hidden layers
    grad_std = {k: _per_layer(v, "out_grad_std") for k, v in stats.items()}  # seeds x linear layers
    saturated = {k: float(np.nanmean(hidden(_per_layer(v, "post_saturated")))) for k, v in stats.items()}
    act_ratio = {
        k: float(np.mean(v[:, -1] / v[:, 0])) if v[:, 0].all() else math.nan for k, v in post_std.items()
    }
    grad_ratio = {
        k: float(np.mean(v[:, 0] / v[:, -1])) if v[:, -1].all() else math.nan for k, v in grad_std.items()
    }
    final_loss: dict[tuple[str, str], float] = {}
    final_acc: dict[tuple[str, str], float] = {}
    for key, frames in curves.items():
        losses = [
            f["train_eval/loss"].iloc[-1] if st == "finished" else math.inf
            for f, st in zip(frames, status[key], strict=True)
        ]
        final_loss[key] = float(np.mean(losses))
        accs = [f["val/acc"].iloc[-1] for f, st in zip(frames, status[key], strict=True) if st == "finished"]
        final_acc[key] = float(np.mean(accs)) if accs else math.nan  # none when every run diverged
    # Zero initialisation: the spread across the units of each hidden layer after training.
    columns = ("weight_unit_spread", "post_unit_spread")
    zero_spread = {
        act: float(max(np.nanmax(hidden(_last_epoch(stats[("zeros", act)], c))) for c in columns))
        for act in ACTIVATIONS
    }
    he_spread = float(np.nanmin(hidden(_last_epoch(stats[("he", "relu")], "weight_unit_spread"))))

    # -- figure ----------------------------------------------------------------------------------
    fig, axes = subplots(2, 2, figsize=(12, 8.2))
    for ax, act, panel in zip(axes[0], ACTIVATIONS, "ab", strict=True):
        for case in CASES:
            values = post_std[(case, act)]
            layers = np.arange(1, values.shape[1] + 1)
            if not np.any(values > 0):
                ax.plot(
                    [], [], "o-", color=COLOURS[case], label=f"{LABELS[case]}: exactly 0 (off the log scale)"
                )
                continue
            ax.plot(layers, values.mean(0), "o-", color=COLOURS[case], label=LABELS[case])
            if len(values) > 1:
                ax.fill_between(layers, values.min(0), values.max(0), color=COLOURS[case], alpha=0.2)
        ax.set(
            title=f"({panel}) {NAMES[act]}: activation std per hidden layer at initialisation",
            xlabel="hidden layer l",
            ylabel="std of activations $h_l$",
            yscale="log",
            xticks=layers,
        )
        ax.legend(loc="lower left")
    ax = axes[1, 0]
    for case in CASES:
        for act in ACTIVATIONS:
            values = grad_std[(case, act)]
            layers = np.arange(1, values.shape[1] + 1)
            shown = np.where(values.mean(0) > 0, values.mean(0), np.nan)
            ax.plot(layers, shown, "o" + STYLE[act], color=COLOURS[case], ms=4)
    ax.set(
        title="(c) backpropagated gradient std per layer at initialisation",
        xlabel="layer l (the last is the output layer)",
        ylabel="std of $\\partial$ loss / $\\partial z_l$",
        yscale="log",
        xticks=layers,
    )
    _legend(ax, {"zeros": "zeros: 0 below the output layer"}, loc="lower right", ncol=2)
    ax = axes[1, 1]
    notes = {"zeros": "zeros (flat at ln 10, under small normal)"}
    for case in CASES:
        for act in ACTIVATIONS:
            frames = [
                f for f, st in zip(curves[(case, act)], status[(case, act)], strict=True) if st == "finished"
            ]
            if not frames:
                notes[case] = f"{LABELS[case]} ({NAMES[act]}: diverged, loss NaN)"
                continue
            stack = np.stack([f["train_eval/loss"].to_numpy() for f in frames])
            x = frames[0].index.to_numpy() + 1
            ax.plot(x, stack.mean(0), STYLE[act], color=COLOURS[case])
            if len(stack) > 1:
                ax.fill_between(x, stack.min(0), stack.max(0), color=COLOURS[case], alpha=0.15)
    ax.axhline(math.log(10), color="black", lw=0.8, ls=":")
    ax.set(
        title=f"(d) training loss (mean and range over {len(settings['seeds'])} seeds)",
        xlabel="epoch",
        ylabel="cross-entropy on training examples",
        yscale="log",
        ylim=(None, 150),  # room for the legend above the curves
    )
    _legend(
        ax,
        notes,
        loc="upper right",
        extra=[Line2D([], [], color="black", lw=0.8, ls=":")],
        extra_labels=["ln 10: a uniform guess"],
    )
    fig.suptitle(
        "Initialisation schemes in a deep MLP (SGD): signal propagation at initialisation and training"
    )
    figure = save_figure(fig, ctx.out_dir, "abl-init")

    # -- claims ----------------------------------------------------------------------------------
    small = {act: act_ratio[("small_normal", act)] for act in ACTIVATIONS}
    small_grad = {act: grad_ratio[("small_normal", act)] for act in ACTIVATIONS}
    matched = {act: act_ratio[(MATCHED[act], act)] for act in ACTIVATIONS}
    others = ("zeros", "small_normal", "large_normal")
    trains_best = {
        act: {
            "worse of Xavier/He": max(final_loss[("xavier", act)], final_loss[("he", act)]),
            "best of the others": min(final_loss[(c, act)] for c in others),
        }
        for act in ACTIVATIONS
    }
    ln10 = math.log(10)
    claims = [
        Claim(
            "zero initialisation keeps every unit of a hidden layer identical (incoming weights and "
            "activations have no spread across units after training)",
            "max spread across units < 1e-6 (He/ReLU for contrast: > 1e-3)",
            {**{f"zeros {a}": zero_spread[a] for a in ACTIVATIONS}, "he relu": he_spread},
            all(v < 1e-6 for v in zero_spread.values()) and he_spread > 1e-3,
        ),
        Claim(
            "zero initialisation does not learn: the training loss stays at ln 10",
            "|final training loss - ln 10| < 0.02 and validation accuracy < 0.15",
            {
                f"zeros {a}": {"loss": final_loss[("zeros", a)], "val_acc": final_acc[("zeros", a)]}
                for a in ACTIVATIONS
            },
            all(
                abs(final_loss[("zeros", a)] - ln10) < 0.02 and final_acc[("zeros", a)] < 0.15
                for a in ACTIVATIONS
            ),
        ),
        Claim(
            "small normal: activations and backpropagated gradients shrink geometrically with depth",
            "activation std last/first hidden layer < 1e-3 and gradient std first/last layer < 1e-3",
            {"activation": small, "gradient": small_grad},
            all(v < 1e-3 for v in [*small.values(), *small_grad.values()]),
        ),
        Claim(
            "large normal: tanh units saturate at ±1, ReLU activations grow by orders of magnitude",
            "tanh: fraction |h| > 0.99 > 0.5; ReLU: activation std last/first hidden layer > 100",
            {
                "tanh saturated": saturated[("large_normal", "tanh")],
                "relu ratio": act_ratio[("large_normal", "relu")],
            },
            saturated[("large_normal", "tanh")] > 0.5 and act_ratio[("large_normal", "relu")] > 100,
        ),
        Claim(
            "Xavier with tanh and He with ReLU keep the activation std level across the layers",
            "activation std last/first hidden layer in [0.5, 2]",
            {f"{MATCHED[a]} {a}": matched[a] for a in ACTIVATIONS},
            all(0.5 <= v <= 2 for v in matched.values()),
        ),
        Claim(
            f"Xavier and He train fastest: lower training loss after {epochs} epochs than zeros, small "
            "and large normal (a diverged run counts as infinite loss)",
            "max(loss Xavier, loss He) < 0.5 x min(loss of the others), for tanh and for ReLU",
            trains_best,
            all(v["worse of Xavier/He"] < 0.5 * v["best of the others"] for v in trains_best.values()),
        ),
    ]
    values = {
        "activation_ratio_last_first": {f"{c} {a}": v for (c, a), v in act_ratio.items()},
        "gradient_ratio_first_last": {f"{c} {a}": v for (c, a), v in grad_ratio.items()},
        "tanh_saturated": {c: saturated[(c, "tanh")] for c in CASES},
        "final_train_loss": {f"{c} {a}": v for (c, a), v in final_loss.items()},
        "final_val_acc": {f"{c} {a}": v for (c, a), v in final_acc.items()},
        "status": {f"{c} {a}": v for (c, a), v in status.items()},
        "epochs": epochs,
        "seeds": settings["seeds"],
    }
    for claim in claims:
        claim.measured = _json(claim.measured)
    return RecipeOutput(figure, claims, values=_json(values), runs=runs)


RECIPE = Recipe(
    id="abl-init",
    title="Initialisation schemes: per-layer statistics at initialisation and training curves",
    book_ref="Section 5.5 (initialisation)",
    chapter=5,
    claim="Xavier (tanh) and He (ReLU) keep activations and gradients level across layers and train; "
    "zeros keep units identical, small weights vanish, large weights saturate or explode",
    run=run,
    minutes_quick=1.0,
)
