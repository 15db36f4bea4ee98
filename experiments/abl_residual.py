"""abl-residual: plain against residual networks as depth grows, by training error (book section 6.4).

Runs experiment residual_sweep: the ResNet of basic blocks with and without its shortcuts at 1, 3 and 6
blocks per stage (depth 8, 20, 38), all trained alike (SGD with momentum on a cosine schedule, batch norm,
He init). He et al. (2016), whose result the book's section 6.4 recounts: the deeper plain net has the
HIGHER training error (degradation, not overfitting, and with batch norm not vanishing gradients), while
the residual net trains as well when deeper. The full profile is their CIFAR-10 set-up: channels
[16, 32, 64], depths 20, 32, 44, 56.
"""

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from mde_exp.figures.style import save_figure, subplots
from mde_exp.models.resnet import resnet_depth
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import read_epoch_metrics

# Per profile: overrides of every run, the blocks per stage swept, and the seeds that are repeated.
SETTINGS = {
    "tiny": {"overrides": ["trainer.max_epochs=5"], "blocks": "1,6", "seeds": [0]},
    "quick": {"overrides": ["trainer.max_epochs=10"], "blocks": "1,3,6", "seeds": [0, 1]},
    "full": {
        "overrides": [
            "data=cifar10",
            "data.batch_size=128",
            "data.eval_train_size=5000",
            "model.channels=[16,32,64]",
            "optimizer.lr=0.1",
            "trainer.max_epochs=60",
        ],
        "blocks": "3,5,7,9",
        "seeds": [0, 1],
    },
}
RESIDUAL_SLACK = 0.05  # "the deepest residual net trains as well": its training error at most this above
PLAIN_GAP = 0.1  # "the deepest plain net trains worse": its training error more than this above
KINDS = {False: "plain", True: "residual"}


