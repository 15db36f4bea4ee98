"""Least-squares fits beside the trained models (book sections 2.3 and 2.5): polynomial fits by degree
(fig-2.10) and the 95% confidence band of a fitted mean (fig-2.3)."""

import numpy as np
import torch
from scipy import stats
from sklearn.preprocessing import PolynomialFeatures

from mde_exp.models.linear import LinearRegression


def polynomial_features(x: np.ndarray, degree: int) -> np.ndarray:
    """The monomials x, x^2, ..., x^degree of a one-dimensional input (N x degree; N x 0 for degree 0)."""
    x = np.asarray(x, float).reshape(-1, 1)
    if degree == 0:
        return np.empty((len(x), 0))
    return PolynomialFeatures(degree, include_bias=False).fit_transform(x)


def fit_polynomial(x: np.ndarray, y: np.ndarray, degree: int) -> np.ndarray:
    """The least-squares polynomial of `degree` through (x, y): coefficients b_0, ..., b_degree of
    1, x, ..., x^degree, from `LinearRegression.least_squares` on the monomials (float64). Degree 0 is
    the constant model, whose least-squares fit is the mean of y."""
    y = np.asarray(y, float)
    if degree == 0:
        return np.array([y.mean()])
    bias, weights = LinearRegression.least_squares(
        torch.from_numpy(polynomial_features(x, degree)), torch.from_numpy(y)
    )
    return np.concatenate([bias.numpy().ravel(), weights.numpy().ravel()])


def polynomial_values(coefficients: np.ndarray, x: np.ndarray) -> np.ndarray:
    """b_0 + b_1 x + ... + b_k x^k at the points x."""
    return np.polynomial.polynomial.polyval(np.asarray(x, float), coefficients)


def mean_confidence_band(
    design: np.ndarray, y: np.ndarray, new_design: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The least-squares fit of y on `design` (N x p, including the column of ones) evaluated at the rows
    of `new_design`, with the pointwise `level` confidence band for the mean response there:

        y0_hat +- t_{N-p, (1+level)/2} s sqrt(x0^T (X^T X)^{-1} x0),   s^2 = RSS / (N - p),

    (the band of R's `predict(lm, interval = "confidence")` and ggplot's `stat_smooth`). Returns the
    fitted means, the lower and the upper band."""
    design, y, new_design = (np.asarray(a, float) for a in (design, y, new_design))
    n, p = design.shape
    if n <= p:
        raise ValueError(f"a confidence band needs more points than parameters (N = {n}, p = {p})")
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ beta
    s = np.sqrt(residual @ residual / (n - p))
    # x0^T (X^T X)^{-1} x0 through the QR factor of X: ||R^{-T} x0||^2, without forming X^T X.
    r = np.linalg.qr(design, mode="r")
    leverage = np.sum(np.linalg.solve(r.T, new_design.T) ** 2, axis=0)
    half_width = stats.t.ppf((1 + level) / 2, n - p) * s * np.sqrt(leverage)
    fit = new_design @ beta
    return fit, fit - half_width, fit + half_width
