"""gan-2d: a GAN and a WGAN-GP on a ring of eight Gaussians: which modes they cover (book section 8.3).

Runs experiment gan_2d twice, with model=gan (non-saturating loss, one discriminator step per generator
step) and model=wgan (Wasserstein loss with gradient penalty, five critic steps per generator step), then
draws samples from each generator over the data. A mode counts as covered when at least COVER_MIN of
the N_SAMPLES generated points fall within three standard deviations of its centre; a sample is
high-quality when it lies within three standard deviations of some centre (the measures of Srivastava
et al., 2017, VEEGAN, used by the WGAN-GP literature for this toy set).
"""

import numpy as np
import torch
from omegaconf import OmegaConf

from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import load_model, read_epoch_metrics

# Per profile: overrides of both runs, then the epochs of each (WGAN-GP takes a generator step only
# every fifth batch, so it gets more epochs).
SETTINGS = {
    "tiny": {"overrides": ["data.generator.n_samples=2000"], "epochs": {"gan": 3, "wgan": 5}},
    "quick": {"overrides": [], "epochs": {"gan": 30, "wgan": 150}},
    "full": {"overrides": ["data.generator.n_samples=50000"], "epochs": {"gan": 100, "wgan": 300}},
}
MODELS = {"gan": "GAN (non-saturating)", "wgan": "WGAN-GP"}
N_SAMPLES = 2500
COVER_MIN = 20  # samples within 3 std of a centre for its mode to count as covered
WITHIN = 3.0  # standard deviations
HQ_FACTOR = 5  # high-quality fraction at least this multiple of a fitted Gaussian's


def mixture_centres(generator_cfg) -> np.ndarray:
    """The centres of conf/data/gaussian_mixture.yaml's mixture (ring or grid layout)."""
    k, radius = int(generator_cfg.n_components), float(generator_cfg.radius)
    if generator_cfg.layout == "ring":
        angles = 2 * np.pi * np.arange(k) / k
        return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    ticks = np.linspace(-radius, radius, int(round(np.sqrt(k))))
    return np.array([(a, b) for a in ticks for b in ticks])


