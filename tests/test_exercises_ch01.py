"""Chapter 01's exercise checks: the reference solution passes, the empty stub and a
plausible wrong answer (kept here, out of the notebook) fail."""

import numpy as np
from exercise_harness import exercise_tests

NOTEBOOK = "01_foundations.ipynb"


def _filtering_argmax(x, start, A, B):
    # the most probable state at each step on its own: not the most probable path
    alpha = start * B[:, x[0]]
    path = [int(alpha.argmax())]
    for t in range(1, len(x)):
        alpha = B[:, x[t]] * ((alpha / alpha.sum()) @ A)
        path.append(int(alpha.argmax()))
    return np.array(path)


def _viterbi_no_first_emission(x, start, A, B):
    # forgets the emission of the first observation
    log_A, log_B = np.log(A), np.log(B)
    delta = np.log(start)
    back = np.zeros((len(x), len(start)), dtype=int)
    for t in range(1, len(x)):
        scores = delta[:, None] + log_A
        back[t] = scores.argmax(0)
        delta = scores.max(0) + log_B[:, x[t]]
    path = [int(delta.argmax())]
    for t in range(len(x) - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return np.array(path[::-1])


def _gmm_loglik(x, pi, mu, cov):
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal
    return logsumexp(np.stack([np.log(pi[j]) + multivariate_normal(mu[j], cov[j]).logpdf(x)
                               for j in range(len(pi))], 1), 1).sum()


def _bic_k_weights(x, pi, mu, cov):
    # counts k free weights instead of k - 1
    k, d = mu.shape
    return -2 * _gmm_loglik(x, pi, mu, cov) + (k + k * d + k * d * (d + 1) // 2) * np.log(len(x))


def _bic_diagonal_count(x, pi, mu, cov):
    # counts d variances per component, as for diagonal covariances
    k, d = mu.shape
    return -2 * _gmm_loglik(x, pi, mu, cov) + (k - 1 + 2 * k * d) * np.log(len(x))


def _bernoulli_one_sided(x_bin, y, alpha=1.0):
    # adds alpha to the denominator once, not once per outcome
    K = y.max() + 1
    n_k = np.bincount(y, minlength=K)
    on = np.stack([x_bin[y == k].sum(0) for k in range(K)])
    return np.log(n_k / len(y)), (on + alpha) / (n_k[:, None] + alpha)


def _bernoulli_uniform_prior(x_bin, y, alpha=1.0):
    K = y.max() + 1
    n_k = np.bincount(y, minlength=K)
    on = np.stack([x_bin[y == k].sum(0) for k in range(K)])
    return np.full(K, -np.log(K)), (on + alpha) / (n_k[:, None] + 2 * alpha)


def _filtering(x, start, A, B):
    # forward only: p(z_t | x_1:t), the later observations ignored
    out = np.empty((len(x), len(start)))
    a = start * B[:, x[0]]
    out[0] = a / a.sum()
    for t in range(1, len(x)):
        a = B[:, x[t]] * (out[t - 1] @ A)
        out[t] = a / a.sum()
    return out


def _backward_without_emission(x, start, A, B):
    # the backward step leaves out B[:, x_{t+1}]
    post = _filtering(x, start, A, B)
    beta = np.ones_like(post)
    for t in range(len(x) - 2, -1, -1):
        b = A @ beta[t + 1]
        beta[t] = b / b.sum()
    post = post * beta
    return post / post.sum(1, keepdims=True)


WRONG = {
    "viterbi": [_filtering_argmax, _viterbi_no_first_emission],
    "gmm_bic": [_bic_k_weights, _bic_diagonal_count],
    "fit_bernoulli_nb": [_bernoulli_one_sided, _bernoulli_uniform_prior],
    "hmm_smoothing": [_filtering, _backward_without_emission],
}

SCOPE = dict(np=np)


(test_every_exercise_is_covered, test_check_passes_solution_and_fails_stub_and_wrong_answers,
 test_check_does_not_contain_the_solution) = exercise_tests(NOTEBOOK, WRONG, SCOPE)
