"""Chapter 02's exercise checks: the reference solution passes, the empty stub and a
plausible wrong answer (kept here, out of the notebook) fail."""

import keras
import numpy as np
from exercise_harness import exercise_tests
from keras import ops
from sklearn.metrics import roc_auc_score

import genlib
from genlib.models.vae import gaussian_kl

NOTEBOOK = "02_vae.ipynb"


def _kl_diag_swapped(mu_q, log_var_q, mu_p, log_var_p):
    # KL(p || q) instead of KL(q || p)
    return 0.5 * np.sum(log_var_q - log_var_p + (np.exp(log_var_p) + (mu_q - mu_p) ** 2) / np.exp(log_var_q) - 1, -1)


def _kl_diag_variances(mu_q, log_var_q, mu_p, log_var_p):
    # treats the log-variances as variances
    return 0.5 * np.sum(np.log(log_var_p ** 2) / 2 - np.log(log_var_q ** 2) / 2
                        + (log_var_q + (mu_q - mu_p) ** 2) / log_var_p - 1, -1)


def _kl_per_dim(mu, log_var):
    return 0.5 * (np.exp(log_var) + mu ** 2 - 1 - log_var)


WRONG = {
    "kl_diag": [_kl_diag_swapped, _kl_diag_variances],
    "free_bits_kl": [
        # clamps each example's KL before averaging over the batch
        lambda mu, log_var, free_nats: float(np.maximum(free_nats, _kl_per_dim(mu, log_var)).mean(0).sum()),
        # clamps the total KL instead of each dimension
        lambda mu, log_var, free_nats: float(max(free_nats * mu.shape[1], _kl_per_dim(mu, log_var).sum(1).mean())),
    ],
}


def _training_images(decode_logits, digit, n, latent_dim, seed=0):
    # returns real digits of the requested class instead of generating
    (x, y), _ = genlib.data.mnist()
    return x[y == digit][:n]


def _uniform_codes(decode_logits, digit, n, latent_dim, seed=0):
    z = np.random.default_rng(seed).uniform(-1, 1, (n, latent_dim)).astype("float32")
    y = keras.utils.to_categorical(np.full(n, digit), 10).astype("float32")
    return 1 / (1 + np.exp(-ops.convert_to_numpy(decode_logits(z, y))))


def _logits(decode_logits, digit, n, latent_dim, seed=0):
    # forgets the sigmoid
    z = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype("float32")
    y = keras.utils.to_categorical(np.full(n, digit), 10).astype("float32")
    return ops.convert_to_numpy(decode_logits(z, y))


def _label_ignored(decode_logits, digit, n, latent_dim, seed=0):
    z = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype("float32")
    return 1 / (1 + np.exp(-ops.convert_to_numpy(decode_logits(z, np.zeros((n, 10), "float32")))))


WRONG["generate"] = [_training_images, _uniform_codes, _logits, _label_ignored]


def _auc_strict(scores_normal, scores_anomalous):
    # a tie counts as a loss
    a, b = np.asarray(scores_anomalous)[:, None], np.asarray(scores_normal)[None, :]
    return float((a > b).mean())


def _auc_reversed(scores_normal, scores_anomalous):
    return float(roc_auc_score(np.r_[np.ones(len(scores_normal)), np.zeros(len(scores_anomalous))],
                               np.r_[scores_normal, scores_anomalous]))


WRONG["anomaly_auc"] = [_auc_strict, _auc_reversed]

SCOPE = dict(np=np, ops=ops, keras=keras, gaussian_kl=gaussian_kl, roc_auc_score=roc_auc_score)


(test_every_exercise_is_covered, test_check_passes_solution_and_fails_stub_and_wrong_answers,
 test_check_does_not_contain_the_solution) = exercise_tests(NOTEBOOK, WRONG, SCOPE)
