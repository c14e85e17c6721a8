"""How well a language model predicts held-out text: cross-entropy in nats and bits per
token (chapter 04, "Training the GRU on Shakespeare"; chapter 07, "Language models on
equal terms").

``evaluate_nats`` scores every token once from non-overlapping windows (the number
``model.evaluate_nats`` reports); ``sliding_window_nats`` gives every scored token at
least a fixed context, so models with different training windows compare fairly;
``bits_per_token`` converts nats to bits. (``genlib.metrics`` holds the image-sample
metrics: FID, KID, precision and recall.)
"""

import math

import numpy as np

from genlib.windows import _positive_int, as_token_ids, make_windows


def evaluate_nats(logits_fn, ids, block_size, batch_size=64, vocab_size=None):
    """Mean cross-entropy in nats per token of predicting ``ids[1:]`` from what precedes.

    ``logits_fn``: windows (n, block_size) int32 -> logits (n, block_size, vocab), as
    ``model.predict`` gives them. Every token after the first is scored exactly once: the
    text is cut into non-overlapping windows (:func:`make_windows`) plus, when tokens are
    left over, one last window ending at the end of the text of which only the left-over
    tokens count. Each window is read on its own, so the first tokens of a window are
    predicted from a short context. Shared by chapter 04's GRU and chapter 05's GPT.

    ``ids`` must be integer token ids in ``0..vocab_size - 1`` (``ValueError``
    otherwise); without ``vocab_size`` the width of the logits is the vocabulary.
    """
    ids = as_token_ids(ids, vocab_size)
    if ids.ndim != 1:
        raise ValueError(f"ids must be one text, shape (n,), got {ids.shape}")
    if len(ids) < 2:
        raise ValueError("need at least 2 tokens to score a prediction")
    block_size = min(int(block_size), len(ids) - 1)
    x, y = make_windows(ids, block_size)
    weights = np.ones(y.shape, np.float64)
    scored = x.shape[0] * block_size
    if scored < len(ids) - 1:
        x = np.concatenate([x, ids[None, -block_size - 1:-1]])
        y = np.concatenate([y, ids[None, -block_size:]])
        tail = np.zeros((1, block_size))
        tail[0, scored - (len(ids) - 1):] = 1.0
        weights = np.concatenate([weights, tail])
    return _weighted_nats(logits_fn, ids, x, y, weights, batch_size)


def _weighted_nats(logits_fn, ids, x, y, weights, batch_size):
    """Σ weights · (-log p(y | x)) / Σ weights over windows ``x``, targets ``y``, (n, T) each."""
    total = 0.0
    # chunks keep the float64 copy of the logits small
    chunk = 16 * batch_size
    for start in range(0, len(x), chunk):
        logits = np.asarray(logits_fn(x[start:start + chunk]), dtype=np.float64)
        if start == 0:  # the logits' width is the vocabulary: ids beyond it have no score
            as_token_ids(ids, logits.shape[-1])
        logits -= logits.max(axis=-1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        nll = -np.take_along_axis(log_p, y[start:start + chunk, :, None], axis=-1)[..., 0]
        total += float((nll * weights[start:start + chunk]).sum())
    return total / weights.sum()


def sliding_window_nats(logits_fn, ids, window, context, batch_size=64, vocab_size=None):
    """Mean nats per token with every scored token predicted from at least ``context`` tokens.

    Windows of ``window`` tokens overlap: window ``i`` starts at ``i * stride`` with
    ``stride = window - context + 1``, and only its targets at positions
    ``context - 1 .. window - 1`` count, so every scored token ``ids[t]`` is predicted
    from between ``context`` and ``window`` preceding tokens and is scored once. The
    scored tokens are ``ids[context : context + n * stride]`` for the ``n`` windows
    that fit; the first ``context`` tokens and a short tail are not scored. Two models
    evaluated with the same ``window`` and ``context`` are judged on the same tokens with
    the same information, whatever their own training window was (chapter 07,
    "Language models on equal terms"). ``logits_fn`` is as in :func:`evaluate_nats`;
    ``1 <= context <= window``.
    """
    ids = as_token_ids(ids, vocab_size)
    window, context = _positive_int("window", window), _positive_int("context", context)
    if context > window:
        raise ValueError(f"context ({context}) cannot be longer than the window ({window})")
    if ids.ndim != 1:
        raise ValueError(f"ids must be one text, shape (n,), got {ids.shape}")
    x, y = make_windows(ids, window, stride=window - context + 1)
    weights = np.zeros(y.shape, np.float64)
    weights[:, context - 1:] = 1.0
    return _weighted_nats(logits_fn, ids, x, y, weights, batch_size)


def bits_per_token(nats):
    """Convert a cross-entropy from nats to bits: ``nats / ln 2``."""
    return nats / math.log(2)
