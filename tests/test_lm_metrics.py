"""genlib.lm_metrics: a language model's held-out loss in nats."""

import numpy as np
import pytest

from genlib.lm_metrics import sliding_window_nats


def _bigram_logits_fn(table):
    """Logits that depend on the previous token only, and a count of context it saw."""
    def logits_fn(x):
        return np.log(table[np.asarray(x)])
    return logits_fn


def test_sliding_window_nats_scores_each_token_once_with_enough_context():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, 203).astype(np.int32)
    table = rng.dirichlet(np.ones(5), size=5)
    # a bigram model's score does not depend on the window: compare with a direct sum
    window, context = 16, 6
    stride = window - context + 1
    n = (len(ids) - 1 - window) // stride + 1
    scored = np.arange(context, context + n * stride)
    expected = -np.mean(np.log(table[ids[scored - 1], ids[scored]]))
    got = sliding_window_nats(_bigram_logits_fn(table), ids, window, context)
    assert got == pytest.approx(expected, rel=1e-12)


def test_sliding_window_nats_gives_every_token_its_context():
    window, context, vocab = 20, 8, 7

    def logits_fn(x):  # certain of the next token only once `context` tokens have been read
        logits = np.zeros(x.shape + (vocab,))
        rows, cols = np.indices(x.shape)
        sure = cols >= context - 1
        logits[rows[sure], cols[sure], (x[sure] + 1) % vocab] = 50.0
        return logits

    ids = np.arange(300) % vocab
    assert sliding_window_nats(logits_fn, ids, window, context) < 1e-12
    # a context one token shorter scores positions where the model is still guessing
    assert sliding_window_nats(logits_fn, ids, window, context - 1) > 0.01


def test_sliding_window_nats_bad_arguments():
    fn = lambda x: np.zeros(x.shape + (3,))  # noqa: E731
    with pytest.raises(ValueError, match="cannot be longer"):
        sliding_window_nats(fn, np.zeros(50, np.int32), window=8, context=9)
    with pytest.raises(ValueError):
        sliding_window_nats(fn, np.zeros(50, np.int32), window=0, context=1)
    with pytest.raises(ValueError, match="too short"):
        sliding_window_nats(fn, np.zeros(5, np.int32), window=8, context=2)
    with pytest.raises(ValueError):
        sliding_window_nats(fn, np.array([0, 1, 5, 2] * 10), window=8, context=2)  # id 5 beyond 3 logits
