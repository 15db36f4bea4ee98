"""The book's small generated sets, each drawn from a fixed seed: spiral, mixtures, and chapter 3's sets."""

import numpy as np


def two_arm_spiral(
    points_per_class: int = 400, noise: float = 0.05, turns: float = 1.5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spiral arms in the plane (book fig-3.9 and fig-5.3), class k rotated by k pi.

    Radius grows linearly with the angle; `noise` is the std of Gaussian jitter on each coordinate.
    """
    rng = np.random.default_rng(seed)
    t = np.linspace(0.05, 1.0, points_per_class)
    xs, ys = [], []
    for k in (0, 1):
        angle = 2 * np.pi * turns * t + k * np.pi
        arm = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1)
        xs.append(arm + noise * rng.standard_normal(arm.shape))
        ys.append(np.full(points_per_class, k))
    return np.concatenate(xs), np.concatenate(ys)


def gaussian_mixture(
    n_samples: int = 2000,
    layout: str = "ring",
    n_components: int = 8,
    radius: float = 2.0,
    std: float = 0.05,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Equal-weight isotropic Gaussians in the plane, labelled by component: `ring` puts
    n_components centres on a circle of `radius`, `grid` puts them on a square grid spanning
    [-radius, radius]^2 (n_components must then be a square): the GAN and diffusion toy targets."""
    rng = np.random.default_rng(seed)
    if layout == "ring":
        angles = 2 * np.pi * np.arange(n_components) / n_components
        centres = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    elif layout == "grid":
        side = int(round(np.sqrt(n_components)))
        if side * side != n_components:
            raise ValueError(f"a grid layout needs a square number of components, got {n_components}")
        ticks = np.linspace(-radius, radius, side)
        centres = np.array([(a, b) for a in ticks for b in ticks])
    else:
        raise ValueError(f"layout={layout!r}: choose ring or grid")
    labels = rng.integers(0, n_components, size=n_samples)
    return centres[labels] + std * rng.standard_normal((n_samples, 2)), labels


def six_points() -> tuple[np.ndarray, np.ndarray]:
    """Book fig-3.4 and fig-4.5: x = -3..3 without 0, y = (1, 0, 0, 1, 1, 0)."""
    x = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])
    return x[:, None], np.array([1, 0, 0, 1, 1, 0])


def four_classes(
    points_per_class: int = 25, std: float = 0.6, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Book fig-3.7 / fig-3.10: four overlapping Gaussian classes in the plane, centred on the
    corners of a square (the setting where polynomial features bend softmax regression's regions)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]])
    labels = np.repeat(np.arange(4), points_per_class)
    return centres[labels] + std * rng.standard_normal((len(labels), 2)), labels


def presence_absence(n_samples: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Book fig-3.8: a 1-D presence (1) / absence (0) set whose probability of presence,
    sigmoid(2 - 1.5 x^2), peaks in the middle of x in [-3, 3]: not monotone in x, so only a model
    with a quadratic feature can fit it."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3.0, 3.0, n_samples)
    p = 1.0 / (1.0 + np.exp(-(2.0 - 1.5 * x**2)))
    return x[:, None], (rng.uniform(size=n_samples) < p).astype(np.int64)


def tanh_curve(n_samples: int = 200, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """Book fig-3.13: points on the curve (t, tanh(2 t)), t in [-2, 2], rotated 45 degrees, with
    Gaussian noise of std `noise`: one component of PCA is a line, a 2-1-2 autoencoder a curve."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(-2.0, 2.0, n_samples))
    points = np.stack([t, np.tanh(2.0 * t)], axis=1)
    c = s = np.sqrt(0.5)
    rotated = points @ np.array([[c, s], [-s, c]])
    return rotated + noise * rng.standard_normal(rotated.shape)
