"""Sample-quality scores on MNIST features (chapter 03, "Measuring sample quality: FID
on MNIST features"; chapter 07 builds each one from its formula and compares them).

Scores of two feature sets (any feature network; chapter 07, "Sample quality without
likelihood"): :func:`frechet_distance`, :func:`kernel_distance` (KID),
:func:`precision_recall` and :func:`density_coverage`. Scores of class probabilities:
:func:`inception_style_score`.

**These are MNIST-feature scores, not the FID and Inception Score of the papers.** The
Fréchet Inception Distance (Heusel et al., NeurIPS 2017) and the Inception Score
(Salimans et al., NeurIPS 2016) use an Inception-v3 network trained on ImageNet. Its
features mean little for 28x28 grey digits, so genlib trains a small MNIST classifier
of its own and uses

- its 64-unit penultimate layer as the feature space of a Fréchet distance
  (:func:`fid_mnist`), and
- its class probabilities p(y|x) for an Inception-Score-style score
  (:func:`inception_style_score`, at most 10, one per digit class).

The numbers are comparable with each other (same classifier, same cache file) but
not with FIDs or Inception Scores printed in papers. The classifier is trained once,
on the 60,000 MNIST training images (10 to 20 seconds on a 2-core CPU), with a fixed seed, and
its weights are cached under ``genlib.data.data_dir()``; later calls just load them.
"""

import os

import numpy as np

from genlib.data import data_dir, mnist

# Bump when the architecture or training recipe changes: the cache file name carries it.
CLASSIFIER_VERSION = 1
FEATURE_DIM = 64
_cached = {}


def classifier_path():
    """Where the cached classifier weights live."""
    return data_dir() / "metrics" / f"mnist_features_v{CLASSIFIER_VERSION}.weights.h5"


def _build():
    import keras
    from keras import layers

    init = lambda i: keras.initializers.GlorotUniform(seed=i)  # noqa: E731  fixed: same net every time
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", kernel_initializer=init(1)),
        layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", kernel_initializer=init(2)),
        layers.Flatten(),
        layers.Dense(FEATURE_DIM, activation="relu", kernel_initializer=init(3), name="features"),
        layers.Dense(10, kernel_initializer=init(4), name="logits"),
    ], name="mnist_feature_classifier")


def classifier(retrain=False, verbose=False):
    """The MNIST classifier behind the scores: (n, 28, 28, 1) in [0, 1] -> 10 logits.

    Trained on first use (1 epoch, batch 128, Adam 2e-3: about 97.5% test accuracy)
    and cached at :func:`classifier_path`; ``retrain=True`` trains it again.
    """
    import keras

    path = classifier_path()
    if not retrain and "model" in _cached:
        return _cached["model"]
    model = _build()
    if path.exists() and not retrain:
        model.load_weights(path)
    else:
        (x, y), _ = mnist()
        order = np.random.default_rng(0).permutation(len(x))
        model.compile(optimizer=keras.optimizers.Adam(2e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x[order], y[order], batch_size=128, epochs=1, shuffle=False, verbose=int(verbose))
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f"{path.stem}.{os.getpid()}.part.weights.h5")
        model.save_weights(part)
        os.replace(part, path)  # atomic: a parallel reader never sees half a file
    _cached["model"] = model
    return model


def _check_images(images):
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[1:] != (28, 28, 1):
        raise ValueError(f"expected MNIST-sized images (n, 28, 28[, 1]), got {images.shape}")
    if len(images) < 2:
        raise ValueError(f"need at least 2 images, got {len(images)}")
    if not np.all(np.isfinite(images)):
        raise ValueError("the images contain NaN or infinite values")
    low, high = float(images.min()), float(images.max())
    if low < 0 or high > 1:
        # the classifier was trained on [0, 1]: other scales give large, meaningless scores
        if low < 0:
            hint = "a GAN's tanh output in [-1, 1]? map it with (x + 1) / 2"
        else:
            hint = "8-bit pixels in [0, 255]? divide by 255" if high > 2 else "clip them with np.clip(x, 0, 1)"
        raise ValueError(f"the images must be in [0, 1] like genlib.data.mnist(), got values in "
                         f"[{low:g}, {high:g}]: {hint}")
    return images


