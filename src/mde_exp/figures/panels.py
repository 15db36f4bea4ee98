"""Panels that several figures share: a picture shown as it is (fig-2.13, fig-2.15)."""

import numpy as np


def image_panel(ax, image: np.ndarray, title: str, grey: bool | None = None) -> None:
    """Show an H x W x 3 RGB image or an H x W grey image (values in [0, 1]) without axes or grid,
    pixels square, with `title` above it."""
    grey = image.ndim == 2 if grey is None else grey
    ax.imshow(np.clip(image, 0, 1), cmap="gray" if grey else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title)
    ax.set_axis_off()
