"""Low-rank approximation by the singular value decomposition (book section 2.6, fig-2.15): the best
rank-q approximation, its error by the Eckart-Young theorem, and what storing it costs."""

import numpy as np


def rank_q_approximation(u: np.ndarray, sigma: np.ndarray, vt: np.ndarray, q: int) -> np.ndarray:
    """A_q = sum_{i <= q} sigma_i u_i v_i^T from a thin SVD A = U diag(sigma) V^T."""
    return (u[:, :q] * sigma[:q]) @ vt[:q]


def relative_error(a: np.ndarray, approximation: np.ndarray) -> float:
    """||A - A_q||_F / ||A||_F."""
    return float(np.linalg.norm(a - approximation) / np.linalg.norm(a))


def eckart_young_relative_error(sigma: np.ndarray, q: int) -> float:
    """The relative Frobenius error of the best rank-q approximation, from the singular values alone:
    sqrt(sum_{i > q} sigma_i^2) / sqrt(sum_i sigma_i^2) (Eckart-Young)."""
    sigma = np.asarray(sigma, float)
    return float(np.sqrt(np.sum(sigma[q:] ** 2) / np.sum(sigma**2)))


def storage_ratio(m: int, n: int, q: int) -> float:
    """Numbers stored for a rank-q approximation of an m x n matrix (q singular values, q left and q
    right singular vectors) over the m n entries of the matrix: q (1 + m + n) / (m n)."""
    return q * (1 + m + n) / (m * n)
