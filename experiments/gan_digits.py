"""gan-digits: digits drawn by a GAN and a WGAN-GP trained on scikit-learn's 8x8 digits, and whether
they are varied (book section 8.3).

Runs experiment gan_digits (model=gan: non-saturating loss; model=wgan: WGAN-GP, five critic steps per
generator step), draws N_SAMPLES digits from each generator, and scores them with a multinomial logistic
regression (scikit-learn) fitted to the real training digits. A mode-collapsed generator draws one
digit over and over: its confident predictions (top probability >= CONFIDENT) fall in few classes. The
claims: WGAN-GP's digits are confidently assigned to at least MIN_CLASSES different classes, with no
class holding more than MAX_SHARE of them, to at least as many classes as the GAN's, and they vary
across z about as much as the data. At the quick profile's budget the GAN mostly collapses.
"""

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import load_datamodule, load_model

SETTINGS = {
    "tiny": {"overrides": ["trainer.max_epochs=5"]},
    "quick": {"overrides": ["trainer.max_epochs=100"]},
    "full": {"overrides": ["trainer.max_epochs=400"]},
}
N_SAMPLES = 1000
CONFIDENT = 0.8  # a prediction with top class probability at least this
MIN_CLASSES = 5  # confident predictions in at least this many classes: not mode-collapsed
MAX_SHARE = 0.5  # and no class with more than this share of them
MODELS = {"gan": "GAN (non-saturating)", "wgan": "WGAN-GP"}
MIN_SPREAD = 0.5  # pixel std across samples at least this fraction of the data's


def _flat(x: torch.Tensor) -> np.ndarray:
    return x.reshape(len(x), -1).numpy()


def tile(images: np.ndarray, rows: int = 8, pad: int = 1) -> np.ndarray:
    """rows x rows 8x8 images in one picture, separated by `pad` blank pixels."""
    grid = np.full((rows * (8 + pad) - pad,) * 2, np.nan)
    for i, image in enumerate(images[: rows * rows]):
        r, c = divmod(i, rows)
        grid[r * (8 + pad) : r * (8 + pad) + 8, c * (8 + pad) : c * (8 + pad) + 8] = image.reshape(8, 8)
    return grid


def judge(probs: np.ndarray) -> dict:
    """The classes of the confident predictions (top probability >= CONFIDENT) and how they spread."""
    confident = probs.max(1) >= CONFIDENT
    counts = np.bincount(probs.argmax(1)[confident], minlength=probs.shape[1])
    return {
        "counts": counts.tolist(),
        "confident_fraction": float(confident.mean()),
        "classes": int((counts > 0).sum()),
        "top_share": float(counts.max() / max(counts.sum(), 1)),
    }


def run(ctx: RecipeContext) -> RecipeOutput:
    overrides = SETTINGS[ctx.profile]["overrides"]
    results = {n: ctx.train(["+experiment=gan_digits", f"model={n}", *overrides]) for n in MODELS}
    dm = load_datamodule(results["gan"].dir)
    (x_train, y_train), (x_test, y_test) = dm.splits["train"][:2], dm.splits["test"][:2]
    classifier = LogisticRegression(max_iter=3000).fit(_flat(x_train), y_train.numpy())
    real_probs = classifier.predict_proba(_flat(x_test))
    test_acc = float((real_probs.argmax(1) == y_test.numpy()).mean())
    data_std = float(_flat(x_train).std(0).mean())
    samples, scores = {}, {}
    for name, result in results.items():
        model = load_model(result.dir)
        samples[name] = model.sample(N_SAMPLES, generator=torch.Generator().manual_seed(0)).numpy()
        scores[name] = judge(classifier.predict_proba(samples[name]))
        scores[name]["spread_ratio"] = float(samples[name].std(0).mean() / data_std)
    real = judge(real_probs)

    fig, axes = subplots(1, 4, figsize=(18, 4.8), gridspec_kw={"width_ratios": [1, 1, 1, 1.5]})
    panels = [("(a) real digits (test split)", _flat(x_test))] + [
        (f"({'bc'[i]}) {MODELS[n]}: {scores[n]['classes']} classes", samples[n]) for i, n in enumerate(MODELS)
    ]
    for ax, (title, images) in zip(axes[:3], panels, strict=True):
        ax.imshow(tile(images), cmap="gray_r", vmin=0, vmax=1)
        ax.set(title=title, xticks=[], yticks=[])
        ax.grid(False)
    width = 0.4
    for i, (name, colour) in enumerate(zip(MODELS, ("tab:red", "tab:blue"), strict=True)):
        share = np.array(scores[name]["counts"]) / N_SAMPLES
        axes[3].bar(np.arange(10) + (i - 0.5) * width, share, width, color=colour,
                    label=f"{MODELS[name]} ({scores[name]['confident_fraction']:.0%} confident)")  # fmt: skip
    real_label = f"real test digits ({real['confident_fraction']:.0%} confident)"
    axes[3].step(np.arange(11) - 0.5, [*(np.array(real["counts"]) / len(y_test)), 0], where="post",
                 color="black", lw=1, label=real_label)  # fmt: skip
    axes[3].set(title=f"(d) confident predictions by class (top prob >= {CONFIDENT})",
                xlabel="class given by a logistic regression fitted to real digits",
                ylabel="fraction of samples", xticks=range(10))  # fmt: skip
    axes[3].legend()
    fig.suptitle(f"GAN and WGAN-GP on 8x8 digits ({N_SAMPLES} samples each, first 64 shown); "
                 f"judge: logistic regression, test accuracy {test_acc:.1%}")  # fmt: skip
    figure = save_figure(fig, ctx.out_dir, "gan-digits")

    wgan = scores["wgan"]
    classes = {MODELS[n]: scores[n]["classes"] for n in MODELS}
    claims = [
        Claim(
            f"WGAN-GP's digits are varied, not mode-collapsed: confident predictions in >= {MIN_CLASSES} "
            f"classes, none with more than {MAX_SHARE:.0%} of them",
            f"classes >= {MIN_CLASSES} and top share <= {MAX_SHARE}",
            {"classes": wgan["classes"], "top_share": round(wgan["top_share"], 3)},
            wgan["classes"] >= MIN_CLASSES and wgan["top_share"] <= MAX_SHARE,
        ),
        Claim(
            "WGAN-GP's samples cover at least as many digit classes as the GAN's",
            "classes(WGAN-GP) >= classes(GAN)",
            classes,
            wgan["classes"] >= scores["gan"]["classes"],
        ),
        Claim(
            "WGAN-GP's samples vary across z about as much as real digits do (pixel standard deviation)",
            f"sample pixel std / data pixel std >= {MIN_SPREAD}",
            round(wgan["spread_ratio"], 3),
            wgan["spread_ratio"] >= MIN_SPREAD,
        ),
    ]
    values = {
        **{MODELS[n]: scores[n] for n in MODELS},
        "real_test": real,
        "classifier_test_acc": test_acc,
        "n_samples": N_SAMPLES,
    }
    return RecipeOutput(figure, claims, values=values, runs=[str(r.dir) for r in results.values()])


RECIPE = Recipe(
    id="gan-digits",
    title="GAN and WGAN-GP samples of 8x8 digits, classified by a real-digit classifier",
    book_ref="Section 8.3 (GANs)",
    chapter=8,
    claim="WGAN-GP's samples are digits of many different classes (no mode collapse)",
    run=run,
    minutes_quick=1.0,
)
