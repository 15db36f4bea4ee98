"""diffusion-samples: a diffusion model trained on a 2-D toy set draws samples like the data (book
section 8.1).

Runs experiment diffusion_toy: the DDPM-style Diffusion model (T = 1000, linear betas 1e-4..0.02, an MLP
noise predictor eps_theta(x_t, t)) trained with the simple loss on the eight-Gaussian ring (1,600 training
points; 400 held out) and on scikit-learn's two moons (600 training points; 400 held out). Ancestral
sampling then maps N(0, I) noise back, step by step, to the data. The
distance of samples to data is the energy distance (Szekely and Rizzo)
    D^2(P, Q) = 2 E|X - Y| - E|X - X'| - E|Y - Y'|,   X, X' ~ P, Y, Y' ~ Q,
zero only when P = Q, estimated by the V-statistic (all pairs, never negative; its bias, about
E|Y - Y'| / n per sample of size n, is the floor that the training points show). It is
measured against the held-out points for the model's samples, for the initial noise x_T ~ N(0, I), and for
as many training points (the floor that sampling error alone gives).
"""

import torch

from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.sample_distance import energy_distance
from mde_exp.store import load_datamodule, load_model, read_epoch_metrics

# Per profile: overrides of the run, and how many samples are drawn.
SETTINGS = {
    "tiny": {"overrides": ["trainer.max_epochs=20", "optimizer.lr=0.01"], "samples": 400},
    "quick": {"overrides": ["trainer.max_epochs=30"], "samples": 2000},
    "full": {"overrides": ["trainer.max_epochs=200", "data.generator.n_samples=20000"], "samples": 10_000},
}
SHOWN_T = (1000, 400, 200, 100, 50, 0)  # the reverse process's snapshots of panel (a)
RATIO = 0.2  # the model's energy distance to held-out data below this share of the noise's
MODE_SHARE = 0.5  # every mixture component gets at least half its fair share (1/8) of the samples
DATA_NAMES = {"gaussian_mixture": "ring", "moons": "moons"}
MODE_RADIUS = 0.4  # a sample "hits" a component within this distance of its centre (standardized: std 0.035,
# centres 1.1 apart)


def _centres(data: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return torch.stack([data[labels == k].mean(0) for k in range(int(labels.max()) + 1)])


def _evaluate(result, n: int) -> dict:
    """Samples of a trained run, its data, and the energy distances to its held-out points."""
    model = load_model(result.dir)
    dm = load_datamodule(result.dir)
    train_x, train_y = dm.splits["train"][:2]
    held_out = torch.cat([dm.splits["val"][0], dm.splits["test"][0]])
    samples, kept = model.sample(n, generator=torch.Generator().manual_seed(0), keep=SHOWN_T)
    order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(1))
    distance = {
        "noise x_T ~ N(0, I)": energy_distance(kept[model.timesteps], held_out),
        "diffusion samples": energy_distance(samples, held_out),
        "training points (floor)": energy_distance(train_x[order[: min(n, len(train_x))]], held_out),
    }
    return {
        "kept": kept, "samples": samples, "train_x": train_x, "train_y": train_y, "held_out": held_out,
        "distance": distance, "ratio": distance["diffusion samples"] / distance["noise x_T ~ N(0, I)"],
        "frame": read_epoch_metrics(result.dir), "T": model.timesteps, "dir": str(result.dir),
    }  # fmt: skip


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    n = settings["samples"]
    jobs = ctx.sweep(["+experiment=diffusion_toy", *settings["overrides"]])
    sets = {DATA_NAMES[job[0].split("=", 1)[1]]: _evaluate(result, n) for job, result in jobs}
    ring = sets["ring"]
    centres = _centres(ring["train_x"], ring["train_y"])
    nearest = torch.cdist(ring["samples"].double(), centres.double())
    hits = nearest.min(1).values < MODE_RADIUS
    share = torch.bincount(nearest.argmin(1)[hits], minlength=len(centres)).double() / n
    spread = {  # median distance to the nearest component's centre: how sharp the modes are
        "diffusion samples": float(nearest.min(1).values.median()),
        "held-out data": float(
            torch.cdist(ring["held_out"].double(), centres.double()).min(1).values.median()
        ),
    }

    fig = _figure(sets, share)
    figure = save_figure(fig, ctx.out_dir, "diffusion-samples")

    fair = 1.0 / len(centres)
    claims = [
        Claim(
            f"{name}: diffusion samples are far closer to held-out data than the noise they start from",
            f"energy distance(samples, held-out) < {RATIO} x energy distance(N(0, I) noise, held-out)",
            {k: round(v, 4) for k, v in s["distance"].items()} | {"ratio": round(s["ratio"], 4)},
            bool(s["ratio"] < RATIO),
        )
        for name, s in sets.items()
    ]
    claims.append(
        Claim(
            f"the samples cover every one of the {len(centres)} components of the ring",
            f"each component gets >= {MODE_SHARE} x 1/{len(centres)} of the samples within {MODE_RADIUS} of "
            "its centre",
            {
                "smallest share": round(float(share.min()), 4),
                "hits (all components)": round(float(hits.double().mean()), 4),
            },
            bool(share.min() >= MODE_SHARE * fair),
        )  # fmt: skip
    )
    values = {
        name: {
            "energy_distance": s["distance"],
            "ratio_to_noise": s["ratio"],
            "held_out": len(s["held_out"]),
            "first_val_loss": float(s["frame"]["val/loss"].iloc[0]),
            "final_val_loss": float(s["frame"]["val/loss"].iloc[-1]),
        }
        for name, s in sets.items()
    }
    values |= {
        "component_share": [float(v) for v in share],
        "hit_fraction": float(hits.double().mean()),
        "median_distance_to_centre": spread,
        "samples": n,
        "timesteps": ring["T"],
    }
    return RecipeOutput(figure, claims, values=values, runs=[s["dir"] for s in sets.values()])


