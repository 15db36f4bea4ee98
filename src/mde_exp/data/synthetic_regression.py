"""Boston-calibrated synthetic regression (book fig-2.7): a line fitted to Boston housing, redrawn by NumPy.

The companion notebook (Learning-Rate-Matters-GD-linear.ipynb) fits medv ~ rm on the 490 Boston
tracts with medv < 50 by the pseudo-inverse, then draws new data around that line with NumPy's legacy
generator: seed 0, x = normal(6, 2.5, n), y = beta0 + beta1 x + normal(0, 3, n). `boston_rm_line`
and `boston_calibrated_line` repeat those calls in that order (RandomState(seed) is the stream that
np.random.seed(seed) starts), so the draws, in float64, are the notebook's.
"""

import numpy as np


def boston_rm_medv(drop_censored: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """rm and medv of Boston housing (mlxtend's copy, file order), the tracts with medv < 50 only."""
    from mlxtend.data import boston_housing_data

    x, medv = boston_housing_data()
    keep = medv < 50 if drop_censored else np.ones(len(medv), dtype=bool)
    return x[keep, 5].astype(np.float64), medv[keep].astype(np.float64)  # column 5: rm


def boston_rm_line() -> tuple[float, float]:
    """(beta0, beta1) of medv ~ rm on the 490 tracts with medv < 50, from pinv([1, rm]) medv."""
    rm, medv = boston_rm_medv()
    beta = np.linalg.pinv(np.stack([np.ones(len(rm)), rm], axis=1)) @ medv
    return float(beta[0]), float(beta[1])


def boston_calibrated_line(
    seed: int = 0, x_mean: float = 6.0, x_std: float = 2.5, noise_std: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """fig-2.7's data: as many inputs as Boston tracts with medv < 50 (490), x ~ N(x_mean, x_std^2),
    and y = beta0 + beta1 x + N(0, noise_std^2) around the Boston line (`boston_rm_line`), drawn by
    NumPy's legacy generator seeded with `seed`."""
    n = len(boston_rm_medv()[0])
    beta0, beta1 = boston_rm_line()
    rng = np.random.RandomState(seed)
    x = rng.normal(x_mean, x_std, n)
    y = beta0 + beta1 * x + rng.normal(0, noise_std, n)
    return x[:, None], y
