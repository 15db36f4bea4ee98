"""abl-width-depth: the MLP's depth {1, 2, 3} x width {16, 64, 256} (book section 5.2).

Runs experiment width_depth_sweep: RMSprop, batch 128, as in the course, whose one-hidden-layer nets of
16 / 64 / 256 units reach 0.945 / 0.971 / 0.977 test accuracy on full MNIST after 25 epochs.
"""

import numpy as np
import pandas as pd

from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import read_epoch_metrics

# Per profile: overrides of every run, and the seeds that are repeated.
SETTINGS = {
    "tiny": {
        "overrides": [
            "trainer.max_epochs=6",
            "data.train_size=1500",
            "data.val_size=500",
            "data.test_size=1000",
            "data.eval_train_size=500",
            "data.batch_size=64",
        ],
        "seeds": [0],
    },
    "quick": {"overrides": ["trainer.max_epochs=20"], "seeds": [0, 1, 2]},
    "full": {"overrides": ["data=mnist", "trainer.max_epochs=25"], "seeds": [0, 1, 2]},
}
COURSE_TEST_ACC = {16: 0.945, 64: 0.971, 256: 0.977}  # course: one hidden layer, RMSprop, 25 epochs
COURSE_TOLERANCE = 0.015  # full profile: measured depth-1 test accuracy within this of the course's
WIDTH_GAIN = 0.01  # "64 units clearly beat 16": test accuracy higher by more than this
WIDTH_SLACK = 0.01  # "256 units no worse than 64": test accuracy lower by at most this


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    loss: dict[tuple[int, int], list[float]] = {}  # (depth, width) -> final training loss per seed
    test_acc: dict[tuple[int, int], list[float]] = {}
    curves: dict[tuple[int, int], list[pd.DataFrame]] = {}
    dirs = []
    for seed in settings["seeds"]:
        for job, result in ctx.sweep(
            ["+experiment=width_depth_sweep", f"seed={seed}", *settings["overrides"]]
        ):
            sizes = next(o.split("=", 1)[1] for o in job if o.startswith("model.hidden_sizes="))
            widths = [int(w) for w in sizes.strip("[]").split(",")]
            if len(set(widths)) != 1:
                raise ValueError(f"width_depth_sweep expects equal widths per job, got {sizes}")
            key = (len(widths), widths[0])
            frame = read_epoch_metrics(result.dir)
            curves.setdefault(key, []).append(frame)
            loss.setdefault(key, []).append(float(frame["train_eval/loss"].iloc[-1]))
            test_acc.setdefault(key, []).append(float(result.metrics.get("test/acc", np.nan)))
            dirs.append(str(result.dir))
    depths = sorted({d for d, _ in loss})
    widths = sorted({w for _, w in loss})
    mean_acc = np.array([[np.mean(test_acc[(d, w)]) for w in widths] for d in depths])
    sd_acc = np.array([[np.std(test_acc[(d, w)]) for w in widths] for d in depths])
    mean_loss = np.array([[np.mean(loss[(d, w)]) for w in widths] for d in depths])

    fig, grid_axes = subplots(2, 2, figsize=(12, 8.5))
    axes = grid_axes.ravel()
    for ax, grid, title, cmap, fmt, bar in (
        (axes[0], mean_acc, "(a) test accuracy (mean ± sd over seeds)", "viridis", "{:.3f}", "test accuracy"),
        (axes[1], np.log10(mean_loss), "(b) final training loss", "magma", "{:.2g}", "log10 training loss"),
    ):
        image = ax.imshow(grid, cmap=cmap, origin="lower", aspect="auto")
        fig.colorbar(image, ax=ax, shrink=0.9, label=bar)
        for i in range(len(depths)):
            for j in range(len(widths)):
                text = fmt.format(mean_acc[i, j] if grid is mean_acc else mean_loss[i, j])
                if grid is mean_acc and len(settings["seeds"]) > 1:
                    text += f"\n±{sd_acc[i, j]:.3f}"
                shade = (grid[i, j] - grid.min()) / max(np.ptp(grid), 1e-12)
                ax.text(j, i, text, ha="center", va="center", color="k" if shade > 0.6 else "w", fontsize=9)
        ax.set(
            title=title,
            xlabel="width (units per hidden layer)",
            ylabel="depth (hidden layers)",
            xticks=range(len(widths)),
            xticklabels=widths,
            yticks=range(len(depths)),
            yticklabels=depths,
        )
        ax.grid(False)
    colours = dict(zip(widths, ["tab:orange", "tab:green", "tab:blue", "tab:purple"], strict=False))
    styles = dict(zip(depths, ["-", "--", ":", "-."], strict=False))
    lowest = np.inf
    for (d, w), frames in sorted(curves.items()):
        stack = np.stack([f["train_eval/loss"].to_numpy() for f in frames])
        epochs = frames[0].index.to_numpy() + 1
        axes[2].plot(epochs, stack.mean(0), styles[d], color=colours[w], label=f"depth {d}, width {w}")
        lowest = min(lowest, float(stack.mean(0).min()))
    axes[2].set(title="(c) training loss curves (mean over seeds)", xlabel="epoch", ylabel="training loss",
                yscale="log", ylim=(lowest / 30, None))  # fmt: skip
    axes[2].xaxis.get_major_locator().set_params(integer=True)
    axes[2].legend(ncol=3, fontsize=7, loc="lower left")
    for d in depths:
        axes[3].errorbar(
            widths,
            [np.mean(test_acc[(d, w)]) for w in widths],
            yerr=[np.std(test_acc[(d, w)]) for w in widths],
            ls=styles[d],
            color="k",
            marker="o",
            capsize=3,
            alpha=1.0 - 0.25 * (d - 1),
            label=f"depth {d}",
        )
    axes[3].plot(
        list(COURSE_TEST_ACC),
        list(COURSE_TEST_ACC.values()),
        "s",
        color="tab:red",
        mfc="none",
        ms=8,
        label="course, depth 1 (full MNIST, 25 epochs)",
    )
    axes[3].set(
        title=f"(d) test accuracy against width ({len(settings['seeds'])} seeds)",
        xlabel="width (units per hidden layer)",
        ylabel="test accuracy",
        xscale="log",
        xticks=widths,
        xticklabels=widths,
    )
    axes[3].minorticks_off()
    axes[3].legend()
    figure = save_figure(fig, ctx.out_dir, "abl-width-depth")

    full = ctx.profile == "full"
    narrow, mid, wide = widths[0], widths[len(widths) // 2], widths[-1]
    shallow = {w: float(np.mean(test_acc[(1, w)])) for w in widths}
    loss_by_depth = {f"depth {d}": {f"{w}": float(np.mean(loss[(d, w)])) for w in widths} for d in depths}
    claims = [
        Claim(
            "wider nets fit the training data better: final training loss falls with width at every depth",
            f"loss({narrow}) > loss({mid}) > loss({wide}) at each depth {depths}",
            loss_by_depth,
            all(np.all(np.diff(mean_loss[i]) < 0) for i in range(len(depths))),
        ),
        Claim(
            f"one hidden layer: {mid} units are clearly more accurate than {narrow}",
            f"test acc({mid}) - test acc({narrow}) > {WIDTH_GAIN}",
            {f"{w}": a for w, a in shallow.items()},
            shallow[mid] - shallow[narrow] > WIDTH_GAIN,
            book_value={f"{w}": a for w, a in COURSE_TEST_ACC.items()} if full else None,
        ),
        Claim(
            f"one hidden layer: {wide} units are no worse than {mid} (the gain saturates, not reverses)",
            f"test acc({wide}) >= test acc({mid}) - {WIDTH_SLACK}",
            {f"{w}": a for w, a in shallow.items()},
            shallow[wide] >= shallow[mid] - WIDTH_SLACK,
            book_value={f"{w}": a for w, a in COURSE_TEST_ACC.items()} if full else None,
        ),
    ]
    if full:
        gaps = {f"{w}": shallow[w] - COURSE_TEST_ACC[w] for w in COURSE_TEST_ACC if w in shallow}
        claims.append(
            Claim(
                "one hidden layer of 16 / 64 / 256 units matches the course's test accuracy",
                f"|measured - course| <= {COURSE_TOLERANCE} for each width",
                {f"{w}": shallow[w] for w in COURSE_TEST_ACC if w in shallow},
                bool(gaps) and all(abs(g) <= COURSE_TOLERANCE for g in gaps.values()),
                book_value={f"{w}": a for w, a in COURSE_TEST_ACC.items()},
            )
        )
    values = {
        "depths": depths,
        "widths": widths,
        "test_acc": {f"{d}x{w}": float(np.mean(v)) for (d, w), v in sorted(test_acc.items())},
        "test_acc_sd": {f"{d}x{w}": float(np.std(v)) for (d, w), v in sorted(test_acc.items())},
        "train_loss": {f"{d}x{w}": float(np.mean(v)) for (d, w), v in sorted(loss.items())},
        "seeds": settings["seeds"],
    }
    return RecipeOutput(figure, claims, values=values, runs=dirs)


RECIPE = Recipe(
    id="abl-width-depth",
    title="Width and depth of the MLP: test accuracy and training loss",
    book_ref="Section 5.2 (expressive power: width and depth)",
    chapter=5,
    claim="wider nets fit the training data better; one hidden layer gains accuracy from 16 to 64 units",
    run=run,
    minutes_quick=1.5,
)
