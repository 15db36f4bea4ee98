"""fig-2.7: the learning rate matters for gradient descent on linear regression (book section 2.4).

Runs experiment learning_rate_gd: LinearRegression (y_hat = beta0 + beta1 x) trained by plain SGD with
the batch the whole data set (full-batch gradient descent) on data=boston_synthetic, the companion
notebook's draws (Learning-Rate-Matters-GD-linear.ipynb: a line fitted to Boston housing, then
np.random.seed(0), x = normal(6, 2.5, 490), y = beta0 + beta1 x + normal(0, 3, 490)), from (0, 0),
for alpha = 0.01, 0.0235 and 0.024. The ParameterPath callback records every iterate and stops when
a step's norm falls below 1e-5 (the notebook's rule; at most 1e5 steps there).

The MSE convention: the notebook's cost is (1/n) sum (y - X theta)^2 with gradient -(2/n) X^T (y - X
theta), and torch's mse_loss (the model's loss) is the same (1/n) sum, so alpha means the same here
(checked below by autograd against the notebook's formula). Its Hessian is (2/n) X^T X, so gradient
descent is stable for alpha < 2 / lambda_max((2/n) X^T X) = n / lambda_max(X^T X), the notebook's
bound n / lambda_max(X X^T) (X X^T and X^T X share their non-zero eigenvalues): 0.0237 here.

Float64 throughout (data dtype, trainer.precision=64-true) as NumPy computes; a NumPy run of the
notebook's loop beside the store runs checks them iterate by iterate. The quick profile stops every
run at 5,000 steps: alpha = 0.024 has then grown its step by 1.0248^5000 ~ 1e54 but not overflowed.
The full profile gives every run the notebook's 1e5 steps: alpha = 0.024 then ends as `diverged` at
step 14,200, when its loss (~ theta^2) overflows float64; the notebook's loop goes on until theta itself
overflows and turns NaN at iterate 28,432 (the NumPy reference records that number).
"""

import numpy as np
import torch
import torch.nn.functional as F

from mde_exp.data.synthetic_regression import boston_calibrated_line, boston_rm_line
from mde_exp.figures.style import save_figure, subplots
from mde_exp.parameter_path import read_parameter_path
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import read_summary

# Per profile: epochs of 100 full-batch steps (data.passes_per_epoch): the cap on every run's steps.
SETTINGS = {"tiny": {"epochs": 32}, "quick": {"epochs": 50}, "full": {"epochs": 1000}}
RATES = (0.01, 0.0235, 0.024)
TOL, MAX_ITER = 1e-5, 100_000  # the notebook's stopping rule and budget
# The notebook's printed results (len(t_seq), the last iterate) and bound.
BOOK = {
    "iterates": {0.01: 3109, 0.0235: 1446, 0.024: 100001},
    "last": {0.01: (-30.44502456, 8.3096164), 0.0235: (-30.44697218, 8.30989676)},
    "boston_line": (-30.005120145375855, 8.268557322426984),
    "least_squares": (-30.448388600049572, 8.310100644523807),
    "lambda_max": 20670.326800608345,
    "bound": 0.02370547910183882,
}
COLOURS = {0.01: "tab:blue", 0.0235: "tab:green", 0.024: "tab:red"}


def design() -> tuple[np.ndarray, np.ndarray]:
    """The notebook's X = [1, x] (n x 2) and y."""
    x, y = boston_calibrated_line()
    return np.stack([np.ones(len(y)), x[:, 0]], axis=1), y


