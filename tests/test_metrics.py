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


# --- chapter 07's scores: KID, precision/recall, density/coverage ---------------------


def _brute_kid(x, y, degree=3, coef0=1.0):
    k = lambda u, v: (u @ v.T / x.shape[1] + coef0) ** degree  # noqa: E731
    n, m = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    return ((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
            - 2 * k(x, y).mean())


def test_kernel_distance_matches_brute_force_across_blocks():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2500, 5)), rng.standard_normal((2100, 5)) + 0.2  # > one 2,048-row block
    assert metrics.kernel_distance(x, y) == pytest.approx(_brute_kid(x, y), rel=1e-9)


def test_kernel_distance_is_unbiased():
    # Same distribution: the mean over many small draws is 0 within its standard error,
    # while the Fréchet distance of the same draws is clearly positive (its small-sample bias).
    rng = np.random.default_rng(1)
    kid, fd = [], []
    for _ in range(200):
        x, y = rng.standard_normal((2, 30, 4))
        kid.append(metrics.kernel_distance(x, y))
        fd.append(metrics.frechet_distance(x, y))
    kid = np.array(kid)
    assert abs(kid.mean()) < 3 * kid.std() / np.sqrt(len(kid))
    assert np.mean(fd) > 10 * kid.std() / np.sqrt(len(kid))
    assert np.any(kid < 0)  # an unbiased estimate of 0 must go negative sometimes


def test_kernel_distance_grows_with_a_shift():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((500, 8))
    small = metrics.kernel_distance(x, rng.standard_normal((500, 8)) + 0.3)
    large = metrics.kernel_distance(x, rng.standard_normal((500, 8)) + 1.0)
    assert 0 < small < large


def test_precision_recall_identical_sets_and_a_dropped_mode():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((400, 2))
    assert metrics.precision_recall(x, x, k=3) == (1.0, 1.0)
    # real: two clusters; fake: only one of them -> precision stays high, recall halves
    real = np.concatenate([rng.normal(-5, 1, (300, 2)), rng.normal(5, 1, (300, 2))])
    fake = rng.normal(-5, 1, (300, 2))
    precision, recall = metrics.precision_recall(real, fake, k=3)
    assert precision > 0.9 and 0.4 < recall < 0.6


def test_precision_recall_matches_brute_force():
    rng = np.random.default_rng(4)
    real, fake = rng.standard_normal((60, 3)), rng.standard_normal((50, 3)) * 1.5
    dist = lambda u, v: np.linalg.norm(u[:, None] - v[None], axis=-1)  # noqa: E731
    r_real = np.sort(dist(real, real), axis=1)[:, 3]
    r_fake = np.sort(dist(fake, fake), axis=1)[:, 3]
    precision = np.mean((dist(fake, real) <= r_real[None]).any(axis=1))
    recall = np.mean((dist(real, fake) <= r_fake[None]).any(axis=1))
    assert metrics.precision_recall(real, fake, k=3) == pytest.approx((precision, recall))


def test_density_coverage_brute_force_and_outliers():
    rng = np.random.default_rng(5)
    real, fake = rng.standard_normal((80, 3)), rng.standard_normal((70, 3)) + 0.5
    d = np.linalg.norm(fake[:, None] - real[None], axis=-1)
    r = np.sort(np.linalg.norm(real[:, None] - real[None], axis=-1), axis=1)[:, 5]
    expected = ((d <= r[None]).sum() / (5 * 70), np.mean(d.min(axis=0) <= r))
    assert metrics.density_coverage(real, fake, k=5) == pytest.approx(expected)
    # same distribution: density near 1, coverage high
    x, y = rng.standard_normal((2, 2000, 2))
    density, coverage = metrics.density_coverage(x, y, k=5)
    assert 0.85 < density < 1.15 and coverage > 0.9


@pytest.mark.parametrize("score", [metrics.kernel_distance, metrics.precision_recall, metrics.density_coverage])
def test_feature_scores_bad_input(score):
    with pytest.raises(ValueError, match="same d"):
        score(np.zeros((10, 3)), np.zeros((10, 4)))
    with pytest.raises(ValueError, match="NaN"):
        score(np.full((10, 2), np.nan), np.zeros((10, 2)))
    with pytest.raises(ValueError, match="at least"):
        score(np.zeros((1, 2)), np.zeros((10, 2)))


@pytest.mark.parametrize("score", [metrics.precision_recall, metrics.density_coverage])
def test_neighbour_scores_need_more_rows_than_k(score):
    rng = np.random.default_rng(6)
    with pytest.raises(ValueError, match="at least 6 rows"):
        score(rng.standard_normal((5, 2)), rng.standard_normal((50, 2)), k=5)
    with pytest.raises(ValueError, match="k must be"):
        score(rng.standard_normal((50, 2)), rng.standard_normal((50, 2)), k=0)
