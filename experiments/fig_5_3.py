"""fig-5.3: the spiral of fig-3.9, logistic regression against one hidden layer of 4 and 10 units (sec. 5.2).

Runs experiment spiral_capacity (the networks: a sweep over the hidden layer's width, repeated over
seeds) and logistic regression with the same settings; decision regions are drawn from each trained
model, loaded back from its run's checkpoint.
"""

import numpy as np
from matplotlib.lines import Line2D

from mde_exp.figures.regions import class_probabilities, plane_grid
from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import load_datamodule, load_model

# Logistic regression has no hidden layer, so it is not a member of the sweep over hidden-layer widths:
# it runs on its own with the experiment's data, optimiser and epochs.
LOGISTIC = ["model=softmax_regression"]
LABELS = {"[4]": "4 hidden units", "[10]": "10 hidden units"}
# Per profile: overrides of every run and the seeds repeated (the spiral is small: full is quick's scale).
SETTINGS = {
    "tiny": {"overrides": ["trainer.max_epochs=200", "trainer.check_val_every_n_epoch=50"], "seeds": [0]},
    "quick": {"overrides": ["trainer.max_epochs=200"], "seeds": [0, 1, 2]},
    "full": {"overrides": ["trainer.max_epochs=300"], "seeds": [0, 1, 2, 3, 4]},
}
COLOURS = {"logistic regression": "tab:gray", "4 hidden units": "tab:orange", "10 hidden units": "tab:blue"}


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    seeds = ",".join(str(s) for s in settings["seeds"])
    base = ["+experiment=spiral_capacity", *settings["overrides"]]
    results: dict[str, list] = {
        "logistic regression": [ctx.train([*base, *LOGISTIC, f"seed={seed}"]) for seed in settings["seeds"]]
    }
    for job, result in ctx.sweep([*base, f"seed={seeds}"]):
        width = next(o.split("=", 1)[1] for o in job if o.startswith("model.hidden_sizes="))
        results.setdefault(LABELS[width], []).append(result)
    results = {label: results[label] for label in ("logistic regression", *LABELS.values())}
    accuracy = {label: [r.metrics["test/acc"] for r in runs] for label, runs in results.items()}
    mean = {label: float(np.mean(a)) for label, a in accuracy.items()}

    # The data in the models' input space (standardised), from the runs' own data configuration.
    first = results["10 hidden units"][0].dir
    datamodule = load_datamodule(first)
    x_train, y_train = (t.numpy() for t in datamodule.splits["train"])
    x_test, y_test = (t.numpy() for t in datamodule.splits["test"])
    u, v, grid = plane_grid(np.concatenate([x_train, x_test]), margin=0.3, n=300)

    fig, axes = subplots(1, 4, figsize=(17, 4.3), gridspec_kw={"width_ratios": [1, 1, 1, 0.8]})
    for ax, (label, runs) in zip(axes[:3], results.items(), strict=True):
        p = class_probabilities(load_model(runs[0].dir), grid)[:, 1].reshape(u.shape)
        ax.contourf(u, v, p, levels=[0, 0.5, 1], colors=["#f6c1c1", "#b9d3ee"], alpha=0.8)
        ax.contour(u, v, p, levels=[0.5], colors="k", linewidths=1)
        for k, colour in ((0, "tab:red"), (1, "tab:blue")):
            ax.scatter(*x_train[y_train == k].T, s=6, color=colour, label=f"class {k} (train)")
            ax.scatter(*x_test[y_test == k].T, s=12, facecolors="none", edgecolors=colour, lw=0.6,
                       label=f"class {k} (test)")  # fmt: skip
        ax.set(
            title=f"{label}: test accuracy {runs[0].metrics['test/acc']:.2f}\n(seed {settings['seeds'][0]};"
            " shading: predicted class)",
            xlabel="x₁ (standardised)",
            ylabel="x₂ (standardised)",
            aspect="equal",
        )
    handles, names = axes[0].get_legend_handles_labels()
    handles.append(Line2D([], [], color="k", lw=1))
    names.append("decision boundary (P(class 1) = 0.5)")
    fig.legend(handles, names, loc="outside lower center", ncol=5)
    ax = axes[3]
    labels = list(results)
    positions = np.arange(len(labels))
    for i, label in enumerate(labels):
        a = np.array(accuracy[label])
        ax.bar(i, a.mean(), color=COLOURS[label], alpha=0.7)
        ax.errorbar(i, a.mean(), yerr=[[a.mean() - a.min()], [a.max() - a.mean()]], color="k", capsize=4)
        ax.scatter(np.full(len(a), i), a, color="k", s=10, zorder=3)
    ax.axhline(0.5, color="k", ls=":", lw=1, label="chance")
    ax.set_xticks(positions, [label.replace(" hidden", "\nhidden") for label in labels])
    ax.set(
        title=f"test accuracy over {len(settings['seeds'])} seed(s)\n(bar: mean; line: min to max)",
        ylabel="test accuracy",
        ylim=(0, 1.05),
    )
    ax.legend(loc="upper left")
    figure = save_figure(fig, ctx.out_dir, "fig-5.3")

    logistic, four, ten = mean["logistic regression"], mean["4 hidden units"], mean["10 hidden units"]
    claims = [
        Claim(
            "logistic regression (a linear boundary) stays near chance on the spiral",
            "mean test accuracy < 0.7",
            logistic,
            logistic < 0.7,
        ),
        Claim(
            "ten hidden units follow the spiral",
            "mean test accuracy > 0.9",
            ten,
            ten > 0.9,
        ),
        Claim(
            "ten hidden units beat four",
            "acc(10 units) - acc(4 units) > 0.05",
            ten - four,
            ten - four > 0.05,
        ),
        Claim(
            "ten hidden units beat logistic regression by a clear margin",
            "acc(10 units) - acc(logistic) > 0.15",
            ten - logistic,
            ten - logistic > 0.15,
        ),
    ]
    return RecipeOutput(
        figure,
        claims,
        values={"test_acc": mean, "test_acc_by_seed": accuracy, "seeds": settings["seeds"]},
        runs=[str(r.dir) for runs in results.values() for r in runs],
    )


RECIPE = Recipe(
    id="fig-5.3",
    title="The spiral: logistic regression against one hidden layer of 4 and of 10 units",
    book_ref="Figure 5.3, section 5.2",
    chapter=5,
    claim="a hidden layer lets the network bend its decision boundary around the spiral, which logistic "
    "regression cannot; ten units do it, four do not",
    run=run,
    minutes_quick=1.7,
)
