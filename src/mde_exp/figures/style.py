"""One look for every figure, and saving each as PNG (for the report) and PDF (for print)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 130,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 10,
    "legend.fontsize": 8,
    "legend.frameon": False,
}


def subplots(*args, **kwargs):
    """plt.subplots with the project's style applied."""
    plt.rcParams.update(STYLE)
    kwargs.setdefault("constrained_layout", True)
    return plt.subplots(*args, **kwargs)


def save_figure(fig, out_dir: Path, stem: str) -> Path:
    """Write `<out_dir>/<stem>.png` and `.pdf`, close the figure, and return the PNG's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / f"{stem}.png"
    fig.savefig(png)
    fig.savefig(out_dir / f"{stem}.pdf")
    plt.close(fig)
    return png
