"""diffusion-digits: samples of a diffusion model trained on 8x8 digits (book section 8.1).

Runs experiment diffusion_digits: the DDPM-style Diffusion model (T = 1000, linear betas 1e-4..0.02, an MLP
noise predictor on the 64 pixels, scaled from [0, 1] to [-1, 1]) trained with the simple loss on scikit-
learn's digits (1,077 training images; 720 held out). Ancestral sampling draws new digits from noise. The
sweep trains it twice: with pixels scaled to [-1, 1] before noising (DDPM's convention; the samples shown)
and as they are, in [0, 1] (an ablation). Their energy distance to the held-out digits
(mde_exp.sample_distance) is set against that of the initial noise, of a Gaussian with the training images'
mean and covariance (a model of first and second moments alone), and of as many training images (the floor
of sampling error alone). At the quick scale the samples keep some pixel noise, and the Gaussian fit is the
closer of the two by this distance (shown, not claimed: in 64 dimensions the energy distance weighs mean and
spread most); so, by a little, are the samples of the unscaled model. The second claim is that the samples
are new images, not copies: their distance to the nearest training image is no smaller than a held-out
digit's.
"""

import textwrap

import torch

from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.sample_distance import energy_distance
from mde_exp.store import load_datamodule, load_model, read_epoch_metrics

SETTINGS = {
    "tiny": {"overrides": ["trainer.max_epochs=8"], "samples": 200},
    "quick": {"overrides": ["trainer.max_epochs=40"], "samples": 720},
    "full": {"overrides": ["trainer.max_epochs=400"], "samples": 2000},
}
SHOWN_T = (1000, 300, 150, 75, 30, 0)  # the reverse process's snapshots of panel (c)
NOISE_RATIO = 0.05  # the samples' energy distance below this share of the initial noise's
GRID = (6, 8)  # samples and held-out digits shown


def _gaussian_fit(x: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """n draws of N(mean, covariance) of the rows of x (the covariance nudged to be positive definite)."""
    x = x.double()
    cov = torch.cov(x.T) + 1e-6 * torch.eye(x.shape[1], dtype=x.dtype)
    z = torch.randn(n, x.shape[1], generator=generator, dtype=x.dtype)
    return (x.mean(0) + z @ torch.linalg.cholesky(cov).T).float()


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    jobs = ctx.sweep(["+experiment=diffusion_digits", *settings["overrides"]])
    result = next(r for job, r in jobs if "model.data_range=[0,1]" in job)
    unscaled = next(r for job, r in jobs if "model.data_range=null" in job)
    model = load_model(result.dir)
    dm = load_datamodule(result.dir)
    train_x = dm.splits["train"][0].flatten(1)
    held_out = torch.cat([dm.splits["val"][0], dm.splits["test"][0]]).flatten(1)
    n = settings["samples"]
    samples, kept = model.sample(n, generator=torch.Generator().manual_seed(0), keep=SHOWN_T)
    pick = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(1))[: min(n, len(train_x))]
    distance = {
        "noise x_T": energy_distance(model.to_data_space(kept[model.timesteps]), held_out),
        "Gaussian fit": energy_distance(
            _gaussian_fit(train_x, n, torch.Generator().manual_seed(2)), held_out
        ),
        "diffusion samples": energy_distance(samples, held_out),
        "same, pixels not scaled": energy_distance(
            load_model(unscaled.dir).sample(n, generator=torch.Generator().manual_seed(0)), held_out
        ),
        "training images (floor)": energy_distance(train_x[pick], held_out),
    }
    nearest_sample = torch.cdist(samples, train_x).min(1).values.median()
    nearest_held_out = torch.cdist(held_out, train_x).min(1).values.median()
    frame = read_epoch_metrics(result.dir)

    fig = _figure(model, samples, held_out, kept, distance)
    figure = save_figure(fig, ctx.out_dir, "diffusion-digits")
    ratio = distance["diffusion samples"] / distance["noise x_T"]
    claims = [
        Claim(
            "diffusion samples are far closer to held-out digits than the noise they start from",
            f"energy distance(samples, held-out) < {NOISE_RATIO} x energy distance(noise, held-out)",
            {k: round(v, 4) for k, v in distance.items()} | {"ratio": round(ratio, 4)},
            bool(ratio < NOISE_RATIO),
        ),
        Claim(
            "the samples are new digits, not copies of training images",
            "median distance of a sample to its nearest training image >= that of a held-out digit",
            {
                "diffusion samples": round(float(nearest_sample), 4),
                "held-out digits": round(float(nearest_held_out), 4),
            },
            bool(nearest_sample >= nearest_held_out),
        ),
    ]
    values = {
        "energy_distance": distance,
        "ratio_to_noise": ratio,
        "median_distance_to_nearest_training_image": {
            "diffusion samples": float(nearest_sample),
            "held-out digits": float(nearest_held_out),
        },
        "samples": n,
        "held_out": len(held_out),
        "first_val_loss": float(frame["val/loss"].iloc[0]),
        "final_val_loss": float(frame["val/loss"].iloc[-1]),
    }
    return RecipeOutput(figure, claims, values=values, runs=[str(result.dir), str(unscaled.dir)])


