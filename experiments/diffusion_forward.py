"""diffusion-forward: the forward (noising) process of a diffusion model on a digit, as fig-8.1 draws it
(book section 8.1).

The schedule is the one conf/model/diffusion.yaml gives the Diffusion model (DDPM's: T = 1000 steps,
beta_t linear from 1e-4 to 0.02); pixels of scikit-learn's 8x8 digits are mapped from [0, 1] to [-1, 1].
Panel (a) draws x_t along one chain x_t = sqrt(alpha_t) x_{t-1} + sqrt(beta_t) z_t for three digits,
(b) the schedule: alpha_bar_t (the signal's share of the variance), 1 - alpha_bar_t and the signal-to-
noise ratio alpha_bar_t / (1 - alpha_bar_t), (c) the mean and standard deviation of one pixel over many
chains against the closed form q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I), (d) the
histogram of x_T over all chains and pixels against N(0, 1). No training: the claims are mathematics.
"""

import numpy as np
import torch
from hydra.utils import instantiate

from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput

# Per profile: the number of independent chains run from each digit (the Monte-Carlo sample).
SETTINGS = {"tiny": {"chains": 400}, "quick": {"chains": 3000}, "full": {"chains": 20_000}}
SHOWN_T = (0, 25, 50, 100, 200, 300, 500, 700, 1000)  # the columns of panel (a); 0 is x_0
DIGIT_INDICES = (0, 2, 7)  # scikit-learn digits 0, 2, 7 (the first of each)
SE_LIMIT = 5.0  # empirical moments within this many standard errors of the closed form
NORMAL_TOL = 0.03  # |mean(x_T)| and |std(x_T) - 1| below this


def _digits() -> tuple[torch.Tensor, list[int]]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.images[list(DIGIT_INDICES)], dtype=torch.float32) / 16.0
    return 2.0 * images.reshape(len(DIGIT_INDICES), 64) - 1.0, [int(digits.target[i]) for i in DIGIT_INDICES]


def run(ctx: RecipeContext) -> RecipeOutput:
    chains = SETTINGS[ctx.profile]["chains"]
    cfg = ctx.compose(["model=diffusion", "data=digits"])
    model = instantiate(cfg.model, input_dim=64)
    T = model.timesteps
    alpha_bar = model.alpha_bar.double()
    x0, labels = _digits()
    g = torch.Generator().manual_seed(0)

    # Every digit's chains, run step by step with the one-step kernel q(x_t | x_{t-1}).
    x = x0[:, None, :].expand(len(x0), chains, 64).clone()
    shown = {0: x[:, 0].clone()}
    mean_path = np.zeros((T + 1, len(x0), 64))
    std_path = np.zeros((T + 1, len(x0), 64))
    mean_path[0], std_path[0] = x0.numpy(), 0.0
    for t in range(T):
        x = model.noise_step(x, t, torch.randn(x.shape, generator=g))
        mean_path[t + 1] = x.mean(1).numpy()
        std_path[t + 1] = x.std(1).numpy()
        if t + 1 in SHOWN_T:
            shown[t + 1] = x[:, 0].clone()
    closed_mean = alpha_bar.sqrt().numpy()[:, None, None] * x0.numpy()[None]
    closed_std = np.broadcast_to((1 - alpha_bar).sqrt().numpy()[:, None, None], closed_mean.shape)
    # standard errors of the sample mean and the sample standard deviation of a normal sample
    # (checked at the times of panel (a): a few thousand comparisons, so 5 standard errors is no false alarm)
    at = [t - 1 for t in SHOWN_T if t > 0]
    z_mean = np.abs(mean_path[1:][at] - closed_mean[at]) / (closed_std[at] / np.sqrt(chains))
    z_std = np.abs(std_path[1:][at] - closed_std[at]) / (closed_std[at] / np.sqrt(2 * (chains - 1)))
    worst_z = float(max(z_mean.max(), z_std.max()))

    x_T = x.reshape(-1)
    mean_T, std_T = float(x_T.mean()), float(x_T.std())
    snr = (alpha_bar / (1 - alpha_bar)).numpy()
    snr_decreasing = bool(np.all(np.diff(snr) < 0))

    fig = _figure(model, shown, labels, alpha_bar.numpy(), snr, mean_path, std_path, closed_mean, closed_std,
                  x_T.numpy(), chains)  # fmt: skip
    figure = save_figure(fig, ctx.out_dir, "diffusion-forward")

    claims = [
        Claim(
            "iterating the one-step noising gives the closed form q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, "
            "(1 - alpha_bar_t) I)",
            f"every pixel's mean and std over {chains} chains, at the t of (a), within {SE_LIMIT} "
            "standard errors",
            {"largest deviation in standard errors": round(worst_z, 2)},
            bool(worst_z < SE_LIMIT),
        ),
        Claim(
            f"after T = {T} steps the digit is gone: x_T is N(0, 1) noise",
            f"|mean(x_T)| < {NORMAL_TOL} and |std(x_T) - 1| < {NORMAL_TOL}, alpha_bar_T < 1e-3",
            {"mean": round(mean_T, 4), "std": round(std_T, 4), "alpha_bar_T": float(alpha_bar[-1])},
            bool(abs(mean_T) < NORMAL_TOL and abs(std_T - 1) < NORMAL_TOL and float(alpha_bar[-1]) < 1e-3),
        ),
        Claim(
            "the signal-to-noise ratio alpha_bar_t / (1 - alpha_bar_t) falls at every step",
            "strictly decreasing in t, from above 100 at t = 1 to below 1e-3 at t = T",
            {"snr_1": float(snr[0]), "snr_T": float(snr[-1])},
            bool(snr_decreasing and snr[0] > 100 and snr[-1] < 1e-3),
        ),
    ]
    values = {
        "timesteps": T,
        "beta_start": float(model.betas[0]),
        "beta_end": float(model.betas[-1]),
        "chains": chains,
        "worst_standard_errors": worst_z,
        "x_T_mean": mean_T,
        "x_T_std": std_T,
        "alpha_bar": {str(t): float(alpha_bar[t - 1]) for t in SHOWN_T if t > 0},
        "snr": {str(t): float(snr[t - 1]) for t in SHOWN_T if t > 0},
        "t_half_signal": int(np.argmax(alpha_bar.numpy() < 0.5)) + 1,  # first t with alpha_bar_t < 1/2
    }
    return RecipeOutput(figure, claims, values=values)


