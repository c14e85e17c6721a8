"""Chapter 09's exercise checks: the reference solution passes, the empty stub and a
plausible wrong answer (kept here, out of the notebook) fail."""

import math

import numpy as np
from exercise_harness import exercise_tests

from genlib.sampling import Watermark, watermark_z_score

NOTEBOOK = "09_risks_future.ipynb"



def _exposure_strict_rank(log_probs, secret_index):
    # ties counted in the secret's favour: a tie of every candidate looks fully exposed
    log_probs = np.asarray(log_probs)
    rank = 1 + np.sum(log_probs > log_probs[secret_index])
    return math.log2(len(log_probs)) - math.log2(rank)


def _green_z_scores_first_token(ids, is_green, gamma):
    # scores T = len(ids) tokens instead of len(ids) - 1
    n = len(ids)
    count = sum(bool(is_green(a, b)) for a, b in zip(ids[:-1], ids[1:]))
    return (count - gamma * n) / math.sqrt(n * gamma * (1 - gamma))


def _noisy_with_alpha_t(x0, t, eps, betas):
    # alpha_t instead of the product alpha-bar_t
    a = 1 - np.asarray(betas)[t]
    return np.sqrt(a) * x0 + np.sqrt(1 - a) * eps


def _tokens_needed_no_square(gamma, share, z):
    if share <= gamma:
        return math.inf
    return math.ceil(z * math.sqrt(gamma * (1 - gamma)) / (share - gamma))


def _dp_clip_the_mean(per_example_grads, clip, sigma, rng):
    # clips the averaged gradient, not each example's
    g = np.asarray(per_example_grads, dtype=float).mean(axis=0)
    g = g / max(1.0, np.linalg.norm(g) / clip)
    return g + rng.normal(0.0, sigma * clip, size=g.shape) / len(per_example_grads)


WRONG = {
    "exposure_bits": _exposure_strict_rank,
    "green_z": _green_z_scores_first_token,
    "noisy": _noisy_with_alpha_t,
    "tokens_needed": _tokens_needed_no_square,
    "dp_gradient": _dp_clip_the_mean,
}


SCOPE = dict(np=np, math=math, Watermark=Watermark, watermark_z_score=watermark_z_score)


(test_every_exercise_is_covered, test_check_passes_solution_and_fails_stub_and_wrong_answers,
 test_check_does_not_contain_the_solution) = exercise_tests(NOTEBOOK, WRONG, SCOPE)