def mnist_features(images, batch_size=500):
    """The classifier's 64 penultimate activations: (n, 28, 28[, 1]) in [0, 1] -> (n, 64).

    Raises ``ValueError`` for images outside [0, 1] (x * 255, or a GAN's [-1, 1] output).
    """
    import keras

    images = _check_images(images)  # before the classifier: a bad call costs no training
    model = classifier()
    if _cached.get("features_of") is not model:  # one feature model per classifier: no retracing
        _cached["features"] = keras.Model(model.inputs, model.get_layer("features").output)
        _cached["features_of"] = model
    return np.asarray(_cached["features"].predict(images, batch_size=batch_size, verbose=0), np.float64)


def mnist_probabilities(images, batch_size=500):
    """The classifier's p(y|x): (n, 28, 28[, 1]) -> (n, 10), rows summing to 1."""
    images = _check_images(images)
    logits = np.asarray(classifier().predict(images, batch_size=batch_size, verbose=0), np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def _check_features(real, fake, min_rows=2):
    a = np.asarray(real, dtype=np.float64)
    b = np.asarray(fake, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected two (n, d) feature arrays with the same d, got {a.shape} and {b.shape}")
    if len(a) < min_rows or len(b) < min_rows:
        raise ValueError(f"need at least {min_rows} rows in each feature array, got {len(a)} and {len(b)}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("the features contain NaN or infinite values")
    return a, b


def _sqrt_psd(matrix):
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(features_a, features_b):
    """The Fréchet (2-Wasserstein) distance between Gaussians fitted to two feature sets.

    features_a: (n, d), features_b: (m, d). With means mu_a, mu_b and covariances
    S_a, S_b:

        FD = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))

    Tr((S_a S_b)^(1/2)) is computed as the sum of the square roots of the eigenvalues
    of S_a^(1/2) S_b S_a^(1/2), a symmetric matrix with the same eigenvalues, so no
    complex parts appear. The estimate is biased upwards for small n: compare scores
    computed on the same number of samples.
    """
    a, b = _check_features(features_a, features_b)  # 2 rows at least: a covariance needs them
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    s_a, s_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root_a = _sqrt_psd(s_a)
    cross = np.linalg.eigvalsh(root_a @ s_b @ root_a)
    trace_sqrt = np.sqrt(np.clip(cross, 0, None)).sum()
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a) + np.trace(s_b) - 2 * trace_sqrt)


def fid_mnist(images_a, images_b):
    """Fréchet distance between two image sets in genlib's MNIST feature space.

    Not comparable with Inception-v3 FIDs from papers (see the module docstring).
    """
    return frechet_distance(mnist_features(images_a), mnist_features(images_b))


def inception_style_score(probabilities, eps=1e-12):
    """exp(E_x KL(p(y|x) || p(y))) from class probabilities (n, k); between 1 and k.

    High when each sample is classified confidently (sharp p(y|x)) and the classes
    are used evenly (broad p(y) = mean of p(y|x)). With genlib's MNIST classifier
    (``inception_style_score(mnist_probabilities(x))``) the maximum is 10.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or not np.allclose(p.sum(axis=1), 1, atol=1e-4) or np.any(p < 0):
        raise ValueError(f"expected an (n, k) array of probability rows, got shape {p.shape}")
    marginal = p.mean(axis=0, keepdims=True)
    kl = np.sum(p * (np.log(p + eps) - np.log(marginal + eps)), axis=1)
    return float(np.exp(kl.mean()))


# --- scores of two feature sets without a Gaussian assumption (chapter 07) -----------


def _blocks(n, size=2048):
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def _sq_dists(a, b):
    """Squared Euclidean distances (len(a), len(b)), never negative from round-off."""
    d = a @ b.T
    d *= -2  # in place: a 2,048 x 10,000 block is 160 MB, temporaries would double it
    d += np.sum(a**2, 1)[:, None]
    d += np.sum(b**2, 1)[None, :]
    return np.maximum(d, 0, out=d)


def _knn_radii(x, k):
    """Distance from each row of x to its k-th nearest other row of x, (n,)."""
    radii = np.empty(len(x))
    for start, stop in _blocks(len(x)):
        d = _sq_dists(x[start:stop], x)
        # column 0 of the sorted row is the point itself (distance 0): the k-th neighbour is index k
        radii[start:stop] = np.partition(d, k, axis=1)[:, k]
    return np.sqrt(radii)


def _check_k(k, real, fake):
    if int(k) != k or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    return _check_features(real, fake, min_rows=int(k) + 1)


def kernel_distance(real, fake, degree=3, coef0=1.0):
    """Kernel Inception Distance (Bińkowski et al., ICLR 2018): unbiased MMD², (n, d), (m, d) -> float.

    With the polynomial kernel k(x, y) = (x·y / d + coef0)^degree,

        MMD² = E k(x, x') + E k(y, y') - 2 E k(x, y),

    each expectation estimated from distinct pairs only (the diagonals k(x_i, x_i) are
    left out), so the estimate is unbiased: its mean over draws is the true MMD², 0 for
    two samples of one distribution, and it can be slightly negative. Computed in blocks,
    so 10,000 x 10,000 features need no 10,000² matrix.
    """
    a, b = _check_features(real, fake)
    d = a.shape[1]

    def kernel(u, v):
        k = u @ v.T
        k /= d  # in place: one (block, n) matrix, no temporaries
        k += coef0
        return k**degree if degree != 3 else k * k * k  # a product is much faster than pow

    def mean_within(x):
        diagonal = np.sum((np.sum(x**2, 1) / d + coef0) ** degree)  # the k(x_i, x_i) left out
        total = sum(kernel(x[s:e], x).sum() for s, e in _blocks(len(x))) - diagonal
        return total / (len(x) * (len(x) - 1))

    cross = sum(kernel(a[s:e], b).sum() for s, e in _blocks(len(a))) / (len(a) * len(b))
    return float(mean_within(a) + mean_within(b) - 2 * cross)


def precision_recall(real, fake, k=3):
    """Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019): ``(precision, recall)``.

    Each set's manifold is the union of balls around its points, of radius the distance
    to the k-th nearest neighbour in the same set. Precision is the share of fake points
    inside the real manifold (are the samples realistic?); recall the share of real
    points inside the fake manifold (is the data covered?). Both are 1 for identical
    sets. Needs more than k rows in each set.
    """
    a, b = _check_k(k, real, fake)
    k = int(k)
    # compare squared distances with squared radii: no square root of a 10,000² matrix
    real_radii_sq, fake_radii_sq = _knn_radii(a, k) ** 2, _knn_radii(b, k) ** 2
    precise = 0
    recalled = np.zeros(len(a), dtype=bool)
    for s, e in _blocks(len(b)):  # one pass over the fake-real distances serves both scores
        d = _sq_dists(b[s:e], a)
        precise += int(np.sum(np.any(d <= real_radii_sq[None, :], axis=1)))
        recalled |= np.any(d <= fake_radii_sq[s:e, None], axis=0)
    return precise / len(b), float(np.mean(recalled))


def density_coverage(real, fake, k=5):
    """Density and coverage (Naeem et al., ICML 2020): ``(density, coverage)``.

    With r_i the distance from real point i to its k-th nearest real neighbour,

        density  = 1/(k m) Σ_j Σ_i 1[ ||y_j - x_i|| <= r_i ]   (fake y_j, real x_i)
        coverage = 1/n Σ_i 1[ min_j ||y_j - x_i|| <= r_i ]

    Density counts how many real balls hold each sample (about 1 when fake and real
    come from one distribution, above 1 for samples crowded where the data is dense);
    coverage is the share of real points with a sample nearby. Unlike precision and
    recall, only the real set's balls are used, so a few fake outliers cannot inflate
    the fake manifold.
    """
    a, b = _check_k(k, real, fake)
    k = int(k)
    radii = _knn_radii(a, k)
    hits = 0
    nearest = np.full(len(a), np.inf)
    for s, e in _blocks(len(b)):
        d = _sq_dists(b[s:e], a)
        hits += int(np.sum(d <= radii[None, :] ** 2))
        nearest = np.minimum(nearest, d.min(axis=0))
    return hits / (k * len(b)), float(np.mean(nearest <= radii**2))
