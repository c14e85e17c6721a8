"""Chapter 04's exercise checks: the reference solution passes, the empty stub and
plausible wrong answers (kept here, out of the notebook) fail."""

import math

import keras
import numpy as np
from exercise_harness import exercise_tests

import genlib
from genlib.backend import full_float32
from genlib.models import CharGRU
from genlib.sampling import probabilities

NOTEBOOK = "04_autoregressive_gru.ipynb"


def _log_softmax(model, ids):
    logits = keras.ops.convert_to_numpy(model(np.asarray(ids)[None, :-1].astype("int32")))[0].astype(np.float64)
    return logits - np.log(np.exp(logits).sum(-1, keepdims=True))


def _log2_prob_nats(model, ids):
    # natural log, not bits
    ids = np.asarray(ids)
    return float(_log_softmax(model, ids)[np.arange(len(ids) - 1), ids[1:]].sum())


def _log2_prob_off_by_one(model, ids):
    # scores each input token instead of the next one
    ids = np.asarray(ids)
    return float(_log_softmax(model, ids)[np.arange(len(ids) - 1), ids[:-1]].sum() / math.log(2))


def _log2_prob_mean(model, ids):
    # bits per token, not the log-probability of the sequence
    ids = np.asarray(ids)
    return float(_log_softmax(model, ids)[np.arange(len(ids) - 1), ids[1:]].mean() / math.log(2))


def _rnn(x, kernel, recurrent_kernel, bias, activation=np.tanh, use_bias=True, shift=False):
    h = np.zeros((x.shape[0], recurrent_kernel.shape[0]))
    states = [h] if shift else []
    for t in range(x.shape[1]):
        h = activation(x[:, t] @ kernel + h @ recurrent_kernel + (bias if use_bias else 0))
        states.append(h)
    return np.stack(states[:x.shape[1]], axis=1)


def _greedy_rereads(model, prompt_ids, n):
    # right tokens, quadratic cost: the whole prefix is read again for every new token
    out = [int(t) for t in prompt_ids]
    for _ in range(n):
        logits = keras.ops.convert_to_numpy(model(np.array([out], "int32")))[0, -1]
        out.append(int(np.argmax(logits)))
    return np.array(out)


def _greedy_drops_state(model, prompt_ids, n):
    # every step starts again from the zero state: the model sees only the current token
    logits = keras.ops.convert_to_numpy(model(np.array([prompt_ids], "int32")))[:, -1]
    out = [int(t) for t in prompt_ids]
    for _ in range(n):
        out.append(int(np.argmax(logits[0])))
        logits, _ = model.step(np.array([out[-1]], "int32"), model.initial_states(1))
        logits = keras.ops.convert_to_numpy(logits)
    return np.array(out)


def _greedy_one_short(model, prompt_ids, n):
    # off by one: n - 1 new tokens
    logits, states = model(np.array([prompt_ids], "int32"), return_states=True)
    logits = keras.ops.convert_to_numpy(logits)[:, -1]
    out = [int(t) for t in prompt_ids]
    for _ in range(n - 1):
        out.append(int(np.argmax(logits[0])))
        logits, states = model.step(np.array([out[-1]], "int32"), states)
        logits = keras.ops.convert_to_numpy(logits)
    return np.array(out)


def _nucleus(p, top_p, include_crossing=True, renormalise=True):
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(-p)
    total = np.cumsum(p[order])
    keep = np.zeros(len(p), bool)
    keep[order[(total - p[order] < top_p) if include_crossing else (total < top_p)]] = True
    q = np.where(keep, p, 0.0)
    return q / q.sum() if renormalise else q


WRONG = {
    "log2_prob": [_log2_prob_nats, _log2_prob_off_by_one, _log2_prob_mean],
    "rnn_sequence": [lambda x, k, u, b: _rnn(x, k, u, b, activation=lambda a: np.maximum(a, 0)),
                     lambda x, k, u, b: _rnn(x, k, u, b, use_bias=False),
                     lambda x, k, u, b: _rnn(x, k, u, b, shift=True)],          # h_0 .. h_{T-1}
    "greedy": [_greedy_rereads, _greedy_drops_state, _greedy_one_short],
    "nucleus": [lambda p, top_p: _nucleus(p, top_p, include_crossing=False),   # stops below top_p
                lambda p, top_p: _nucleus(p, top_p, renormalise=False)],
}


SCOPE = dict(np=np, math=math, keras=keras, genlib=genlib, CharGRU=CharGRU, probabilities=probabilities,
             full_float32=full_float32)


(test_every_exercise_is_covered, test_check_passes_solution_and_fails_stub_and_wrong_answers,
 test_check_does_not_contain_the_solution) = exercise_tests(NOTEBOOK, WRONG, SCOPE)