def numpy_gradient_descent(X: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """The notebook's loop in NumPy: theta <- theta - alpha grad, grad = -(2/n) X^T (y - X theta), from
    (0, 0) until ||step|| < TOL or MAX_ITER steps; returns every iterate (a NaN step continues, as
    there)."""
    theta = np.zeros(2)
    path = [theta]
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(MAX_ITER):
            step = -alpha * (-2 * (y - X @ theta) @ X / len(y))
            theta = theta + step
            path.append(theta)
            if np.linalg.norm(step) < TOL:
                break
    return np.array(path)


def _path(run_dir) -> tuple[np.ndarray, dict]:
    """A run's iterates as (beta0, beta1) rows, and how the path ended."""
    frame, summary = read_parameter_path(run_dir)
    return frame[["net.1.bias", "net.1.weight"]].to_numpy(dtype=np.float64), summary


def run(ctx: RecipeContext) -> RecipeOutput:
    epochs = SETTINGS[ctx.profile]["epochs"]
    cap = epochs * 100
    X, y = design()
    n = len(y)
    lam_max = float(np.linalg.eigvalsh(X.T @ X)[-1])
    lam_max_notebook = float(abs(np.linalg.eigvals(X @ X.T))[0])  # the notebook's expression
    bound = n / lam_max
    hessian = 2 / n * X.T @ X
    h_eig = np.linalg.eigvalsh(hessian)
    beta0_ls, beta1_ls = (float(v) for v in np.linalg.lstsq(X, y, rcond=None)[0])

    # torch's mse_loss has the notebook's gradient: the learning rates mean the same.
    theta = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)
    xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    (autograd,) = torch.autograd.grad(F.mse_loss(xt @ theta, yt), theta)
    formula = -2 * (yt - xt @ theta.detach()) @ xt / n
    convention_gap = float((autograd - formula).abs().max() / formula.abs().max())

    runs, measured = [], {}
    for job, result in ctx.sweep(["+experiment=learning_rate_gd", f"trainer.max_epochs={epochs}"]):
        alpha = float(next(o.split("=", 1)[1] for o in job if o.startswith("optimizer.lr=")))
        path, ending = _path(result.dir)
        reference = numpy_gradient_descent(X, y, alpha)
        steps = len(path) - 1
        common = min(len(path), len(reference))
        both = np.isfinite(path[:common]).all(1) & np.isfinite(reference[:common]).all(1)
        scale = np.maximum(np.abs(reference[:common][both]), 1.0)
        gap = float((np.abs(path[:common][both] - reference[:common][both]) / scale).max())
        norms = np.linalg.norm(np.diff(path, axis=0), axis=1)
        finite = np.isfinite(norms) & (norms > 0)
        tail = np.flatnonzero(finite)[-min(1000, int(finite.sum())) :]
        growth = float(np.exp(np.polyfit(tail, np.log(norms[tail]), 1)[0]))
        summary = read_summary(result.dir) or {}
        nan_at = np.flatnonzero(~np.isfinite(reference).all(1))
        measured[alpha] = {
            "path": path,
            "norms": norms,
            "iterates": len(path),
            "steps": steps,
            "converged": bool(ending.get("converged")),
            "diverged": bool(ending.get("diverged")) or result.status == "diverged",
            "status": result.status,
            "last": [float(v) if np.isfinite(v) else None for v in path[-1]],
            "step_norm_growth_per_step": growth,
            "max_relative_gap_to_numpy": gap,
            "numpy_iterates": len(reference),
            "numpy_last": [float(v) if np.isfinite(v) else None for v in reference[-1]],
            "numpy_first_nan_iterate": int(nan_at[0]) if len(nan_at) else None,
            "steps_per_s": steps / summary["wall_time_s"] if summary.get("wall_time_s") else None,
        }
        runs.append(str(result.dir))
    fast, edge, over = (measured[a] for a in RATES)
    theory_growth = abs(1 - RATES[2] * h_eig[-1])

    fig = _figure(X, y, measured, (beta0_ls, beta1_ls), bound, cap)
    figure = save_figure(fig, ctx.out_dir, "fig-2.7")

    book_last = BOOK["last"]
    claims = [
        Claim(
            "the data are the notebook's NumPy draws: the Boston line and the least-squares fit match",
            "|difference| < 1e-9 for beta0, beta1 of both fits",
            {"boston_line": list(boston_rm_line()), "least_squares": [beta0_ls, beta1_ls]},
            np.allclose(boston_rm_line(), BOOK["boston_line"], atol=1e-9, rtol=0)
            and np.allclose((beta0_ls, beta1_ls), BOOK["least_squares"], atol=1e-9, rtol=0),
            book_value={"boston_line": BOOK["boston_line"], "least_squares": BOOK["least_squares"]},
        ),
        Claim(
            "torch's mse_loss is the notebook's cost (1/n) Σ (y - Xθ)²: the same gradient, so α means "
            "the same",
            "autograd gradient = -(2/n) X^T (y - Xθ) to 1e-12",
            convention_gap,
            convention_gap < 1e-12,
        ),
        Claim(
            "the stability bound n / λ_max(X X^T) lies between 0.0235 and 0.024",
            "0.0235 < bound < 0.024, = the notebook's 0.0237055 (1e-9)",
            {"bound": bound, "lambda_max": lam_max, "lambda_max_notebook_expression": lam_max_notebook},
            RATES[1] < bound < RATES[2] and abs(bound - BOOK["bound"]) < 1e-9,
            book_value=BOOK["bound"],
        ),
        Claim(
            "α = 0.01 and α = 0.0235 converge, in the notebook's number of iterates",
            "iterates (len of the path) = 3109 and 1446, stopped by ||step|| < 1e-5",
            {"0.01": fast["iterates"], "0.0235": edge["iterates"]},
            fast["converged"] and edge["converged"] and fast["iterates"] == 3109 and edge["iterates"] == 1446,
            book_value={"0.01": 3109, "0.0235": 1446},
        ),
        Claim(
            "the last iterates are the notebook's, and near the least-squares line",
            "|last - notebook's| < 1e-7; |last - least squares| < 0.01",
            {"0.01": fast["last"], "0.0235": edge["last"]},
            all(
                np.allclose(measured[a]["last"], book_last[a], atol=1e-7, rtol=0)
                and np.allclose(measured[a]["last"], (beta0_ls, beta1_ls), atol=0.01, rtol=0)
                for a in RATES[:2]
            ),
            book_value={str(a): list(v) for a, v in book_last.items()},
        ),
        Claim(
            "α = 0.024, above the bound, diverges: the step grows by |1 - α λ_max(∇²C)| each step",
            f"never converges (within {cap:,} steps: NaN, or still growing); growth per step = "
            f"{theory_growth:.5f} ± 1e-4",
            {
                "converged": over["converged"],
                "steps": over["steps"],
                "status": over["status"],
                "growth_per_step": over["step_norm_growth_per_step"],
                "last_step_norm": float(over["norms"][np.isfinite(over["norms"])][-1]),
            },
            not over["converged"]
            and abs(over["step_norm_growth_per_step"] - theory_growth) < 1e-4
            and (over["diverged"] or over["steps"] == cap),
            book_value={"iterates": BOOK["iterates"][0.024], "last": "nan"},
        ),
        Claim(
            "the Lightning runs follow the NumPy loop iterate by iterate",
            "max relative difference of the finite iterates < 1e-9, every α",
            {str(a): m["max_relative_gap_to_numpy"] for a, m in measured.items()},
            all(m["max_relative_gap_to_numpy"] < 1e-9 for m in measured.values()),
        ),
    ]
    values = {
        "n": n,
        "lambda_max_XtX": lam_max,
        "lambda_max_notebook_expression": lam_max_notebook,
        "bound_n_over_lambda_max": bound,
        "hessian_eigenvalues": h_eig.tolist(),
        "least_squares": [beta0_ls, beta1_ls],
        "boston_line": list(boston_rm_line()),
        "mse_convention": "torch mse_loss = (1/n) sum (y - y_hat)^2 = the notebook's Cost; gradient "
        "-(2/n) X^T (y - X theta); no conversion of alpha needed",
        "step_cap": cap,
        "runs": {
            str(a): {k: v for k, v in m.items() if k not in ("path", "norms")} for a, m in measured.items()
        },
        "theory_growth_per_step_at_0.024": theory_growth,
    }
    return RecipeOutput(figure, claims, values=values, runs=runs)


