"""fig-2.13: K-means colour segmentation of a photograph with K = 2 and K = 6 (book section 2.6).
Direct computation (scikit-learn's KMeans on the RGB pixels), nothing trained.

The companion source R/K-means-image-segmentation.R segments a photograph of its own; here the photo is
scikit-learn's embedded sample "china.jpg" (427 x 640, data=photo). Each pixel is a point of [0, 1]^3;
the segmented image paints every pixel with its cluster's centre colour.
"""

import numpy as np
from matplotlib.patches import Rectangle
from sklearn.cluster import KMeans

from mde_exp.data.photos import sample_photo
from mde_exp.figures.panels import image_panel
from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput

PHOTO = "china"
SHOWN = (2, 6)  # the book's two segmentations
CURVE = range(1, 9)  # K for the within-cluster error curve
# Per profile: every `step`-th row and column of the photo (1 = all 273,280 pixels), K-means restarts.
SETTINGS = {
    "tiny": {"step": 4, "n_init": 1},
    "quick": {"step": 1, "n_init": 3},
    "full": {"step": 1, "n_init": 10},
}


def segment(pixels: np.ndarray, k: int, n_init: int) -> KMeans:
    """K-means with k clusters on the pixels (N x 3), seeded, iterated until the assignment stops
    changing (tol=0), so that every centre is the mean of its pixels."""
    return KMeans(k, n_init=n_init, random_state=0, tol=0.0, max_iter=1000).fit(pixels)


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    image = sample_photo(PHOTO, step=settings["step"])
    pixels = image.reshape(-1, 3)
    models = {k: segment(pixels, k, settings["n_init"]) for k in CURVE}
    # within-cluster error: mean over pixels of the squared distance to the pixel's centre colour
    error = {k: float(m.inertia_ / len(pixels)) for k, m in models.items()}

    fig, axes = subplots(1, 4, figsize=(19, 3.9), gridspec_kw={"width_ratios": [1, 1, 1, 0.85]})
    h, w = image.shape[:2]
    image_panel(
        axes[0], image, f"original image ({h} x {w} pixels,\n{len(np.unique(pixels, axis=0)):,} colours)"
    )
    segmented = {}
    for ax, k in zip(axes[1:3], SHOWN, strict=True):
        m = models[k]
        segmented[k] = m.cluster_centers_[m.labels_].reshape(image.shape)
        image_panel(ax, segmented[k], f"K-means clustering of {k} colours (strip: the {k} centre\n"
                    f"colours); within-cluster error {error[k]:.4f}")  # fmt: skip
        # the palette, as a strip of swatches under the image
        for i, colour in enumerate(m.cluster_centers_):
            ax.add_patch(
                Rectangle((i * w / k, h + 8), w / k, 0.06 * h, color=np.clip(colour, 0, 1), clip_on=False)
            )
    ax = axes[3]
    ax.plot(list(CURVE), [error[k] for k in CURVE], "o-", color="k")
    for k in SHOWN:
        ax.plot(k, error[k], "o", ms=11, mfc="none", mec="tab:red", mew=2,
                label="the segmentations shown" if k == SHOWN[0] else None)  # fmt: skip
    ax.legend(loc="upper right")
    ax.set(
        title="within-cluster error against K",
        xlabel="number of colours K",
        ylabel="mean squared distance to centre colour\n(RGB in [0, 1], per pixel)",
        xticks=list(CURVE),
        ylim=(0, None),
    )
    figure = save_figure(fig, ctx.out_dir, "fig-2.13")

    # K-means' fixed point: each centre is the mean colour of its pixels
    fixed_point = max(
        float(np.abs(m.cluster_centers_[c] - pixels[m.labels_ == c].mean(0)).max())
        for k in SHOWN
        for m in [models[k]]
        for c in range(k)
    )
    colours = {k: len(np.unique(segmented[k].reshape(-1, 3), axis=0)) for k in SHOWN}
    drops = [error[k + 1] < error[k] for k in list(CURVE)[:-1]]
    claims = [
        Claim(
            "more colours, smaller within-cluster error: K = 6 is much closer to the photo than K = 2",
            "error(6) < error(2) / 2",
            {str(k): error[k] for k in SHOWN},
            error[6] < error[2] / 2,
        ),
        Claim(
            "the within-cluster error falls with every added cluster (K = 1..8)",
            "error(K + 1) < error(K)",
            {str(k): error[k] for k in CURVE},
            all(drops),
        ),
        Claim(
            "each segmentation paints the photo with exactly K colours, each the mean of its pixels "
            "(a fixed point of K-means)",
            "K distinct colours; max |centre - mean of its pixels| < 1e-4",
            {"colours": {str(k): v for k, v in colours.items()}, "fixed_point_gap": fixed_point},
            all(colours[k] == k for k in SHOWN) and fixed_point < 1e-4,
        ),
    ]
    return RecipeOutput(
        figure,
        claims,
        values={
            "within_cluster_error": {str(k): v for k, v in error.items()},
            "palettes": {str(k): models[k].cluster_centers_.tolist() for k in SHOWN},
            "pixels": len(pixels),
            "bits_per_pixel": {str(k): float(np.log2(k)) for k in SHOWN} | {"original": 24.0},
        },
    )


RECIPE = Recipe(
    id="fig-2.13",
    title="K-means colour segmentation of a photograph with K = 2 and K = 6",
    book_ref="Figure 2.13, section 2.6",
    chapter=2,
    claim="clustering the pixels' colours with K-means segments the image; more clusters keep more of it",
    run=run,
    minutes_quick=0.18,
)
