"""vae-latent: a variational autoencoder's 2-D latent space, its samples and its ELBO (book section 8.2).

Runs experiment vae_latent: an MLP and a convolutional VAE with a 2-D latent space on the embedded 8x8
digits (pixels in [0, 1], Bernoulli decoder), trained on the negative ELBO. Draws the posterior means
mu(x) of the test images coloured by digit, the decoder's means over a grid of the latent plane (the
prior's 5% to 95% quantiles in each coordinate), images decoded from draws of the prior N(0, I), and the
ELBO with its two terms (reconstruction, KL) per epoch. Checks that the ELBO rises by a clear margin,
that the KL term stays above zero (the latent code is used, no posterior collapse), and that the digits
separate in the latent plane: a 5-nearest-neighbour classifier fitted on the training images' means
labels the test images' means far above chance (0.1).
"""

import matplotlib
import numpy as np
import torch
from omegaconf import OmegaConf
from scipy.stats import norm
from sklearn.neighbors import KNeighborsClassifier

from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import load_datamodule, load_model, read_epoch_metrics

# Per profile: overrides of both runs (the experiment sweeps model.architecture over mlp, conv).
SETTINGS = {
    "tiny": ["trainer.max_epochs=12"],
    "quick": ["trainer.max_epochs=50"],
    "full": ["data=mnist", "model.hidden_sizes=[512,256]", "trainer.max_epochs=50", "data.batch_size=128"],
}
ELBO_GAIN = 10.0  # nats per image: the final validation ELBO at least this above the untrained model's
KL_MIN = 0.1  # nats per image: the final KL term above this (a collapsed posterior gives ~0)
KNN_MIN = 0.3  # 5-NN accuracy of the test means: at least three times chance (0.1)
K = 5
GRID = 12  # decoded images per side of the latent-plane grid
PRIOR_SAMPLES = 8  # per side of the prior-samples panel
ARCHITECTURES = ("mlp", "conv")
INK = matplotlib.colormaps["gray_r"].with_extremes(bad="#b8c8e0")  # pixels dark on white, gaps blue-grey


