"""Chapter 00's exercise checks: the reference solution passes, the empty stub and a
plausible wrong answer (kept here, out of the notebook) fail."""

import numpy as np
from exercise_harness import exercise_tests

NOTEBOOK = "00_getting_started.ipynb"


def _pooled_mean(images, labels, n_classes=10):
    # the mean of all images, repeated for every class: ignores the labels
    return np.repeat(np.asarray(images)[..., 0].mean(axis=0)[None], n_classes, axis=0)


def _sum_over_all(images, labels, n_classes=10):
    # divides each class's sum by the total number of images
    images, labels = np.asarray(images)[..., 0], np.asarray(labels)
    return np.stack([images[labels == k].sum(axis=0) for k in range(n_classes)]) / len(labels)


def _count_every_a(text, a, b):
    # off by one: a final `a` (followed by nothing) is counted in the denominator
    pairs = sum(1 for cur, nxt in zip(text, text[1:]) if cur == a and nxt == b)
    if text.count(a) == 0:
        raise ValueError(a)
    return pairs / text.count(a)


def _non_overlapping(text, a, b):
    # str.count does not count overlapping pairs ("aaa" holds one "aa" for it)
    followed = sum(1 for cur in text[:-1] if cur == a)
    if followed == 0:
        raise ValueError(a)
    return text.count(a + b) / followed


def _kl_bits(p, q):
    p, q = np.asarray(p, float), np.asarray(q, float)
    m = p > 0
    return np.inf if np.any(q[m] == 0) else float(np.sum(p[m] * np.log2(p[m] / q[m])))


def _kl_swapped(p, q):
    return _kl_nans(q, p)


def _kl_nans(p, q):
    # no care for zeros: 0 * log 0 is nan
    p, q = np.asarray(p, float), np.asarray(q, float)
    return float(np.sum(p * np.log(p / q)))


def _tile_column_major(images, ncols):
    images = np.asarray(images)
    n, H, W = images.shape
    rows = -(-n // ncols)
    grid = np.zeros((rows * H, ncols * W))
    for i in range(n):
        c, r = divmod(i, rows)
        grid[r * H:(r + 1) * H, c * W:(c + 1) * W] = images[i]
    return grid


def _tile_drops_last_row(images, ncols):
    images = np.asarray(images)
    n, H, W = images.shape
    rows = n // ncols
    return images[:rows * ncols].reshape(rows, ncols, H, W).transpose(0, 2, 1, 3).reshape(rows * H, ncols * W)


WRONG = {
    "mean_digits": [_pooled_mean, _sum_over_all],
    "bigram_probability": [_count_every_a, _non_overlapping, lambda text, a, b: 0.95],
    "kl_divergence": [_kl_bits, _kl_swapped, _kl_nans],
    "tile": [_tile_column_major, _tile_drops_last_row],
}

SCOPE = dict(np=np)


(test_every_exercise_is_covered, test_check_passes_solution_and_fails_stub_and_wrong_answers,
 test_check_does_not_contain_the_solution) = exercise_tests(NOTEBOOK, WRONG, SCOPE)
