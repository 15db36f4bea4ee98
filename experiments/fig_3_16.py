"""fig-3.16: half way between two training "3"s, in the deep autoencoder's code space against averaging
pixels (book section 3.5).

The deep autoencoder 784-50-10-50-784 is fig-3.12's run (same overrides, same run folder). For two
training 3s a and b (the book takes the first and the tenth 3 of the training set), the code-space
midpoint is decode((encode(a) + encode(b)) / 2) and the pixel midpoint is (a + b) / 2. Which is "more
like a 3" is measured two ways, over the book's pair and over random pairs of training 3s: the
distance to the nearest other training 3 (a and b excluded, since the pixel average is trivially
near them), and the probability of "3" given by an MLP classifier trained through the store on the
same training digits.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

from mde_exp import reconstruction as R
from mde_exp.figures.style import STYLE, save_figure
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import load_datamodule, load_model

# Per profile: the data and autoencoder overrides are fig-3.12's (so the deep autoencoder run is
# shared; see fig-3.12 for the scale), the classifier's epochs, and how many random pairs are scored.
SETTINGS = {
    "tiny": {
        "data": ["data.train_size=1000", "data.val_size=200", "data.test_size=500"],
        "autoencoder": ["trainer.max_epochs=60", "trainer.check_val_every_n_epoch=60"],
        "classifier": ["trainer.max_epochs=5"],
        "pairs": 100,
    },
    "quick": {
        "data": [],
        "autoencoder": ["trainer.max_epochs=150", "trainer.check_val_every_n_epoch=10"],
        "classifier": ["trainer.max_epochs=10"],
        "pairs": 200,
    },
    "full": {"data": ["data=mnist"], "autoencoder": [], "classifier": [], "pairs": 1000},
}
BOOK_PAIR = (0, 9)  # the first and the tenth 3 of the training set
WEIGHTS = (1.0, 0.75, 0.5, 0.25, 0.0)  # weight on a; 0.5 is the midpoint
DIGIT = 3
SIDE = 28


def _probability(classifier: torch.nn.Module, images: np.ndarray, digit: int) -> np.ndarray:
    with torch.no_grad():
        logits = classifier(torch.as_tensor(np.asarray(images), dtype=torch.float32))
    return torch.softmax(logits, dim=1)[:, digit].numpy()


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    base = ["+experiment=autoencoder_mnist", "figure_id=fig-3.16", *settings["data"]]
    deep = ctx.train([*base, *settings["autoencoder"], "model=deep_autoencoder"])
    mlp = ctx.train([*base, *settings["classifier"], "model=mlp", "optimizer=adam"])
    autoencoder, classifier = load_model(deep.dir), load_model(mlp.dir)
    datamodule = load_datamodule(deep.dir)
    x, y = (t.numpy() for t in datamodule.splits["train"])
    threes = np.flatnonzero(y == DIGIT)

    rng = np.random.default_rng(0)
    pairs = [(threes[BOOK_PAIR[0]], threes[BOOK_PAIR[1]])]
    pairs += [tuple(rng.choice(threes, 2, replace=False)) for _ in range(settings["pairs"])]
    a, b = x[[i for i, _ in pairs]], x[[j for _, j in pairs]]
    code_mid = R.code_interpolation(autoencoder, a, b, 0.5)
    pixel_mid = R.input_interpolation(a, b, 0.5)
    # Distances to the nearest training 3 other than the pair's own two.
    d_code, d_pixel = np.empty(len(pairs)), np.empty(len(pairs))
    for n, (i, j) in enumerate(pairs):
        others = x[np.setdiff1d(threes, [i, j])]
        d_code[n] = R.nearest_distance(code_mid[n], others)[0]
        d_pixel[n] = R.nearest_distance(pixel_mid[n], others)[0]
    p_code, p_pixel = (_probability(classifier, m, DIGIT) for m in (code_mid, pixel_mid))
    # The classifier on the autoencoder's reconstructions of the pairs' own 3s: what the blur of
    # decoding alone costs.
    p_reconstructed = 0.5 * (
        _probability(classifier, R.reconstruct(autoencoder, a), DIGIT)
        + _probability(classifier, R.reconstruct(autoencoder, b), DIGIT)
    )

    plt.rcParams.update(STYLE)
    fig = plt.figure(figsize=(15, 5.6), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[1.9, 1])
    grid = left.subplots(2, len(WEIGHTS) + 2)
    a0, b0 = a[:1], b[:1]
    rows = {
        "code space\n(decoded)": [R.code_interpolation(autoencoder, a0, b0, w)[0] for w in WEIGHTS],
        "pixel\naverage": [R.input_interpolation(a0, b0, w)[0] for w in WEIGHTS],
    }
    for row, (label, images) in enumerate(rows.items()):
        panels = [
            ("a", a0[0]),
            *((f"λ = {w:g}", im) for w, im in zip(WEIGHTS, images, strict=True)),
            ("b", b0[0]),
        ]
        for col, (title, image) in enumerate(panels):
            ax = grid[row, col]
            ax.imshow(image.reshape(SIDE, SIDE), cmap="gray_r", vmin=0, vmax=1)
            ax.set(xticks=[], yticks=[])
            ax.grid(False)
            ax.spines[:].set_visible(False)
            ax.set_title(title, fontsize=9)
            if title == "λ = 0.5":
                ax.spines[:].set_visible(True)
                ax.spines[:].set_color("tab:red")
                p, d = (p_code[0], d_code[0]) if row == 0 else (p_pixel[0], d_pixel[0])
                ax.set_xlabel(f"P(3) = {p:.3f}\nnearest 3: {d:.2f}", fontsize=8)
        grid[row, 0].set_ylabel(label, fontsize=9, rotation=0, ha="right", va="center")
    left.suptitle(
        f"(a) the book's pair (training 3s no. {BOOK_PAIR[0] + 1} and {BOOK_PAIR[1] + 1}): "
        "λ a + (1 - λ) b in code space and in pixels",
        fontsize=10,
    )
    ax = right.subplots()
    ax.scatter(
        d_pixel[1:], d_code[1:], s=10, alpha=0.6, color="tab:blue", label=f"{len(pairs) - 1} random pairs"
    )
    ax.scatter(d_pixel[:1], d_code[:1], s=50, color="tab:red", marker="*", label="the book's pair", zorder=3)
    low, high = min(d_code.min(), d_pixel.min()) - 0.3, max(d_code.max(), d_pixel.max()) + 0.3
    ax.plot([low, high], [low, high], "k--", lw=1, label="equal distance")
    ax.set(
        xlim=(low, high), ylim=(low, high), aspect="equal",
        xlabel="pixel average: distance to nearest other training 3",
        ylabel="code-space midpoint: distance to nearest other 3",
    )  # fmt: skip
    ax.set_title(
        "(b) midpoints of pairs of training 3s\n"
        f"below the line (code midpoint nearer a 3): {np.mean(d_code < d_pixel):.0%}",
        fontsize=10,
    )
    ax.legend(loc="upper left")
    fig.suptitle(
        "fig-3.16: interpolating two 3s with the deep autoencoder 784-50-10-50-784 against averaging their "
        f"pixels ({len(x)} training digits; P(3) from an MLP classifier, "
        f"test accuracy {mlp.metrics['test/acc']:.3f})",
        fontsize=10,
    )
    figure = save_figure(fig, ctx.out_dir, "fig-3.16")

    nearer = float(np.mean(d_code < d_pixel))
    mean_p = {"code midpoint": float(p_code.mean()), "pixel average": float(p_pixel.mean()),
              "reconstructed endpoints": float(p_reconstructed.mean())}  # fmt: skip
    claims = [
        Claim(
            "for the book's pair, the code-space midpoint is nearer a (different) training 3 than the "
            "pixel average",
            "distance(code midpoint) < distance(pixel average)",
            {"code midpoint": float(d_code[0]), "pixel average": float(d_pixel[0])},
            bool(d_code[0] < d_pixel[0]),
            book_value="the decoded midpoint looks like a 3, the pixel average like two overlaid 3s",
        ),
        Claim(
            "so is it for most random pairs of training 3s",
            "fraction of pairs with the code midpoint nearer > 0.75",
            nearer,
            nearer > 0.75,
        ),
        Claim(
            "the classifier reads the code-space midpoint as a 3 about as surely as the autoencoder's own "
            "reconstructions of the two 3s",
            "mean P(3 | code midpoint) > 0.9 x mean P(3 | reconstructed a, b)",
            mean_p,
            mean_p["code midpoint"] > 0.9 * mean_p["reconstructed endpoints"],
        ),
        Claim(
            "judged by the classifier's P(3), the book's reading does not hold: an overlay of two 3s still "
            "reads as a 3, more surely than the (blurred) decoded midpoint",
            "mean P(3 | pixel average) > mean P(3 | code midpoint)",
            mean_p,
            mean_p["pixel average"] > mean_p["code midpoint"],
            book_value="the decoded midpoint is the more 3-like image",
        ),
    ]
    values = {
        "book_pair": {
            "indices": [int(i) for i in pairs[0]],
            "distance_to_nearest_3": {"code midpoint": float(d_code[0]), "pixel average": float(d_pixel[0])},
            "p3": {"code midpoint": float(p_code[0]), "pixel average": float(p_pixel[0])},
        },
        "pairs": len(pairs) - 1,
        "fraction_code_midpoint_nearer": nearer,
        "mean_distance_to_nearest_3": {
            "code midpoint": float(d_code.mean()),
            "pixel average": float(d_pixel.mean()),
        },
        "mean_p3": mean_p,
        "fraction_code_p3_higher": float(np.mean(p_code > p_pixel)),
        "classifier_test_acc": float(mlp.metrics["test/acc"]),
    }
    return RecipeOutput(figure, claims, values=values, runs=[str(deep.dir), str(mlp.dir)])


RECIPE = Recipe(
    id="fig-3.16",
    title="Interpolating two 3s: the deep autoencoder's code space against averaging pixels",
    book_ref="Figure 3.16, section 3.5",
    chapter=3,
    claim="half way between two 3s in the deep autoencoder's code space decodes to an image nearer the "
    "other training 3s than the pixel average is (a classifier, though, reads both as 3s)",
    run=run,
    minutes_quick=0.6,
)
