"""fig-4.2: gradient descent on Rosenbrock's function with a fixed and a decaying learning rate (sec. 4.2).

Runs experiment rosenbrock_gd: ObjectiveModel (theta is the model's parameter) trained by torch's SGD
from (0.2, -0.2) with alpha0 in {0.005, 0.0025}, without a schedule and with scheduler=exponential
(gamma 0.99, stepped after every optimisation step: alpha_t = alpha0 0.99^t). Each run's path comes
from callbacks=parameter_path. The companion code (Python/GD-with-timde-dependent-alpha.py) runs
100,000 iterations; the full profile does too.
"""

import numpy as np

from mde_exp.figures.paths import contours, draw_path, mark_points, path_metrics
from mde_exp.figures.style import save_figure, subplots
from mde_exp.objectives import rosenbrock
from mde_exp.parameter_path import path_array, read_parameter_path
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput

# Per profile: optimisation steps (epochs of data.steps_per_epoch = 100 steps).
SETTINGS = {"tiny": {"epochs": 10}, "quick": {"epochs": 30}, "full": {"epochs": 1000}}
OPTIMUM = np.array([1.0, 1.0])
RATES = ("0.005", "0.0025")
COLOURS = {"0.005": "tab:green", "0.0025": "tab:blue"}
LAST = 10  # the last steps over which oscillation is judged


def _label(job: list[str]) -> tuple[str, str]:
    rate = next(o.split("=", 1)[1] for o in job if o.startswith("optimizer.lr="))
    schedule = next(o.split("=", 1)[1] for o in job if o.startswith("scheduler="))
    return rate, "fixed" if schedule == "none" else "decaying"


def run(ctx: RecipeContext) -> RecipeOutput:
    epochs = SETTINGS[ctx.profile]["epochs"]
    paths, results = {}, []
    for job, result in ctx.sweep(["+experiment=rosenbrock_gd", f"trainer.max_epochs={epochs}"]):
        frame, _ = read_parameter_path(result.dir)
        paths[_label(job)] = path_array(frame)
        results.append(result)
    metrics = {f"{kind} alpha0={rate}": path_metrics(paths[rate, kind], OPTIMUM) for rate, kind in paths}
    for (rate, kind), theta in paths.items():
        steps = np.diff(theta[-LAST - 1 :], axis=0)
        norms = np.linalg.norm(steps, axis=1)
        cos = np.sum(steps[1:] * steps[:-1], axis=1) / (norms[1:] * norms[:-1] + 1e-300)
        metrics[f"{kind} alpha0={rate}"].update(
            last_steps_max_cos=float(cos.max()),
            last_steps_min_norm=float(norms.min()),
            path_length=float(np.linalg.norm(np.diff(theta, axis=0), axis=1).sum()),
        )

    fig, axes = subplots(1, 3, figsize=(15, 4.8), gridspec_kw={"width_ratios": [1, 1, 1.1]})
    for ax, kind in zip(axes[:2], ("fixed", "decaying"), strict=True):
        contours(ax, rosenbrock, (-0.3, 1.1), (-0.3, 1.1))
        for rate in RATES:
            draw_path(ax, paths[rate, kind], f"α₀ = {rate}", COLOURS[rate], alpha=0.8)
        mark_points(ax, paths[RATES[0], kind][0], OPTIMUM)
        title = "fixed rate α" if kind == "fixed" else "decaying rate α_t = α₀ 0.99^t"
        panel = "ab"[kind == "decaying"]
        ax.set(title=f"({panel}) {title}, {epochs * 100:,} steps", xlabel="θ₁", ylabel="θ₂")
        ax.set_aspect("equal")
        ax.legend(loc="upper left")
    ax = axes[2]
    for (rate, kind), theta in paths.items():
        distance = np.linalg.norm(theta - OPTIMUM, axis=1)
        style = "-" if kind == "fixed" else "--"
        ax.plot(distance, style, color=COLOURS[rate], label=f"{kind}, α₀ = {rate}", lw=1.2)
    ax.set(title="(c) distance to the minimiser (1, 1)", xlabel="step t", ylabel="‖θ⁽ᵗ⁾ − (1, 1)‖")
    ax.set_xscale("symlog", linthresh=10)
    ax.legend()
    figure = save_figure(fig, ctx.out_dir, "fig-4.2")

    m = metrics
    fixed5, fixed25 = m["fixed alpha0=0.005"], m["fixed alpha0=0.0025"]
    decay5, decay25 = m["decaying alpha0=0.005"], m["decaying alpha0=0.0025"]
    claims = [
        Claim(
            "with the fixed rate 0.005 gradient descent does not settle: its last steps go back and forth",
            f"over the last {LAST} steps: every step > 0.05 long and reversing the previous one (cos < -0.9)",
            {"min_norm": fixed5["last_steps_min_norm"], "max_cos": fixed5["last_steps_max_cos"]},
            fixed5["last_steps_min_norm"] > 0.05 and fixed5["last_steps_max_cos"] < -0.9,
        ),
        Claim(
            "the smaller fixed rate 0.0025 gets closer to the minimiser (1, 1) than 0.005",
            "distance(0.0025) < distance(0.005) / 2",
            {"0.0025": fixed25["final_distance"], "0.005": fixed5["final_distance"]},
            fixed25["final_distance"] < fixed5["final_distance"] / 2,
        ),
        Claim(
            "a decaying rate stops the path early (sum of alpha_t is finite), short of the minimiser",
            "both decaying paths: last step < 1e-6 and distance to (1, 1) > 0.5",
            {
                "0.005": [decay5["last_step_norm"], decay5["final_distance"]],
                "0.0025": [decay25["last_step_norm"], decay25["final_distance"]],
            },
            all(d["last_step_norm"] < 1e-6 and d["final_distance"] > 0.5 for d in (decay5, decay25)),
        ),  # fmt: skip
        Claim(
            "with alpha0 = 0.0025 the decaying rate ends farther from (1, 1) than the fixed rate",
            "distance(decaying) > 2 distance(fixed)",
            {"decaying": decay25["final_distance"], "fixed": fixed25["final_distance"]},
            decay25["final_distance"] > 2 * fixed25["final_distance"],
        ),
    ]
    final = {f"{kind} alpha0={rate}": paths[rate, kind][-1].tolist() for rate, kind in paths}
    return RecipeOutput(
        figure,
        claims,
        values={"metrics": metrics, "steps": epochs * 100, "final_theta": final},
        runs=[str(r.dir) for r in results],
    )


RECIPE = Recipe(
    id="fig-4.2",
    title="Gradient descent on Rosenbrock's function: fixed against decaying learning rate",
    book_ref="Figure 4.2, section 4.2",
    chapter=4,
    claim="a fixed rate that is too large makes gradient descent oscillate; a smaller one gets closer to the "
    "minimum; a decaying rate alpha0 0.99^t stops the path early, short of the minimum",
    run=run,
    minutes_quick=0.25,
)