def _limits(x: torch.Tensor) -> tuple[tuple[float, float], tuple[float, float]]:
    low, high = x.min(0).values, x.max(0).values
    pad = 0.25 * (high - low)
    return (float(low[0] - pad[0]), float(high[0] + pad[0])), (
        float(low[1] - pad[1]),
        float(high[1] + pad[1]),
    )


def _figure(sets: dict, share: torch.Tensor):
    fig = subplots(figsize=(17, 8.4))[0]
    fig.clear()
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.0, 1.05])
    ring = sets["ring"]
    top.suptitle(
        f"(a) the reverse process on the ring: samples x_t from x_{ring['T']} ~ N(0, I) down to x_0 (blue); "
        "held-out data grey",
        fontsize=11,
    )
    axes = top.subplots(1, len(SHOWN_T), sharex=True, sharey=True)
    lim = float(ring["held_out"].abs().max()) * 1.6
    for ax, t in zip(axes, SHOWN_T, strict=True):
        ax.scatter(*ring["held_out"].T, s=4, color="0.6", label="held-out data")
        ax.scatter(*ring["kept"][t].T, s=2, color="tab:blue", alpha=0.4, label="samples x_t")
        ax.set(title=f"t = {t}", xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
    axes[0].legend(loc="lower left", markerscale=3)
    panels = bottom.subplots(1, 4, width_ratios=[1, 1, 1.1, 1.3])
    for ax, (letter, (name, s)) in zip(panels[:2], zip("bc", sets.items(), strict=False), strict=False):
        ax.scatter(
            *s["samples"].T,
            s=4,
            color="tab:blue",
            alpha=0.3,
            label=f"diffusion samples ({len(s['samples'])})",
        )
        ax.scatter(
            *s["train_x"].T, s=1, color="tab:orange", alpha=0.8, label=f"training data ({len(s['train_x'])})"
        )
        xlim, ylim = _limits(s["train_x"])
        ax.set(title=f"({letter}) {name}: samples vs training data", aspect="equal", xlim=xlim, ylim=ylim)
        ax.legend(loc="lower left", markerscale=3, fontsize=7)
    for (name, s), colour in zip(sets.items(), ("tab:blue", "tab:green"), strict=False):
        epochs = s["frame"].index.to_numpy() + 1
        panels[2].plot(epochs, s["frame"]["train/loss"], color=colour, label=f"{name}: training batches")
        panels[2].plot(
            epochs, s["frame"]["val/loss"], "--", color=colour, label=f"{name}: validation (fixed t, noise)"
        )
    panels[2].set(title=r"(d) the simple loss $\|\epsilon-\epsilon_\theta(x_t,t)\|^2$",
                  xlabel="epoch (10 passes)", ylabel="mean squared error per coordinate")  # fmt: skip
    panels[2].legend(fontsize=7)
    names = list(ring["distance"])
    width = 0.38
    for k, ((name, s), colour) in enumerate(zip(sets.items(), ("tab:blue", "tab:green"), strict=False)):
        x = [i + (k - 0.5) * width for i in range(len(names))]
        bars = panels[3].bar(x, [s["distance"][m] for m in names], width, color=colour, label=name)
        panels[3].bar_label(bars, fmt="%.4f", fontsize=7)
    panels[3].set_xticks(range(len(names)), [m.replace(" (", "\n(") for m in names], fontsize=8)
    panels[3].set(yscale="log", ylabel="energy distance to held-out data (log)",
                  title="(e) energy distance to held-out data")  # fmt: skip
    panels[3].legend(loc="lower left", fontsize=7)
    inset = panels[3].inset_axes([0.66, 0.66, 0.32, 0.3])
    inset.bar(range(len(share)), share.numpy(), color="tab:blue")
    inset.axhline(1 / len(share), color="k", lw=0.8, ls="--")
    inset.set_title("ring: share of samples per component", fontsize=7)
    inset.tick_params(labelsize=6)
    return fig


RECIPE = Recipe(
    id="diffusion-samples",
    title="Diffusion: samples of models trained on 2-D toy sets against the data",
    book_ref="Section 8.1 (diffusion models)",
    chapter=8,
    claim="ancestral sampling turns N(0, I) noise into samples close to the data (energy distance)",
    run=run,
    minutes_quick=0.9,
)