def _error(frame: pd.DataFrame) -> np.ndarray:
    """Training error per epoch: 1 - accuracy on the training split, scored in eval mode."""
    return 1.0 - frame["train_eval/acc"].to_numpy()


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    error: dict[tuple[str, int], list[float]] = {}  # (plain | residual, depth) -> final training error
    loss: dict[tuple[str, int], list[float]] = {}
    test_acc: dict[tuple[str, int], list[float]] = {}
    curves: dict[tuple[str, int], list[pd.DataFrame]] = {}
    params: dict[tuple[str, int], int] = {}
    dirs = []
    for seed in settings["seeds"]:
        jobs = ctx.sweep(
            ["+experiment=residual_sweep", f"seed={seed}", f"model.blocks_per_stage={settings['blocks']}",
             *settings["overrides"]]
        )  # fmt: skip
        for _, result in jobs:
            model = OmegaConf.load(result.dir / "config.yaml").model
            key = (KINDS[bool(model.residual)], resnet_depth(model.blocks_per_stage, len(model.channels)))
            frame = read_epoch_metrics(result.dir)
            curves.setdefault(key, []).append(frame)
            error.setdefault(key, []).append(float(_error(frame)[-1]))
            loss.setdefault(key, []).append(float(frame["train_eval/loss"].iloc[-1]))
            test_acc.setdefault(key, []).append(float(result.metrics.get("test/acc", np.nan)))
            params[key] = int(result.summary.get("parameters", 0))
            dirs.append(str(result.dir))
    depths = sorted({d for _, d in error})
    mean = {k: float(np.mean(v)) for k, v in error.items()}
    # How slowly each net trains: its training error averaged over the epochs (the area under its curve).
    area = {k: float(np.mean([_error(f).mean() for f in frames])) for k, frames in curves.items()}

    fig, grid_axes = subplots(2, 2, figsize=(12, 8.5))
    axes = grid_axes.ravel()
    colours = dict(
        zip(depths, ["tab:blue", "tab:orange", "tab:red", "tab:purple", "tab:green"], strict=False)
    )
    styles = {"plain": "--", "residual": "-"}
    n_seeds = len(settings["seeds"])
    for (kind, d), frames in sorted(curves.items()):
        epochs = frames[0].index.to_numpy() + 1
        errors = np.stack([_error(f) for f in frames]).mean(0)
        losses = np.stack([f["train_eval/loss"].to_numpy() for f in frames]).mean(0)
        label = f"{kind}-{d}"
        axes[0].plot(epochs, errors, styles[kind], color=colours[d], marker="o", ms=3, label=label)
        axes[1].plot(epochs, losses, styles[kind], color=colours[d], marker="o", ms=3, label=label)
    seeds_note = f" (mean over {n_seeds} seeds)" if n_seeds > 1 else ""
    axes[0].set(title=f"(a) training error{seeds_note}", xlabel="epoch", ylabel="training error (1 - acc)",
                ylim=(-0.02, 1.0))  # fmt: skip
    axes[1].set(title="(b) training loss", xlabel="epoch", ylabel="training cross-entropy", yscale="log")
    for ax in axes[:2]:
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(ncol=2, fontsize=8, title="dashed: plain, solid: residual", title_fontsize=8)
    for ax, values, title, ylabel, when in (
        (axes[2], error, "(c) training error against depth", "training error", "final epoch"),
        (axes[3], test_acc, "(d) test accuracy against depth", "test accuracy", "after training"),
    ):
        for kind, colour, marker in (("plain", "tab:gray", "s"), ("residual", "tab:blue", "o")):
            keys = [(kind, d) for d in depths]
            ax.plot(depths, [np.mean(values[k]) for k in keys], styles[kind], color=colour, marker=marker,
                    label=f"{kind}: {when}, mean over seeds")  # fmt: skip
            seeds_x = [d for k in keys for _ in values[k]]
            ax.scatter(seeds_x, [v for k in keys for v in values[k]], color=colour, marker=marker, s=14,
                       alpha=0.4, label=f"{kind}: {when}, each seed")  # fmt: skip
        ax.set(title=title, xlabel="depth (weighted layers)", ylabel=ylabel, xticks=depths)
        ax.legend(fontsize=8)
    for kind, colour in (("plain", "tab:gray"), ("residual", "tab:blue")):
        axes[2].plot(depths, [area[(kind, d)] for d in depths], styles[kind], color=colour, marker="^",
                     mfc="none", alpha=0.6, label=f"{kind}: averaged over the epochs")  # fmt: skip
    axes[2].set_ylim(-0.02, None)
    axes[2].legend(fontsize=8)
    figure = save_figure(fig, ctx.out_dir, "abl-residual")

    shallow, deep = depths[0], depths[-1]
    by_kind = {kind: {f"{d}": mean[(kind, d)] for d in depths} for kind in KINDS.values()}
    claims = [
        Claim(
            f"the deepest residual net trains as well as the shallowest (depth {deep} vs {shallow})",
            f"residual train error({deep}) <= residual train error({shallow}) + {RESIDUAL_SLACK}",
            by_kind["residual"],
            mean[("residual", deep)] <= mean[("residual", shallow)] + RESIDUAL_SLACK,
        ),
        Claim(
            f"degradation: the deepest plain net has the higher training error (depth {deep} vs {shallow})",
            f"plain train error({deep}) > plain train error({shallow}) + {PLAIN_GAP}",
            by_kind["plain"],
            mean[("plain", deep)] > mean[("plain", shallow)] + PLAIN_GAP,
        ),
        Claim(
            f"at depth {deep} the shortcuts make the difference: residual trains better than plain",
            f"residual train error({deep}) < plain train error({deep})",
            {kind: mean[(kind, deep)] for kind in KINDS.values()},
            mean[("residual", deep)] < mean[("plain", deep)],
        ),
    ]

    def by_depth(values: dict[tuple[str, int], float]) -> dict[str, dict[str, float]]:
        return {kind: {f"{d}": float(values[(kind, d)]) for d in depths} for kind in KINDS.values()}

    values = {
        "depths": depths,
        "train_error": by_kind,
        "train_error_sd": by_depth({k: np.std(v) for k, v in error.items()}),
        "train_loss": by_depth({k: np.mean(v) for k, v in loss.items()}),
        "mean_train_error_over_epochs": by_depth(area),
        "test_acc": by_depth({k: np.mean(v) for k, v in test_acc.items()}),
        "parameters": by_depth(params),
        "seeds": settings["seeds"],
    }
    return RecipeOutput(figure, claims, values=values, runs=dirs)


RECIPE = Recipe(
    id="abl-residual",
    title="Plain against residual networks as depth grows: training error",
    book_ref="Section 6.4 (ResNet)",
    chapter=6,
    claim="deeper plain nets train worse (degradation); residual nets of the same layers do not",
    run=run,
    minutes_quick=0.7,
)