def mode_coverage(samples: np.ndarray, centres: np.ndarray, radius: float, cover_min: int) -> dict:
    """Samples per mode within `radius` of its centre, the modes with at least `cover_min` of them,
    and the fraction of samples within `radius` of some centre (high quality)."""
    distance = np.linalg.norm(samples[:, None, :] - centres[None, :, :], axis=2)
    nearest = distance.argmin(1)
    close = distance.min(1) <= radius
    counts = np.bincount(nearest[close], minlength=len(centres))
    return {
        "counts": counts.tolist(),
        "modes_covered": int((counts >= cover_min).sum()),
        "high_quality": float(close.mean()),
    }


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    results, samples, coverage, frames = {}, {}, {}, {}
    for name in MODELS:
        epochs = f"trainer.max_epochs={settings['epochs'][name]}"
        result = ctx.train(["+experiment=gan_2d", f"model={name}", epochs, *settings["overrides"]])
        results[name] = result
        model = load_model(result.dir)
        samples[name] = model.sample(N_SAMPLES, generator=torch.Generator().manual_seed(0)).numpy()
        frames[name] = read_epoch_metrics(result.dir)
    cfg = OmegaConf.load(results["gan"].dir / "config.yaml")
    centres = mixture_centres(cfg.data.generator)
    std = float(cfg.data.generator.std)
    for name in MODELS:
        coverage[name] = mode_coverage(samples[name], centres, WITHIN * std, COVER_MIN)
    k = len(centres)
    rng = np.random.default_rng(0)
    data = centres[rng.integers(0, k, N_SAMPLES)] + std * rng.standard_normal((N_SAMPLES, 2))
    # The baseline a generator must beat: one Gaussian fitted to the data (right mean and covariance).
    gaussian = rng.multivariate_normal(data.mean(0), np.cov(data.T), N_SAMPLES)
    baseline = mode_coverage(gaussian, centres, WITHIN * std, COVER_MIN)["high_quality"]

    fig, axes = subplots(1, 4, figsize=(17, 4.4))
    lim = float(np.abs(centres).max()) + 1.0
    colours = {"gan": "tab:red", "wgan": "tab:blue"}
    panels = [(f"(a) data: {k} Gaussians on a ring", data, "tab:gray")] + [
        (f"({'bc'[i]}) {MODELS[n]}:\n{coverage[n]['modes_covered']}/{k} modes covered, "
         f"{coverage[n]['high_quality']:.0%} high quality", samples[n], colours[n])
        for i, n in enumerate(MODELS)
    ]  # fmt: skip
    for ax, (title, points, colour) in zip(axes[:3], panels, strict=True):
        ax.scatter(data[:, 0], data[:, 1], s=3, color="lightgray", label="data")
        if points is not data:
            ax.scatter(points[:, 0], points[:, 1], s=3, alpha=0.5, color=colour, label="generated")
        for c in centres:
            ax.add_patch(plt_circle(c, WITHIN * std))
        ax.set(
            title=title, xlabel="$x_1$", ylabel="$x_2$", xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal"
        )
        ax.legend(loc="center", markerscale=3, fontsize=7)
    ax = axes[3]
    for name, colour in zip(MODELS, ("tab:red", "tab:blue"), strict=True):
        frame = frames[name]
        epochs = frame.index.to_numpy() + 1
        ax.plot(
            epochs, frame["train/d_loss"], color=colour, label=f"{MODELS[name]}: discriminator/critic loss"
        )
        ax.plot(epochs, frame["train/g_loss"], "--", color=colour, label=f"{MODELS[name]}: generator loss")
        if "train/wasserstein" in frame:
            ax.plot(
                epochs, frame["train/wasserstein"], ":", color=colour, label="WGAN-GP: Wasserstein estimate"
            )
    ax.set(title="(d) training losses (epoch means)", xlabel="epoch", ylabel="loss")
    ax.legend(fontsize=7)
    fig.suptitle(f"GAN vs WGAN-GP on a ring of {k} Gaussians (circles: 3 std around each mode; "
                 f"a mode is covered with >= {COVER_MIN} of {N_SAMPLES} samples inside)")  # fmt: skip
    figure = save_figure(fig, ctx.out_dir, "gan-2d")

    covered = {MODELS[n]: coverage[n]["modes_covered"] for n in MODELS}
    quality = {MODELS[n]: round(coverage[n]["high_quality"], 4) for n in MODELS}
    claims = [
        Claim(
            f"WGAN-GP covers every one of the {k} modes",
            f"modes covered = {k} (>= {COVER_MIN} of {N_SAMPLES} samples within 3 std)",
            covered,
            coverage["wgan"]["modes_covered"] == k,
        ),
        Claim(
            "WGAN-GP covers at least as many modes as the GAN",
            "modes covered: WGAN-GP >= GAN",
            covered,
            coverage["wgan"]["modes_covered"] >= coverage["gan"]["modes_covered"],
        ),
        Claim(
            "WGAN-GP puts its samples on the modes: high-quality fraction (within 3 std of a centre) far "
            "above that of a Gaussian fitted to the data",
            f"WGAN-GP's fraction high-quality >= {HQ_FACTOR} x the fitted Gaussian's ({baseline:.3f})",
            quality,
            coverage["wgan"]["high_quality"] >= HQ_FACTOR * baseline,
        ),
    ]
    values = {
        "modes": k,
        "modes_covered": covered,
        "high_quality_fraction": quality,
        "samples_per_mode": {MODELS[n]: coverage[n]["counts"] for n in MODELS},
        "final": {
            MODELS[n]: {c: float(frames[n][c].iloc[-1]) for c in frames[n] if c.startswith("train/")}
            for n in MODELS
        },
        "high_quality_fitted_gaussian": baseline,
        "epochs": settings["epochs"],
        "n_samples": N_SAMPLES,
        "cover_min": COVER_MIN,
    }
    return RecipeOutput(figure, claims, values=values, runs=[str(r.dir) for r in results.values()])


def plt_circle(centre: np.ndarray, radius: float):
    from matplotlib.patches import Circle

    return Circle(tuple(centre), radius, fill=False, color="black", lw=0.8)


RECIPE = Recipe(
    id="gan-2d",
    title="GAN and WGAN-GP on a ring of Gaussians: mode coverage",
    book_ref="Section 8.3 (GANs, Wasserstein GAN)",
    chapter=8,
    claim="WGAN-GP covers every mode of the mixture, with most samples near a mode",
    run=run,
    minutes_quick=1.0,
)