def _grid(images: torch.Tensor) -> torch.Tensor:
    rows, cols = GRID
    padded = torch.nn.functional.pad(
        images[: rows * cols].reshape(-1, 8, 8), (1, 1, 1, 1), value=float("nan")
    )
    return padded.reshape(rows, cols, 10, 10).permute(0, 2, 1, 3).reshape(rows * 10, cols * 10)


def _figure(model, samples, held_out, kept, distance):
    fig, axes = subplots(1, 4, figsize=(17, 4.6), width_ratios=[1.3, 1.3, 1.0, 1.2])
    cmap = "gray_r"
    for ax, images, title in (
        (axes[0], samples, f"(a) diffusion samples ({GRID[0] * GRID[1]} of {len(samples)})"),
        (axes[1], held_out, "(b) held-out digits"),
    ):
        ax.imshow(_grid(images.clamp(0, 1)).numpy(), cmap=cmap, vmin=0, vmax=1)
        ax.set(title=title, xticks=[], yticks=[])
        ax.grid(False)
    strip = torch.stack([model.to_data_space(kept[t][:5]) for t in SHOWN_T], 1).reshape(-1, 64)
    padded = torch.nn.functional.pad(strip.reshape(-1, 8, 8), (1, 1, 1, 1), value=float("nan"))
    image = padded.reshape(5, len(SHOWN_T), 10, 10).permute(0, 2, 1, 3).reshape(50, len(SHOWN_T) * 10)
    axes[2].imshow(image.clamp(-0.5, 1.5).numpy(), cmap=cmap, vmin=-0.5, vmax=1.5)
    axes[2].set_xticks([10 * i + 4.5 for i in range(len(SHOWN_T))], [str(t) for t in SHOWN_T])
    axes[2].set(yticks=[], xlabel="t (from x_T ~ N(0, I) to x_0)", title="(c) the reverse process, 5 samples")
    axes[2].grid(False)
    names = list(distance)
    colours = ["tab:gray", "tab:purple", "tab:blue", "tab:cyan", "tab:orange"]
    bars = axes[3].bar(range(len(names)), [distance[k] for k in names], color=colours)
    axes[3].bar_label(bars, fmt="%.3f", fontsize=8)
    labels = [textwrap.fill(k, 12) for k in names]
    axes[3].set_xticks(range(len(names)), labels, fontsize=8)
    axes[3].set(yscale="log", ylabel="energy distance to held-out digits (log)",
                title="(d) energy distance to held-out digits")  # fmt: skip
    return fig


RECIPE = Recipe(
    id="diffusion-digits",
    title="Diffusion: samples of a model trained on 8x8 digits",
    book_ref="Section 8.1 (diffusion models)",
    chapter=8,
    claim="samples drawn from noise are close to held-out digits (energy distance) and are not copies",
    run=run,
    minutes_quick=0.8,
)