def _means(model, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model.encode(x)[0].numpy()


def _tile(images: np.ndarray, rows: int) -> np.ndarray:
    """n x H x W images as one (rows * H) x (n / rows * W) mosaic with a one-pixel gap."""
    n, h, w = images.shape
    cols = n // rows
    padded = np.full((n, h + 1, w + 1), np.nan)  # the gaps drawn in the colour map's "bad" colour
    padded[:, :h, :w] = images
    mosaic = padded.reshape(rows, cols, h + 1, w + 1).transpose(0, 2, 1, 3).reshape(rows * (h + 1), -1)
    return mosaic[:-1, :-1]


def _untrained_elbo(model, x: torch.Tensor) -> float:
    """The mean ELBO of `x` under a freshly initialised model of the same architecture (epoch 0)."""
    torch.manual_seed(0)
    fresh = type(model)(**model.hparams).eval()
    with torch.no_grad():
        return float(fresh.elbo_terms(x)["elbo"].mean())


def run(ctx: RecipeContext) -> RecipeOutput:
    overrides = ["+experiment=vae_latent", *SETTINGS[ctx.profile]]
    frames, models, knn, means, dirs, test, untrained = {}, {}, {}, {}, [], {}, {}
    labels = None
    for _, result in ctx.sweep(overrides):
        arch = OmegaConf.load(result.dir / "config.yaml").model.architecture
        dirs.append(str(result.dir))
        frames[arch] = read_epoch_metrics(result.dir)
        models[arch] = load_model(result.dir)
        splits = load_datamodule(result.dir).splits
        train_means = _means(models[arch], splits["train"][0])
        means[arch] = _means(models[arch], splits["test"][0])
        labels = splits["test"][1].numpy()
        untrained[arch] = _untrained_elbo(models[arch], splits["val"][0])
        classifier = KNeighborsClassifier(K).fit(train_means, splits["train"][1].numpy())
        knn[arch] = float(classifier.score(means[arch], labels))
        test[arch] = {k: float(v) for k, v in result.metrics.items() if k.startswith("test/")}

    # The latent grid: the prior's quantiles 5% .. 95% in each coordinate (top row = high z_2).
    quantiles = norm.ppf(np.linspace(0.05, 0.95, GRID))
    z1, z2 = np.meshgrid(quantiles, quantiles[::-1])
    grid_z = torch.tensor(np.stack([z1.ravel(), z2.ravel()], 1), dtype=torch.float32)

    fig, axes = subplots(2, 4, figsize=(17, 8.5))
    colours = {"mlp": "tab:blue", "conv": "tab:orange"}
    for col, arch in enumerate(ARCHITECTURES):
        ax = axes[0, col]
        scatter = ax.scatter(*means[arch].T, c=labels, cmap="tab10", s=9, vmin=-0.5, vmax=9.5)
        for digit in range(10):  # each digit's label at the median of its means
            cx, cy = np.median(means[arch][labels == digit], 0)
            ax.text(cx, cy, str(digit), fontsize=13, weight="bold", ha="center", va="center",
                    bbox={"boxstyle": "circle,pad=0.15", "fc": "white", "alpha": 0.7, "lw": 0})  # fmt: skip
        lo, hi = quantiles[0], quantiles[-1]
        ax.plot([lo, hi, hi, lo, lo], [lo, lo, hi, hi, lo], "k--", lw=0.8, label="extent of the grid (d)")
        ax.set(title=f"({'ab'[col]}) {arch} VAE: test means mu(x) by digit\n{K}-NN accuracy {knn[arch]:.2f} "
               "(chance 0.10)", xlabel="$z_1$", ylabel="$z_2$")  # fmt: skip
        ax.legend(loc="lower right", fontsize=7)
    fig.colorbar(scatter, ax=axes[0, 1], ticks=range(10), label="digit", shrink=0.8)

    model = models["mlp"]
    shape = model.data_shape[-2:]
    with torch.no_grad():
        grid_images = model.decode(grid_z).reshape(-1, *shape).numpy()
        prior = model.sample(PRIOR_SAMPLES**2, torch.Generator().manual_seed(0)).reshape(-1, *shape).numpy()
    ax = axes[1, 0]
    ax.imshow(_tile(grid_images, GRID), cmap=INK, vmin=0, vmax=1,
              extent=(lo, hi, lo, hi))  # fmt: skip
    ax.set(title=f"(d) mlp VAE: decoder means over the latent plane\n({GRID} x {GRID} grid, prior quantiles "
           "5%..95%)", xlabel="$z_1$", ylabel="$z_2$")  # fmt: skip
    ax.grid(False)
    ax = axes[1, 1]
    ax.imshow(_tile(prior, PRIOR_SAMPLES), cmap=INK, vmin=0, vmax=1)
    ax.set(title="(e) mlp VAE: decoded draws z ~ N(0, I) of the prior", xticks=[], yticks=[])
    ax.grid(False)

    for arch in ARCHITECTURES:
        frame = frames[arch]
        epochs = frame.index.to_numpy() + 1
        axes[0, 2].plot(
            epochs, frame["train/elbo"], "-", color=colours[arch], label=f"{arch}: train (epoch mean)"
        )
        axes[0, 2].plot([0, *epochs], [untrained[arch], *frame["val/elbo"]], "--", marker="o", ms=3,
                        color=colours[arch], label=f"{arch}: validation (epoch 0: untrained)")  # fmt: skip
        axes[1, 2].plot(epochs, frame["val/recon"], "-", color=colours[arch], label=f"{arch}: reconstruction")
        axes[0, 3].plot(epochs, frame["val/kl"], "-", color=colours[arch], label=f"{arch}: KL")
    axes[0, 2].set(title="(c) ELBO per epoch (nats per image; higher is better)", xlabel="epoch",
                   ylabel="ELBO = -(reconstruction + KL)")  # fmt: skip
    axes[1, 2].set(title="(f) validation reconstruction term", xlabel="epoch",
                   ylabel="-E_q log p(x | z) (nats per image)")  # fmt: skip
    axes[0, 3].set(title="(g) validation KL(q(z | x) || p(z))", xlabel="epoch", ylabel="nats per image")
    axes[0, 3].axhline(KL_MIN, color="gray", ls=":", lw=1, label=f"claim: KL > {KL_MIN}")
    for ax in (axes[0, 2], axes[1, 2], axes[0, 3]):
        ax.legend()
    ax = axes[1, 3]
    ax.bar(ARCHITECTURES, [knn[a] for a in ARCHITECTURES], color=[colours[a] for a in ARCHITECTURES])
    ax.axhline(0.1, color="gray", ls=":", label="chance (0.1)")
    ax.axhline(KNN_MIN, color="k", ls="--", lw=1, label=f"claim: > {KNN_MIN}")
    ax.set(title=f"(h) digits apart in the 2-D latent plane:\n{K}-NN accuracy on test means", ylim=(0, 1),
           ylabel="accuracy")  # fmt: skip
    ax.legend()
    figure = save_figure(fig, ctx.out_dir, "vae-latent")

    first = {a: float(frames[a]["val/elbo"].iloc[0]) for a in ARCHITECTURES}
    gain = {a: float(frames[a]["val/elbo"].iloc[-1]) - untrained[a] for a in ARCHITECTURES}
    last = {a: float(frames[a]["val/elbo"].iloc[-1]) for a in ARCHITECTURES}
    kl = {a: float(frames[a]["val/kl"].iloc[-1]) for a in ARCHITECTURES}
    claims = [
        Claim(
            "training raises the ELBO (the negative ELBO, the loss, falls) by a clear margin",
            f"final validation ELBO - the untrained model's > {ELBO_GAIN} nats per image, and above the "
            "first epoch's, each architecture",
            {
                a: {"untrained": untrained[a], "first_epoch": first[a], "final": last[a]}
                for a in ARCHITECTURES
            },
            all(gain[a] > ELBO_GAIN and last[a] > first[a] for a in ARCHITECTURES),
        ),
        Claim(
            "the KL term stays positive: the 2-D code carries information (no posterior collapse)",
            f"final validation KL > {KL_MIN} nats per image, each architecture",
            kl,
            all(kl[a] > KL_MIN for a in ARCHITECTURES),
        ),
        Claim(
            "the digit classes separate in the 2-D latent space",
            f"{K}-NN accuracy of the test means > {KNN_MIN} (chance 0.1), each architecture",
            knn,
            all(knn[a] > KNN_MIN for a in ARCHITECTURES),
        ),
    ]
    values = {
        "val_elbo_untrained": untrained,
        "val_elbo_gain": gain,
        "val_elbo_first_epoch": first,
        "val_elbo_final": last,
        "val_kl_final": kl,
        "val_recon_final": {a: float(frames[a]["val/recon"].iloc[-1]) for a in ARCHITECTURES},
        "knn_accuracy": knn,
        "test": test,
        "epochs": {a: len(frames[a]) for a in ARCHITECTURES},
    }
    return RecipeOutput(figure, claims, values=values, runs=dirs)


RECIPE = Recipe(
    id="vae-latent",
    title="Variational autoencoder on digits: 2-D latent space, samples and the ELBO",
    book_ref="Section 8.2 (variational autoencoders)",
    chapter=8,
    claim="the ELBO rises in training, the KL term stays positive, and digits separate in the 2-D latent",
    run=run,
    minutes_quick=1.0,
)
