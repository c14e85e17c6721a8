"""genlib.metrics: the Fréchet distance in closed form, the Inception-Score-style score,
and the MNIST feature classifier (trained once, cached)."""

import numpy as np
import pytest

from genlib import metrics


def test_frechet_distance_of_two_gaussians_matches_closed_form():
    # For diagonal covariances FD = |mu_a - mu_b|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2.
    rng = np.random.default_rng(0)
    mu_a, mu_b = np.array([0.0, 1.0, -1.0]), np.array([1.0, 1.0, 2.0])
    var_a, var_b = np.array([1.0, 4.0, 0.25]), np.array([4.0, 1.0, 1.0])
    a = mu_a + np.sqrt(var_a) * rng.standard_normal((200_000, 3))
    b = mu_b + np.sqrt(var_b) * rng.standard_normal((200_000, 3))
    exact = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    assert abs(metrics.frechet_distance(a, b) - exact) < 0.05 * exact


def test_frechet_distance_with_correlated_covariances():
    # Equal covariances (any, here correlated): FD reduces to the squared mean distance.
    rng = np.random.default_rng(1)
    cov = np.array([[2.0, 1.2], [1.2, 1.0]])
    a = rng.multivariate_normal([0, 0], cov, size=100_000)
    b = rng.multivariate_normal([3, -1], cov, size=100_000)
    assert abs(metrics.frechet_distance(a, b) - 10.0) < 0.2
    assert abs(metrics.frechet_distance(a, a)) < 1e-8


def test_frechet_distance_bad_input():
    with pytest.raises(ValueError):
        metrics.frechet_distance(np.zeros((10, 3)), np.zeros((10, 4)))
    with pytest.raises(ValueError):
        metrics.frechet_distance(np.zeros((1, 3)), np.zeros((10, 3)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.frechet_distance(np.full((5, 2), np.nan), np.zeros((5, 2)))


def test_inception_style_score_extremes():
    one_hot = np.eye(10)[np.arange(1000) % 10]
    assert np.isclose(metrics.inception_style_score(one_hot), 10.0)           # sharp and even
    assert np.isclose(metrics.inception_style_score(np.eye(10)[np.zeros(50, int)]), 1.0)  # one class
    assert np.isclose(metrics.inception_style_score(np.full((20, 10), 0.1)), 1.0)          # unsure
    with pytest.raises(ValueError):
        metrics.inception_style_score(np.ones((3, 10)))


def test_mnist_features_separate_digits_from_noise():
    from genlib.data import mnist

    (x, _), (x_test, y_test) = mnist()
    p = metrics.mnist_probabilities(x_test[:500])
    assert (p.argmax(axis=1) == y_test[:500]).mean() > 0.95
    assert metrics.mnist_features(x_test[:4]).shape == (4, metrics.FEATURE_DIM)
    assert metrics.classifier_path().exists()  # cached after first use
    real = metrics.fid_mnist(x_test[:500], x[:500])
    noise = metrics.fid_mnist(np.random.default_rng(0).uniform(size=(500, 28, 28, 1)), x[:500])
    assert real < 0.1 * noise
    with pytest.raises(ValueError, match="MNIST-sized"):
        metrics.mnist_features(np.zeros((3, 8, 8, 1)))
