"""Optimisation paths on contour plots, as the book's chapter-4 figures draw them (figs 4.2, 4.3, 4.6, 4.9).

``contours`` draws a test function's level sets over a box (log-spaced levels for Rosenbrock's
narrow valley, as the companion code does), ``draw_path`` one recorded path theta_0, theta_1, ...
(``mde_exp.parameter_path``) with its start and end marked, and ``path_metrics`` the numbers the
recipes' claims read from a path.
"""

from collections.abc import Callable

import numpy as np
import torch
from matplotlib import ticker


def contours(
    ax,
    function: Callable[[torch.Tensor], torch.Tensor],
    t1: tuple[float, float],
    t2: tuple[float, float],
    num: int = 400,
    levels: np.ndarray | int | None = None,
    log: bool = True,
    cmap: str = "PuBu_r",
):
    """Contours of `function` (a torch function of (..., 2)) over [t1] x [t2]; log-spaced levels by
    default (exp(-15), exp(-14.8), ..., about exp(7), the companion code's). Returns matplotlib's set."""
    a = torch.linspace(t1[0], t1[1], num, dtype=torch.float64)
    b = torch.linspace(t2[0], t2[1], num, dtype=torch.float64)
    T1, T2 = torch.meshgrid(a, b, indexing="xy")
    values = function(torch.stack([T1, T2], dim=-1)).numpy()
    if levels is None and log:
        levels = np.exp(np.arange(-15, 7, 0.2))
    kwargs = {"locator": ticker.LogLocator()} if log else {}
    ax.set(xlim=t1, ylim=t2)
    return ax.contour(T1.numpy(), T2.numpy(), values, levels=levels, cmap=cmap, linewidths=0.8, **kwargs)


def draw_path(
    ax,
    theta: np.ndarray,
    label: str,
    color: str,
    style: str = "-",
    markers: bool = False,
    lw: float = 1.4,
    **kw,
):
    """The path theta (steps x 2) as a line from its start to its end, the end marked by a dot."""
    marker = "." if markers else None
    ax.plot(theta[:, 0], theta[:, 1], style, color=color, lw=lw, label=label, marker=marker, ms=3, **kw)
    ax.plot(*theta[-1], "o", color=color, ms=4, mec="k", mew=0.5, zorder=5)


def mark_points(
    ax, start: np.ndarray, optimum: np.ndarray | None = None, start_label: str = "initial point θ⁽⁰⁾"
):
    """The start (black) and the minimiser (a star) with labels, as the book marks them."""
    ax.plot(*start, "o", color="k", ms=5, zorder=6, label=start_label)
    if optimum is not None:
        ax.plot(*optimum, "*", color="gold", mec="k", ms=12, zorder=6, label="minimiser")


def path_metrics(theta: np.ndarray, optimum: np.ndarray | None = None) -> dict[str, float]:
    """Numbers of a path: final distance to the optimum, the last step's norm, and the smallest cosine
    between consecutive steps (1: a smooth curve; near -1: back-and-forth oscillation)."""
    steps = np.diff(theta, axis=0)
    norms = np.linalg.norm(steps, axis=1)
    moving = (norms[1:] > 0) & (norms[:-1] > 0)
    cos = np.sum(steps[1:] * steps[:-1], axis=1)[moving] / (norms[1:] * norms[:-1])[moving]
    out = {
        "last_step_norm": float(norms[-1]),
        "min_consecutive_cos": float(cos.min()) if cos.size else 1.0,
        "steps": int(len(steps)),
    }
    if optimum is not None:
        out["final_distance"] = float(np.linalg.norm(theta[-1] - optimum))
    return out
