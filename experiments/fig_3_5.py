"""fig-3.5: gradient descent for logistic regression on WDBC, cross-entropy and F1 over the iterations
(book section 3.2).

Runs experiment gd_logistic: LogisticRegression on the book's 10 features (standardised on the 80%
training split; malignant = 1), full-batch gradient descent (plain SGD, batch = the training split) with
every parameter starting at 0.1, alpha = 15 as in the book and alpha = 10 beside it. The run logs after
every iteration the cross-entropy and F1 (class malignant) on the training split (train_eval/*) and on
the 20% held-out split (val/*: the book's test split); iteration 0 is the untrained model built from the
run's config. The maximum-likelihood fit (scikit-learn, no penalty) is the reference the iterates
approach; 2 / lambda_max of the Hessian of the cross-entropy at that fit is the largest learning rate
for which it is a stable fixed point of gradient descent.
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.metrics import f1_score

from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import load_model, read_epoch_metrics

SHOWN = 40  # iterations drawn in the book's two panels
BOOK_ALPHA = 15.0
# Per profile: iterations of each run (the first 40 are the book's panels; the rest show where gradient
# descent goes), and how close (distance relative to |theta_ML|) a run whose alpha is below the stability
# bound must bring the parameters to the maximum-likelihood fit. Near the fit the error contracts by
# about 1 - alpha lambda_min per iteration, lambda_min about 1e-3 here (0.99 for alpha = 10), so each
# tolerance is set some 5 to 10 times above the distance that rate leaves after that many iterations
# (measured: 0.018 after 150, 0.001 after 400; float32 bounds it below at about 1e-6).
SETTINGS = {
    "tiny": {"iterations": 150, "tolerance": 0.1},
    "quick": {"iterations": 400, "tolerance": 0.01},
    "full": {"iterations": 3000, "tolerance": 1e-4},
}
COLOURS = {"train": "tab:red", "test": "black"}


def _parameters(model: torch.nn.Module) -> np.ndarray:
    """(b, w_1, ..., w_d) of a LogisticRegression."""
    layer = model.net[1]
    return np.concatenate([layer.bias.detach().double().numpy(), layer.weight.detach().double().numpy()[0]])


def _cross_entropy(theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    z = theta[0] + x @ theta[1:]
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def _f1(theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    return float(f1_score(y, (theta[0] + x @ theta[1:] > 0).astype(int)))


def _hessian_top_eigenvalue(theta: np.ndarray, x: np.ndarray) -> float:
    """lambda_max of the Hessian of the mean cross-entropy, (1/n) X~^T diag(p (1 - p)) X~ with X~ = [1, x]."""
    design = np.column_stack([np.ones(len(x)), x])
    p = 1.0 / (1.0 + np.exp(-(design @ theta)))
    hessian = design.T @ (design * (p * (1 - p))[:, None]) / len(x)
    return float(np.linalg.eigvalsh(hessian)[-1])


def _curves(run_dir: Path, initial: dict[str, float]) -> dict[str, np.ndarray]:
    """Cross-entropy and F1 on both splits at iterations 0, 1, 2, ... (iteration t = after epoch t - 1)."""
    metrics = read_epoch_metrics(run_dir)
    keys = {"loss/train": "train_eval/loss", "loss/test": "val/loss", "f1/train": "train_eval/f1",
            "f1/test": "val/f1"}  # fmt: skip
    return {k: np.concatenate([[initial[k]], metrics[m].to_numpy(float)]) for k, m in keys.items()}


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    iterations = settings["iterations"]
    runs = {
        float(next(o.split("=", 1)[1] for o in job if o.startswith("optimizer.lr="))): result
        for job, result in ctx.sweep(["+experiment=gd_logistic", f"trainer.max_epochs={iterations}"])
    }
    cfg = OmegaConf.load(runs[BOOK_ALPHA].dir / "config.yaml")
    datamodule = instantiate(cfg.data)
    datamodule.setup()
    (x, y), (x_test, y_test) = (
        tuple(t.cpu().double().numpy() for t in datamodule.splits[s]) for s in ("train", "val")
    )
    y, y_test = y.astype(int), y_test.astype(int)

    ml = SkLogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(x, y)
    theta_ml = np.concatenate([ml.intercept_, ml.coef_[0]])
    ml_values = {
        "loss/train": _cross_entropy(theta_ml, x, y),
        "loss/test": _cross_entropy(theta_ml, x_test, y_test),
        "f1/train": _f1(theta_ml, x, y),
        "f1/test": _f1(theta_ml, x_test, y_test),
    }
    bound = 2.0 / _hessian_top_eigenvalue(theta_ml, x)

    # Iteration 0: the untrained model that the run's config builds (every parameter 0.1).
    untrained = instantiate(cfg.model, input_dim=x.shape[1], num_classes=2)
    theta_0 = _parameters(untrained)
    initial = {
        "loss/train": _cross_entropy(theta_0, x, y),
        "loss/test": _cross_entropy(theta_0, x_test, y_test),
        "f1/train": _f1(theta_0, x, y),
        "f1/test": _f1(theta_0, x_test, y_test),
    }
    with torch.no_grad():  # the model's own loss at theta_0 agrees with the formula above
        own = float(F.cross_entropy(untrained(torch.as_tensor(x, dtype=torch.float32)), torch.as_tensor(y)))
    curves = {alpha: _curves(r.dir, initial) for alpha, r in runs.items()}
    summary = {}
    for alpha, r in runs.items():
        theta = _parameters(load_model(r.dir))
        gap = (curves[alpha]["loss/train"] - ml_values["loss/train"]) / ml_values["loss/train"]
        summary[alpha] = {
            "distance_to_ml": float(np.linalg.norm(theta - theta_ml) / np.linalg.norm(theta_ml)),
            "final_relative_gap": float(gap[-1]),
            "min_relative_gap": float(gap.min()),
            "iteration_of_min_gap": int(gap.argmin()),
            "below_bound": alpha < bound,
            "parameters": theta.tolist(),
        }

    book = curves[BOOK_ALPHA]
    t = np.arange(SHOWN + 1)
    fig, axes = subplots(1, 3, figsize=(15, 4.4))
    panels = (("loss", "cross-entropy", "(a)"), ("f1", "F1 score (class malignant)", "(b)"))
    for ax, (metric, name, letter) in zip(axes[:2], panels, strict=True):
        for split in ("train", "test"):
            ax.plot(t, book[f"{metric}/{split}"][: SHOWN + 1], color=COLOURS[split], lw=1.6, label=split)
            ax.axhline(ml_values[f"{metric}/{split}"], color=COLOURS[split], ls=":", lw=1,
                       label=f"{split}, maximum-likelihood fit")  # fmt: skip
        ax.set(xlabel="iteration", ylabel=name, title=f"{letter} {name}, α = {BOOK_ALPHA:g}")
        ax.legend(loc="upper right" if metric == "loss" else "lower right")
    axes[0].set_ylim(0, min(1.5, 1.05 * max(book["loss/test"][: SHOWN + 1].max(), 0.5)))
    ax = axes[2]
    for alpha, colour in ((BOOK_ALPHA, "tab:red"), *((a, "tab:blue") for a in runs if a != BOOK_ALPHA)):
        gap = curves[alpha]["loss/train"] - ml_values["loss/train"]
        ax.semilogy(np.arange(len(gap)), np.maximum(gap, 1e-8), color=colour, lw=1.2, label=f"α = {alpha:g}")
    ax.axvline(SHOWN, color="gray", ls=":", lw=1, label=f"iteration {SHOWN} (end of panels a, b)")
    ax.set(
        xlabel="iteration",
        ylabel="train cross-entropy − ML minimum",
        title=f"(c) the longer run: {iterations} iterations",
    )
    ax.text(0.97, 0.6, f"stable fixed point for α < 2/λ_max = {bound:.1f}\n(λ_max: Hessian at the ML fit)",
            transform=ax.transAxes, ha="right", fontsize=8)  # fmt: skip
    ax.legend(loc="upper right")
    fig.suptitle(
        "Full-batch gradient descent for logistic regression on WDBC (10 standardised features, every "
        f"parameter starting at 0.1; {len(x)} train / {len(x_test)} test tumours)"
    )
    figure = save_figure(fig, ctx.out_dir, "fig-3.5")

    at_40 = {k: float(v[SHOWN]) for k, v in book.items()}
    book_run = summary[BOOK_ALPHA]
    claims = [
        Claim(
            f"in {SHOWN} iterations the training cross-entropy falls from its start to near the "
            "maximum-likelihood minimum",
            f"C_train(θ_{SHOWN}) <= 1.05 C_train(θ_ML) < C_train(θ_0)",
            {
                "start": initial["loss/train"],
                f"iteration {SHOWN}": at_40["loss/train"],
                "ML": ml_values["loss/train"],
            },
            at_40["loss/train"] <= 1.05 * ml_values["loss/train"] < initial["loss/train"],
        ),
        Claim(
            f"after {SHOWN} iterations the F1 scores on the training and test splits are those of the "
            "maximum-likelihood fit",
            "|F1(θ_40) - F1(θ_ML)| <= 0.03 on both splits",
            {s: {"GD": at_40[f"f1/{s}"], "ML": ml_values[f"f1/{s}"]} for s in ("train", "test")},
            all(abs(at_40[f"f1/{s}"] - ml_values[f"f1/{s}"]) <= 0.03 for s in ("train", "test")),
        ),
        Claim(
            "gradient descent approaches the maximum-likelihood fit",
            "min over iterations of C_train(θ_t) / C_train(θ_ML) - 1 < 0.02 for alpha = 15",
            book_run["min_relative_gap"],
            book_run["min_relative_gap"] < 0.02,
        ),
        *[
            Claim(
                f"below the stability bound 2/λ_max the iterates converge to the maximum-likelihood "
                f"parameters (alpha = {alpha:g})",
                f"||θ_N - θ_ML|| / ||θ_ML|| < {settings['tolerance']:g} after N = {iterations}",
                s["distance_to_ml"],
                s["distance_to_ml"] < settings["tolerance"],
            )
            for alpha, s in summary.items()
            if s["below_bound"]
        ],
        Claim(
            "gradient descent settles at the maximum-likelihood fit exactly when alpha is below 2/λ_max of "
            "the Hessian there (above it, the fit is an unstable fixed point: the iterates come close, "
            "then leave for a 2-cycle)",
            "for each alpha: (final gap > 2 x min gap and > 1e-3) == (alpha > 2/λ_max)",
            {
                f"{a:g}": {
                    "bound": bound,
                    "min_gap": s["min_relative_gap"],
                    "final_gap": s["final_relative_gap"],
                }
                for a, s in summary.items()
            },  # fmt: skip
            all(
                (s["final_relative_gap"] > max(2 * s["min_relative_gap"], 1e-3)) == (not s["below_bound"])
                for s in summary.values()
            ),
        ),
    ]
    return RecipeOutput(
        figure,
        claims,
        values={
            "iterations": iterations,
            "stability_bound_2_over_lambda_max": bound,
            "maximum_likelihood": {**ml_values, "parameters": theta_ml.tolist()},
            "initial": {**initial, "model_cross_entropy": own},
            f"gd_alpha_{BOOK_ALPHA:g}_at_{SHOWN}": at_40,
            "runs": {f"alpha={a:g}": s for a, s in summary.items()},
            "curves_alpha_15": {k: v[: SHOWN + 1].tolist() for k, v in book.items()},
        },
        runs=[str(r.dir) for r in runs.values()],
    )


RECIPE = Recipe(
    id="fig-3.5",
    title="Gradient descent for logistic regression on WDBC: cross-entropy and F1 over the iterations",
    book_ref="Figure 3.5, section 3.2",
    chapter=3,
    claim="full-batch gradient descent (alpha = 15, start 0.1) brings the cross-entropy and F1 to those of "
    "the maximum-likelihood fit within about 40 iterations; its parameters approach the maximum-likelihood "
    "ones",
    run=run,
    minutes_quick=0.3,
)
