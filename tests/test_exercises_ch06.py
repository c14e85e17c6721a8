"""Chapter 06's exercise checks: the reference solution passes, the empty stub and a
plausible wrong answer (kept here, out of the notebook) fail."""

import math

import keras
import numpy as np
from exercise_harness import exercise_tests

import genlib
from genlib import finetune
from genlib.models import MiniGPT

NOTEBOOK = "06_pretraining_finetuning.ipynb"



def _nll(logits, targets):
    logits = logits - logits.max(-1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return -np.take_along_axis(log_p, targets[..., None], -1).mean()


WRONG = {
    # four square C x C matrices per block instead of the real shapes
    "lora_trainable": lambda n_layer, n_embd, rank: n_layer * rank * 4 * 2 * n_embd,
    # passages split at random: plays leak into both sides
    "group_split": lambda groups, labels, test_fraction, seed:
        np.random.default_rng(seed).random(len(groups)) < test_fraction,
    # off by one: the LM term scores each character against itself
    "finetune_loss": lambda class_logits, labels, lm_logits, ids, lam:
        _nll(class_logits, labels) + lam * _nll(lm_logits, ids),
}


def _ridge_with_penalised_bias(X, labels, alpha):
    Y = np.eye(labels.max() + 1)[labels]
    X1 = np.hstack([X, np.ones((len(X), 1))])
    W = np.linalg.solve(X1.T @ X1 + alpha * np.eye(X1.shape[1]), X1.T @ Y)
    return W[:-1], W[-1]


WRONG["ridge_probe"] = _ridge_with_penalised_bias


SCOPE = dict(np=np, math=math, keras=keras, genlib=genlib, finetune=finetune, MiniGPT=MiniGPT)


(test_every_exercise_is_covered, test_check_passes_solution_and_fails_stub_and_wrong_answers,
 test_check_does_not_contain_the_solution) = exercise_tests(NOTEBOOK, WRONG, SCOPE)
