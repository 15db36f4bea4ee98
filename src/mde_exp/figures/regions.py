"""Decision regions of trained classifiers in the plane (fig-3.7, fig-3.9, fig-3.10, fig-5.3).

`input_map` rebuilds a run's data in its original units and the map from original points to the
model's inputs (polynomial features, then normalisation with the training statistics, exactly as the
run's data module did), so regions can be drawn over the data's own axes; `plane_grid` and
`draw_regions` do the drawing. Models come back from the store with `mde_exp.store.load_model`.
"""

from collections.abc import Callable, Sequence

import numpy as np
import torch
from hydra.utils import instantiate
from matplotlib.axes import Axes
from omegaconf import DictConfig, OmegaConf
from sklearn.preprocessing import PolynomialFeatures

from mde_exp.data import splits as S
from mde_exp.data.in_memory import InMemoryDataModule


def class_probabilities(model: torch.nn.Module, inputs: np.ndarray) -> np.ndarray:
    """softmax of the model's class logits at `inputs` (N x d model inputs): an N x K array."""
    with torch.no_grad():
        logits = model(torch.as_tensor(np.asarray(inputs), dtype=torch.float32))
    return torch.softmax(logits, dim=1).numpy()


def input_map(data_cfg: DictConfig) -> tuple[InMemoryDataModule, Callable[[np.ndarray], np.ndarray]]:
    """The run's data in original units (its splits, with the same split seeds, before polynomial
    features and normalisation) and the function that maps original points (N x d) to the model's
    inputs as the run's data module mapped its examples."""
    settings = OmegaConf.to_container(data_cfg, resolve=True)
    degree, kind = int(settings.get("polynomial_degree", 1)), settings.get("normalize", "none")
    raw = instantiate({**settings, "polynomial_degree": 1, "normalize": "none"})
    raw.setup()
    expand = PolynomialFeatures(degree, include_bias=False) if degree > 1 else None

    def features(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return expand.fit_transform(x) if expand is not None else x

    train_features = features(raw.splits["train"][0].numpy())

    def to_inputs(points: np.ndarray) -> np.ndarray:
        return S.normalise(kind, train_features, features(points), raw.value_range).astype(np.float32)

    return raw, to_inputs


def plane_grid(
    points: np.ndarray, margin: float | Sequence[float] = 0.1, n: int = 300
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An n x n grid over the bounding box of `points` (N x 2) widened by `margin` on each side (in
    the points' units, or one margin per axis): the mesh u, v and the n*n x 2 grid points."""
    margin = np.broadcast_to(np.asarray(margin, dtype=np.float64), (2,))
    low, high = points.min(0) - margin, points.max(0) + margin
    u, v = np.meshgrid(np.linspace(low[0], high[0], n), np.linspace(low[1], high[1], n))
    return u, v, np.stack([u.ravel(), v.ravel()], axis=1)


def draw_regions(
    ax: Axes, u: np.ndarray, v: np.ndarray, labels: np.ndarray, colours: Sequence[str], alpha: float = 0.3
) -> None:
    """Shade each grid cell by its predicted class (`labels`, an array shaped like u of class indices
    0..K-1, K = len(colours)) and draw the boundaries between the regions in black."""
    k = len(colours)
    levels = np.arange(-0.5, k, 1.0)
    ax.contourf(u, v, labels, levels=levels, colors=list(colours), alpha=alpha)
    ax.contour(u, v, labels, levels=levels[1:-1], colors="k", linewidths=0.8)
