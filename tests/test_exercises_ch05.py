"""Chapter 05's exercise checks: the reference solution passes, the empty stub and
plausible wrong answers (kept here, out of the notebook) fail."""

import math

import keras
import numpy as np
from exercise_harness import exercise_tests

import genlib
from genlib.models import MiniGPT

NOTEBOOK = "05_transformers_gpt.ipynb"


def _sinusoidal(n_positions, d, pair_index=False, swapped=False):
    pos = np.arange(n_positions)[:, None]
    i = np.arange(d // 2)
    omega = 10000.0 ** (-(i if pair_index else 2 * i) / d)
    pe = np.zeros((n_positions, d))
    pe[:, 0::2], pe[:, 1::2] = (np.cos(pos * omega), np.sin(pos * omega)) if swapped else \
        (np.sin(pos * omega), np.cos(pos * omega))
    return pe


def _cached_call(model, ids, cache, index):
    return model.call_with_cache(np.array(ids, "int32"), cache, index)


def _greedy_no_cache(model, prompt_ids, n):
    # right tokens, quadratic cost: every step re-reads the whole prefix into a fresh cache
    tokens = [int(t) for t in prompt_ids]
    for _ in range(n):
        logits, _ = _cached_call(model, [tokens], model.empty_cache(1), 0)
        tokens.append(int(np.argmax(keras.ops.convert_to_numpy(logits)[0, -1])))
    return np.array(tokens)


def _greedy_cached(model, prompt_ids, n, carry_cache=True, shift=0):
    tokens = [int(t) for t in prompt_ids]
    logits, cache = _cached_call(model, [tokens], model.empty_cache(1), 0)
    for _ in range(n):
        tokens.append(int(np.argmax(keras.ops.convert_to_numpy(logits)[0, -1])))
        cache = cache if carry_cache else model.empty_cache(1)
        logits, cache = _cached_call(model, [[tokens[-1]]], cache, len(tokens) - 1 + shift)
    return np.array(tokens)


def _parameters(vocab_size, block_size, n_layer, n_embd, bias, final_norm=True, positions=True, biases=9):
    c = n_embd
    norm = 2 * c if bias else c
    per_block = 12 * c * c + 2 * norm + (biases * c if bias else 0)
    return (vocab_size + (block_size if positions else 0)) * c + n_layer * per_block + (norm if final_norm else 0)


WRONG = {
    "sinusoidal": [lambda n, d: _sinusoidal(n, d, pair_index=True),      # 10000^(-i/d): frequencies too spread
                   lambda n, d: _sinusoidal(n, d, swapped=True)],
    "kv_cache_floats": [lambda n_layer, block_size, n_embd, batch_size=1: n_layer * block_size * n_embd * batch_size,
                        lambda n_layer, block_size, n_embd, batch_size=1: 2 * n_layer * block_size * n_embd],
    "greedy_with_cache": [_greedy_no_cache,
                          lambda m, p, n: _greedy_cached(m, p, n, carry_cache=False),   # each token sees only itself
                          lambda m, p, n: _greedy_cached(m, p, n, shift=1)],            # position off by one
    "gpt_parameters": [lambda *a: _parameters(*a, final_norm=False),
                       lambda *a: _parameters(*a, positions=False),
                       lambda *a: _parameters(*a, biases=8)],                 # forgets one C-wide bias
}


SCOPE = dict(np=np, math=math, keras=keras, genlib=genlib, MiniGPT=MiniGPT)


(test_every_exercise_is_covered, test_check_passes_solution_and_fails_stub_and_wrong_answers,
 test_check_does_not_contain_the_solution) = exercise_tests(NOTEBOOK, WRONG, SCOPE)
