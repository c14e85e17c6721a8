"""Chapter 07's exercise checks: the reference solution passes, the empty stub and a
plausible wrong answer (kept here, out of the notebook) fail."""

import numpy as np
from exercise_harness import exercise_tests

from genlib import metrics

NOTEBOOK = "07_evaluation.ipynb"


def _kid_with_diagonals(x, y):
    # the V-statistic: k(x_i, x_i) included, biased upwards
    d = x.shape[1]
    k = lambda u, v: (u @ v.T / d + 1) ** 3  # noqa: E731
    return float(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())


def _prefix_only(sample, corpus):
    # only matches that start at the first character of the sample
    best = 0
    while best < len(sample) and sample[:best + 1] in corpus:
        best += 1
    return best


def _agreeing_sets(rng):
    # fake_a is better on both counts: FID and precision agree
    real = rng.normal(0.0, 1.0, (500, 2))
    return real, rng.normal(0.0, 1.0, (500, 2)), rng.normal(0.0, 2.5, (500, 2))


WRONG = {
    "iw_bound": [lambda log_w: -np.mean(log_w, axis=1),                       # the mean -log w: the ELBO
                 lambda log_w: -np.log(np.mean(np.exp(log_w), axis=1))],       # overflows near -1000
    "kid": [_kid_with_diagonals],
    "longest_verbatim": [_prefix_only],
    "disagreement": [_agreeing_sets],
}


SCOPE = dict(np=np, metrics=metrics)


(test_every_exercise_is_covered, test_check_passes_solution_and_fails_stub_and_wrong_answers,
 test_check_does_not_contain_the_solution) = exercise_tests(NOTEBOOK, WRONG, SCOPE)