def _figure(X, y, measured: dict, ls: tuple[float, float], bound: float, cap: int):
    fig, (left, right) = subplots(1, 2, figsize=(12.5, 5))
    b0 = np.linspace(-40, 8, 300)
    b1 = np.linspace(-1.5, 11, 300)
    B0, B1 = np.meshgrid(b0, b1)
    residual = y[None, None, :] - B0[..., None] - B1[..., None] * X[:, 1]
    mse = (residual**2).mean(-1)
    left.contour(B0, B1, mse, levels=np.geomspace(mse.min() * 1.02, mse.max(), 22), cmap="viridis",
                 linewidths=0.8)  # fmt: skip
    for alpha in sorted(measured, reverse=True):  # the diverging path first, underneath
        m = measured[alpha]
        path = m["path"]
        inside = np.isfinite(path).all(1) & (path[:, 1] > b1[0]) & (path[:, 1] < b1[-1])
        shown = path[: np.argmin(inside) if not inside.all() else len(path)]
        label = f"α = {alpha:g}: " + (
            f"{m['iterates']:,} iterates" if m["converged"] else "diverges (shown until it leaves the plot)"
        )
        left.plot(shown[:, 0], shown[:, 1], "-", color=COLOURS[alpha], lw=0.7, alpha=0.8, label=label)
        left.plot(*shown[-1], "o", color=COLOURS[alpha], ms=4)
    left.plot(0, 0, "o", color="k", ms=5, label="start (0, 0)")
    left.plot(*ls, "*", color="k", ms=12, label="least squares")
    left.set(xlim=(b0[0], b0[-1]), ylim=(b1[0], b1[-1]), xlabel="β₀ (intercept)", ylabel="β₁ (slope)")
    left.set_title("(a) gradient descent paths on the MSE contours", fontsize=10)
    left.legend(loc="lower left", fontsize=8, frameon=True)

    for alpha, m in measured.items():
        norms = m["norms"]
        right.semilogy(
            np.arange(1, len(norms) + 1), norms, color=COLOURS[alpha], lw=1.2, label=f"α = {alpha:g}"
        )
    right.axhline(TOL, color="k", ls=":", lw=1, label="stopping rule ||step|| < 1e-5")
    growth = measured[RATES[2]]["step_norm_growth_per_step"]
    right.annotate(
        f"α = {RATES[2]:g}: × {growth:.4f} per step\n(step {len(measured[RATES[2]]['norms']):,}: "
        f"{measured[RATES[2]]['norms'][-1]:.1e})",
        xy=(0.55, 0.9), xycoords="axes fraction", color=COLOURS[RATES[2]], fontsize=8,
    )  # fmt: skip
    right.set(xlabel="iteration t", ylabel="||θ_{t+1} − θ_t||", xlim=(0, min(cap, 4000)), ylim=(1e-7, 1e4))
    right.set_title(f"(b) step length; stability bound n / λ_max(XXᵀ) = {bound:.5f}", fontsize=10)
    right.legend(loc="center right", fontsize=8)
    fig.suptitle(
        f"fig-2.7: full-batch gradient descent on the MSE of y ≈ β₀ + β₁x (n = {len(y)}, the notebook's "
        "NumPy draws); Lightning runs",
        fontsize=10,
    )
    return fig


RECIPE = Recipe(
    id="fig-2.7",
    title="The learning rate matters for gradient descent on linear regression",
    book_ref="Figure 2.7, section 2.4",
    chapter=2,
    claim="gradient descent converges for learning rates below n / lambda_max(X X^T) (faster near it) "
    "and diverges above it: 3109 and 1446 iterates for 0.01 and 0.0235, divergence for 0.024",
    run=run,
    minutes_quick=0.3,
)