def _figure(model, shown, labels, alpha_bar, snr, mean_path, std_path, closed_mean, closed_std, x_T, chains):
    fig = subplots(figsize=(14, 8.4))[0]
    fig.clear()
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.0, 1.0])
    top.suptitle(
        "(a) forward noising of three digits along one chain: x_t for growing t "
        "(pixels scaled to [-1, 1] at t = 0; grey scale from -2.5 white to 2.5 black)",
        fontsize=11,
    )
    axes = top.subplots(len(labels), len(SHOWN_T))
    for row, label in enumerate(labels):
        for col, t in enumerate(SHOWN_T):
            ax = axes[row, col]
            ax.imshow(shown[t][row].reshape(8, 8).numpy(), cmap="gray_r", vmin=-2.5, vmax=2.5)
            ax.set(xticks=[], yticks=[])
            ax.grid(False)
            if row == 0:
                ab = 1.0 if t == 0 else alpha_bar[t - 1]
                ax.set_title(f"t = {t}\n" + r"$\bar\alpha_t$" + f" = {ab:.3g}", fontsize=9)
            if col == 0:
                ax.set_ylabel(f"digit {label}")
    ax_b, ax_c, ax_d = bottom.subplots(1, 3)
    t = np.arange(1, len(alpha_bar) + 1)
    ax_b.plot(t, alpha_bar, label=r"$\bar\alpha_t$ (signal variance share)")
    ax_b.plot(t, 1 - alpha_bar, label=r"$1-\bar\alpha_t$ (noise variance)")
    ax_b.plot(t, model.betas.numpy() / model.betas.numpy().max(), ":", label=r"$\beta_t / \beta_T$ (linear)")
    ax_b.set(xlabel="t", ylabel="value", title="(b) the schedule (left axis) and SNR (right axis)")
    twin = ax_b.twinx()
    twin.semilogy(t, snr, color="tab:red", label=r"SNR $\bar\alpha_t/(1-\bar\alpha_t)$")
    twin.set_ylabel("signal-to-noise ratio (log)", color="tab:red")
    twin.grid(False)
    lines = ax_b.get_legend_handles_labels()
    lines_twin = twin.get_legend_handles_labels()
    ax_b.legend(lines[0] + lines_twin[0], lines[1] + lines_twin[1], loc="center right", fontsize=8)
    start = mean_path[0]  # the pixel whose moments (c) follows: the one where the three digits differ most
    pixel = int(
        np.argmax(start.max(0) - start.min(0) + 0.1 * np.abs(np.diff(np.sort(start, 0), axis=0)).min(0))
    )
    ts = np.arange(len(mean_path))
    for row, (label, colour) in enumerate(zip(labels, ("tab:blue", "tab:orange", "tab:green"), strict=False)):
        ax_c.plot(ts[1:], closed_mean[:, row, pixel], color=colour, lw=3, alpha=0.35)
        ax_c.plot(ts, mean_path[:, row, pixel], "--", color=colour, lw=1, label=f"mean, digit {label}")
    ax_c.plot(ts[1:], closed_std[:, 0, 0], color="k", lw=3, alpha=0.35, label="closed form (thick)")
    ax_c.plot(ts, std_path[:, 0, pixel], "k--", lw=1, label=f"std, digit {labels[0]}")
    ax_c.set(xlabel="t", ylabel=f"pixel ({pixel // 8}, {pixel % 8}) over {chains} chains",
             title="(c) iterated one-step noising vs closed form")  # fmt: skip
    ax_c.legend(fontsize=8)
    grid = np.linspace(-4.5, 4.5, 200)
    ax_d.hist(x_T, bins=60, density=True, color="tab:gray", alpha=0.6,
              label=f"x_T: {len(x_T):,} pixels\nmean {x_T.mean():.3f}, std {x_T.std():.3f}")  # fmt: skip
    ax_d.plot(grid, np.exp(-(grid**2) / 2) / np.sqrt(2 * np.pi), "k", label="N(0, 1) density")
    ax_d.set(xlabel="value", ylabel="density", title=f"(d) x_T at T = {len(alpha_bar)}: N(0, 1) noise")
    ax_d.legend(fontsize=8)
    return fig


RECIPE = Recipe(
    id="diffusion-forward",
    title="Diffusion: the forward noising of a digit and its closed form",
    book_ref="Section 8.1 (fig-8.1, diffusion models)",
    chapter=8,
    claim="iterated noising has the closed form N(sqrt(alpha_bar_t) x_0, (1-alpha_bar_t) I); x_T is N(0, 1)",
    run=run,
    minutes_quick=0.2,
)
