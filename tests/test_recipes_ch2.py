"""Chapter 2 recipes (fig-2.3, 2.6, 2.10, 2.12 to 2.15) at the smallest scale, and the mathematics they use:
least-squares bands and polynomial fits, K-means one step at a time, SVD low-rank approximation."""

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sklearn.cluster import KMeans

from mde_exp.clustering import kmeans_objective, lloyd_steps
from mde_exp.least_squares import fit_polynomial, mean_confidence_band, polynomial_features, polynomial_values
from mde_exp.low_rank import eckart_young_relative_error, rank_q_approximation, relative_error, storage_ratio

from .conftest import reproduce_at_smallest_scale

IDS = ("fig-2.3", "fig-2.6", "fig-2.10", "fig-2.12", "fig-2.13", "fig-2.14", "fig-2.15")


def test_confidence_band_is_the_textbook_simple_regression_band():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, 30)
    y = 1.5 + 0.7 * x + rng.normal(0, 1, 30)
    grid = np.array([0.0, x.mean(), 4.0, 12.0])
    fit, lower, upper = mean_confidence_band(
        np.column_stack([np.ones(30), x]), y, np.column_stack([np.ones(4), grid])
    )
    slope, intercept = np.polyfit(x, y, 1)
    s = np.sqrt(np.sum((y - intercept - slope * x) ** 2) / 28)
    half = stats.t.ppf(0.975, 28) * s * np.sqrt(1 / 30 + (grid - x.mean()) ** 2 / np.sum((x - x.mean()) ** 2))
    assert np.allclose(fit, intercept + slope * grid)
    assert np.allclose(upper - fit, half) and np.allclose(fit - lower, half)
    assert np.argmin(upper - lower) == 1  # narrowest at the mean of x
    with pytest.raises(ValueError, match="more points than parameters"):
        mean_confidence_band(np.ones((2, 2)), np.ones(2), np.ones((1, 2)))


def test_confidence_band_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    x = np.linspace(0, 1, 20)
    design = np.column_stack([np.ones(20), x, x**2])
    at = np.array([[1.0, 0.3, 0.09]])
    truth = float((at @ np.array([1.0, -2.0, 3.0]))[0])
    covered = 0
    for _ in range(2000):
        y = design @ np.array([1.0, -2.0, 3.0]) + rng.normal(0, 0.5, 20)
        _, lower, upper = mean_confidence_band(design, y, at)
        covered += bool(lower[0] <= truth <= upper[0])
    assert abs(covered / 2000 - 0.95) < 0.015


def test_polynomial_fits_by_least_squares():
    x = np.linspace(0, 1, 10)
    y = 2 - x + 3 * x**3
    assert np.allclose(fit_polynomial(x, y, 3), [2, -1, 0, 3], atol=1e-8)
    assert np.allclose(polynomial_values(fit_polynomial(x, y, 3), x), y)
    assert fit_polynomial(x, y, 0) == pytest.approx([y.mean()])
    assert polynomial_features(x, 0).shape == (10, 0) and polynomial_features(x, 2).shape == (10, 2)
    # ten points, degree 9: interpolation despite a condition number of ~1e7
    noisy = y + np.random.default_rng(0).normal(0, 0.2, 10)
    assert np.abs(polynomial_values(fit_polynomial(x, noisy, 9), x) - noisy).max() < 1e-8


def test_lloyd_steps_assign_then_average_and_never_raise_the_objective():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(c, 0.3, (30, 2)) for c in ((0, 0), (2, 0), (1, 2))])
    start = np.array([[0.5, 0.5], [1.5, 0.0], [1.0, 1.0]])
    steps = lloyd_steps(x, start)
    first = steps[0]
    nearest = np.argmin(((x[:, None] - start[None]) ** 2).sum(2), axis=1)
    assert np.array_equal(first.labels, nearest)
    assert np.allclose(first.new_centres, [x[nearest == k].mean(0) for k in range(3)])
    assert first.objective_assigned == pytest.approx(kmeans_objective(x, start, nearest))
    trace = [v for s in steps for v in (s.objective_assigned, s.objective_updated)]
    assert np.all(np.diff(trace) <= 1e-12)
    assert np.array_equal(steps[-1].labels, steps[-2].labels)  # stopped because nothing changed
    for a, b in zip(steps[:-1], steps[1:], strict=True):
        assert np.array_equal(a.new_centres, b.centres)
    full = KMeans(3, init=start, n_init=1).fit(x)
    assert np.allclose(full.cluster_centers_, steps[-1].new_centres)
    assert len(lloyd_steps(x, start, max_steps=1)) == 1


def test_kmeans_objective_is_a_sum_of_squared_distances():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]])
    centres = np.array([[0.5, 0.0], [0.0, 2.0]])
    assert kmeans_objective(x, centres, np.array([0, 0, 1])) == pytest.approx(0.25 + 0.25 + 1.0)


def test_truncated_svd_is_eckart_young():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 25))
    u, sigma, vt = np.linalg.svd(a, full_matrices=False)
    for q in (1, 5, 24):
        aq = rank_q_approximation(u, sigma, vt, q)
        assert np.linalg.matrix_rank(aq) == q
        assert relative_error(a, aq) == pytest.approx(eckart_young_relative_error(sigma, q), rel=1e-10)
        # no other rank-q matrix does better: e.g. the projection on q random directions
        basis = np.linalg.qr(rng.normal(size=(25, q)))[0]
        assert relative_error(a, a @ basis @ basis.T) > relative_error(a, aq)
    assert relative_error(a, rank_q_approximation(u, sigma, vt, 25)) < 1e-12
    assert eckart_young_relative_error(sigma, 0) == pytest.approx(1.0)
    assert storage_ratio(353, 469, 50) == pytest.approx(0.24855, abs=1e-5)  # the book's companion value


def test_chapter_2_recipes_at_the_smallest_scale(tmp_path, one_thread):
    records = reproduce_at_smallest_scale(tmp_path, IDS)

    boston = records["fig-2.3"]
    assert len(boston["runs"]) == 3
    for run in map(Path, boston["runs"]):
        assert run.parent == tmp_path / "runs" / "boston_regression"
        assert (run / "checkpoints" / "last.ckpt").is_file()
    fits = boston["values"]
    assert fits["lstat, quadratic"]["mse_ls"] < fits["lstat, linear"]["mse_ls"]
    assert fits["rm, linear"]["gd_coef"] == pytest.approx(fits["rm, linear"]["ls_coef"], abs=1e-3)

    losses = records["fig-2.6"]["values"]
    assert losses["tail_probability"]["Laplace(0, 1/√2)"] == pytest.approx(
        math.exp(-3 * math.sqrt(2)), rel=1e-5
    )

    poly = records["fig-2.10"]["values"]
    assert poly["train_mse"][9] < 1e-12 and np.argmin(poly["test_mse"]) in range(3, 9)

    kmeans = records["fig-2.12"]["values"]
    assert kmeans["updates_to_converge"] >= 2 and kmeans["accuracy"] >= 0.9

    segmentation = records["fig-2.13"]["values"]["within_cluster_error"]
    assert segmentation["6"] < segmentation["2"]

    pca = records["fig-2.14"]["values"]["explained_variance_ratio"]
    assert pca[0] == pytest.approx(0.443, abs=0.005) and pca[1] == pytest.approx(0.190, abs=0.005)

    svd = records["fig-2.15"]["values"]
    assert svd["shape"] == [427, 640] and len(svd["relative_error"]) == 20  # every fifth rank when tiny
    assert svd["relative_error"]["100"] < svd["relative_error"]["5"]
