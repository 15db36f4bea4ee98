"""tab-2.1 / tab-3.1: five linear classifiers of MNIST digits on raw pixels plus a bias (book sections 2.3
and 3.3).

Runs experiment linear_classifiers: one-vs-rest and one-vs-one (sign voting) built from least-squares
classifiers (closed form on +-1 targets) and from logistic ones (Adam lr 0.02, batch 2000, N(0, 1) initial
weights, 200 epochs), and softmax regression with the same optimiser. Each trained model is loaded back
from its run's checkpoint and evaluated on the training split; test accuracies come from the runs. The
quick profile uses the embedded 5,000-digit subset (3,000 train / 1,000 validation / 1,000 test), the full
profile MNIST's 60,000 / 10,000 as the book, where each accuracy is compared with the book's.
"""

import numpy as np
import torch

from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import load_datamodule, load_model

# The five classifiers in the book's order, each as its overrides of the experiment, with the book's test
# accuracy on MNIST (60k train / 10k test).
CLASSIFIERS = {
    "least squares, one vs rest": (["model=one_vs_rest", "model.binary=least_squares"], 0.8603),
    "least squares, one vs one": (["model=one_vs_one", "model.binary=least_squares"], 0.9297),
    "logistic, one vs rest": (["model=one_vs_rest", "model.binary=logistic"], 0.9174),
    "logistic, one vs one": (["model=one_vs_one", "model.binary=logistic"], 0.9321),
    "softmax regression": (["model=softmax_regression"], 0.9221),
}
# Per profile: the data and the epochs of the gradient-trained classifiers (least squares takes one),
# and the test accuracy the gradient-trained classifiers must pass on the subsets. quick: the embedded
# 5,000 MNIST digits (3,000 train) with the book's settings; tiny (tests): 1,000 of them trained 40 epochs
# in batches of 250, where 80% is out of reach; full: MNIST 60k / 10k as the book (val_size 0: every
# training image trains), compared with the book's accuracies instead.
SETTINGS = {
    "tiny": {
        "overrides": [
            "data.train_size=1000",
            "data.batch_size=250",
            "trainer.max_epochs=40",
            "trainer.check_val_every_n_epoch=40",
        ],  # fmt: skip
        "min_accuracy": 0.75,
    },
    "quick": {"overrides": [], "min_accuracy": 0.8},
    "full": {"overrides": ["data=mnist", "data.val_size=0"], "min_accuracy": 0.85},
}
BOOK_TOLERANCE = 0.02  # full profile: |measured - book| test accuracy


def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).double().mean())


