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


def tanh_curve(n_samples: int = 200, noise: float = 0.05, seed: int = 0, scaled: bool = False) -> np.ndarray:
    """Book fig-3.13: points on the curve (t, tanh(2 t)), t in [-2, 2], rotated 45 degrees, with
    Gaussian noise of std `noise`: one component of PCA is a line, a 2-1-2 autoencoder a curve.
    `scaled` divides each coordinate by its largest absolute value, as the book's code does, so that
    the points lie in [-1, 1]^2, the range of a tanh output layer."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(-2.0, 2.0, n_samples))
    points = np.stack([t, np.tanh(2.0 * t)], axis=1)
    c = s = np.sqrt(0.5)
    rotated = points @ np.array([[c, s], [-s, c]])
    noisy = rotated + noise * rng.standard_normal(rotated.shape)
    return noisy / np.abs(noisy).max(axis=0) if scaled else noisy


def four_classes_book() -> tuple[np.ndarray, np.ndarray]:
    """Book fig-3.7 / fig-3.10: the 17 hand-placed points in the unit square, four classes (4, 5, 4, 4
    points), as listed in the companion source R/Figure-softmax-boundary-4-classes.R."""
    x1 = [0.4, 0.55, 0.65, 0.9, 0.1, 0.35, 0.5, 0.15, 0.2, 0.85, 0.2, 0.7, 0.3, 0.5, 0.6, 0.55, 0.4]
    x2 = [0.85, 0.95, 0.8, 0.87, 0.5, 0.55, 0.5, 0.2, 0.1, 0.3, 0.7, 0.5, 0.3, 0.7, 0.6, 0.65, 0.7]
    labels = [1, 2, 2, 2, 1, 0, 0, 1, 0, 0, 1, 2, 1, 3, 3, 3, 3]
    return np.stack([x1, x2], axis=1), np.array(labels, dtype=np.int64)


def presence_book() -> tuple[np.ndarray, np.ndarray]:
    """Book fig-3.8: 38 sites, presence (1) or absence (0) of a species against precipitation (10 to
    90), present mostly at middle values, as listed in the companion source
    R/R-code-logistic-beyond-linearity.R."""
    precipitation = 10 * np.array(
        [1, 1.4, 1.5, 1.7, 2, 2.1, 2.8, 3, 3.2, 3.3, 3.5, 3.8, 4, 4.1, 4.4, 4.7, 4.8, 4.9, 5, 5.1,
         5.3, 5.4, 5.5, 6, 6.1, 6.1, 6.3, 6.4, 6.8, 6.9, 7, 7.4, 7.9, 8.5, 8.6, 8.7, 8.8, 9]
    )  # fmt: skip
    presence = [0] * 7 + [1, 0, 0, 1, 1, 1, 0] + [1] * 11 + [0, 1, 1, 1, 0, 1] + [0] * 7
    return precipitation[:, None], np.array(presence, dtype=np.int64)