def _table(ax, rows: list[list[str]], columns: list[str]) -> None:
    ax.axis("off")
    widths = [0.28, 0.12, 0.15, 0.15, 0.15, 0.15]
    table = ax.table(
        cellText=rows, colLabels=columns, colWidths=widths, cellLoc="center", bbox=[0, 0.3, 1, 0.6]
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8.5)
    for (row, _), cell in table.get_celld().items():
        if row == 0:
            cell.set_text_props(weight="bold")
            cell.set_facecolor("#e8e8e8")


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    base = ["+experiment=linear_classifiers", *settings["overrides"]]
    results = {name: ctx.train([*base, *overrides]) for name, (overrides, _) in CLASSIFIERS.items()}
    book = {name: value for name, (_, value) in CLASSIFIERS.items()}

    datamodule = load_datamodule(results["softmax regression"].dir)
    x_train, y_train = (t.cpu() for t in datamodule.splits["train"])
    n_train, n_test, d = len(y_train), len(datamodule.splits["test"][1]), x_train[0].numel()
    counts = torch.bincount(y_train, minlength=10)
    pair_sizes = [int(counts[i] + counts[j]) for i in range(10) for j in range(i + 1, 10)]
    test = {name: float(r.metrics["test/acc"]) for name, r in results.items()}
    train = {name: _accuracy(load_model(r.dir), x_train, y_train) for name, r in results.items()}
    examples = {
        "one vs rest": f"{n_train}",
        "one vs one": f"{min(pair_sizes)}"
        if min(pair_sizes) == max(pair_sizes)
        else f"{min(pair_sizes)}-{max(pair_sizes)}",
        "softmax regression": f"{n_train}",
    }

    fig, (ax, tab) = subplots(1, 2, figsize=(15, 5.2), gridspec_kw={"width_ratios": [1.1, 1]})
    names = list(CLASSIFIERS)
    positions = np.arange(len(names))
    data_name = (
        "MNIST" if ctx.profile == "full" else ("8x8 digits" if ctx.profile == "tiny" else "MNIST subset")
    )
    measured_bars = ax.bar(positions - 0.2, [test[n] for n in names], 0.4, color="tab:blue",
                           label=f"measured ({data_name}: {n_train} train / {n_test} test)")  # fmt: skip
    book_bars = ax.bar(positions + 0.2, [book[n] for n in names], 0.4, color="tab:gray", alpha=0.6,
                       label="book (MNIST: 60000 train / 10000 test)")  # fmt: skip
    ax.bar_label(measured_bars, fmt="%.3f", fontsize=8, padding=2)
    ax.bar_label(book_bars, fmt="%.4f", fontsize=8, padding=2)
    ax.scatter(positions - 0.2, [train[n] for n in names], marker="_", s=250, color="k", zorder=3,
               label="measured training accuracy")  # fmt: skip
    ax.set_xticks(positions, [n.replace(", ", ",\n") for n in names])
    ax.set(
        ylabel="test accuracy",
        ylim=(0.5, 1.08),
        title="Linear classifiers of handwritten digits (raw pixels + bias)",
    )
    ax.legend(loc="upper left", ncol=2)
    rows = [
        [
            name,
            "-" if name.startswith("softmax") else ("10" if "rest" in name else "45"),
            examples["softmax regression" if name.startswith("softmax") else name.split(", ")[1]],
            f"{train[name]:.4f}",
            f"{test[name]:.4f}",
            f"{book[name]:.4f}",
        ]
        for name in names
    ]
    _table(tab, rows, ["classifier", "binary\nclassifiers", "training\nexamples per\nclassifier",
                       "train\naccuracy", "test\naccuracy", "book test\naccuracy"])  # fmt: skip
    tab.text(0.5, 0.93, f"{d} pixels + a bias = {d + 1} parameters per linear classifier (binary or, for "
             "softmax, per class)", ha="center", transform=tab.transAxes)  # fmt: skip
    note = (
        f"measured: {data_name}, {n_train} training / {n_test} test images ({ctx.profile} profile)\n"
        "book: MNIST, 60000 training / 10000 test images"
    )
    tab.text(0.5, 0.2, note, ha="center", va="top", transform=tab.transAxes)
    figure = save_figure(fig, ctx.out_dir, "tab-2.1")

    ls_ovr, ls_ovo = test["least squares, one vs rest"], test["least squares, one vs one"]
    lg_ovr, lg_ovo = test["logistic, one vs rest"], test["logistic, one vs one"]
    softmax = test["softmax regression"]
    interpolating = max(pair_sizes) < d + 1
    claims = [
        Claim(
            "logistic classifiers beat least-squares ones, one vs rest and one vs one alike",
            "acc(logistic OvR) > acc(least squares OvR) and acc(logistic OvO) > acc(least squares OvO)",
            {"one vs rest": [lg_ovr, ls_ovr], "one vs one": [lg_ovo, ls_ovo]},
            lg_ovr > ls_ovr and lg_ovo > ls_ovo,
            book_value={"one vs rest": [0.9174, 0.8603], "one vs one": [0.9321, 0.9297]},
        ),
        Claim(
            "logistic one vs one is the most accurate of the five",
            "acc(logistic OvO) = max of the five",
            lg_ovo,
            lg_ovo == max(test.values()),
            book_value=0.9321,
        ),
        Claim(
            "softmax regression and logistic one vs rest are about as accurate",
            "|acc(softmax) - acc(logistic OvR)| < 0.03",
            softmax - lg_ovr,
            abs(softmax - lg_ovr) < 0.03,
            book_value=round(0.9221 - 0.9174, 4),
        ),
    ]
    if interpolating:
        # Each pair of classes has fewer training examples than a linear classifier has parameters: the
        # minimum-norm least-squares fit (the book's pseudo-inverse) interpolates its +-1 targets, and
        # generalises far worse than it fits. How it then compares with one vs rest depends on how close
        # each scheme's examples-per-parameter ratio is to 1, where the minimum-norm fit is worst (quick:
        # 600 / 785 for OvO against 3000 / 785 for OvR, so OvO is below OvR, unlike the book), so that
        # order is reported in the values, not claimed.
        claims.append(
            Claim(
                f"with fewer examples per pair ({min(pair_sizes)}-{max(pair_sizes)}) than parameters "
                f"({d + 1}), each least-squares one-vs-one classifier interpolates its training pair "
                "(training accuracy 1) and generalises far worse than it fits",
                "train acc(least squares OvO) = 1 and train - test accuracy > 0.15",
                {"train": train["least squares, one vs one"], "test": ls_ovo},
                train["least squares, one vs one"] == 1.0
                and train["least squares, one vs one"] - ls_ovo > 0.15,
                book_value={"test": 0.9297},
            )
        )
    else:
        claims.append(
            Claim(
                f"with more examples per pair ({min(pair_sizes)}-{max(pair_sizes)}) than parameters "
                f"({d + 1}), least squares one vs one beats least squares one vs rest, the weakest of "
                "the five",
                "acc(least squares OvO) > acc(least squares OvR) = min of the five",
                {"OvO": ls_ovo, "OvR": ls_ovr},
                ls_ovo > ls_ovr == min(test.values()),
                book_value={"OvO": 0.9297, "OvR": 0.8603},
            )
        )
    trained, least = (
        ("logistic, one vs rest", "logistic, one vs one", "softmax regression"),
        settings["min_accuracy"],
    )
    claims.append(
        Claim(
            "the classifiers trained by gradient descent are accurate",
            f"acc > {least} for logistic OvR, logistic OvO, softmax",
            {name: test[name] for name in trained},
            all(test[name] > least for name in trained),
            book_value={name: book[name] for name in trained},
        )
    )
    if ctx.profile == "full":
        claims += [
            Claim(
                f"{name}: the book's test accuracy on MNIST",
                f"|measured - book| < {BOOK_TOLERANCE}",
                test[name],
                abs(test[name] - book[name]) < BOOK_TOLERANCE,
                book_value=book[name],
            )
            for name in names
        ]
    return RecipeOutput(
        figure,
        claims,
        values={
            "test_acc": test,
            "train_acc": train,
            "book_test_acc": book,
            "n_train": n_train,
            "n_test": n_test,
            "parameters_per_classifier": d + 1,
            "examples_per_pair": [min(pair_sizes), max(pair_sizes)],
        },
        runs=[str(r.dir) for r in results.values()],
    )


RECIPE = Recipe(
    id="tab-2.1",
    title="Linear classifiers of MNIST (tab-2.1, also tab-3.1): least squares and logistic one vs rest and "
    "one vs one, softmax regression",
    book_ref="Table 2.1 and Table 3.1, sections 2.3 and 3.3",
    chapter=2,
    claim="logistic classifiers beat least-squares ones, logistic one vs one is the best of the five, "
    "softmax regression is close to logistic one vs rest; on the full data least squares one vs one beats "
    "one vs rest (book accuracies 0.8603, 0.9297, 0.9174, 0.9321, 0.9221)",
    run=run,
    minutes_quick=0.2,
)
