"""Turning a model's logits into the next token (chapter 04, "Sampling: temperature,
top-k and top-p"; reused by the mini-GPT of chapter 05).

Given logits ``l`` over the vocabulary, the next token is drawn from

    p_i = softmax(l / T)_i                       (temperature T > 0)

restricted to the ``k`` most likely tokens (top-k) and/or to the smallest set of
tokens whose probability adds up to at least ``p`` (nucleus, top-p; Holtzman et al.,
ICLR 2020), then renormalised. Sampling runs in NumPy on the host: it is one small
vector per step, and a ``numpy.random.Generator`` makes it reproducible on every
Keras backend.
"""

import numpy as np

from genlib.config import rng as make_rng


def check_sampling_args(temperature=1.0, top_k=None, top_p=None):
    """Raise ``ValueError`` for a temperature <= 0, top_k < 1 or top_p outside (0, 1]."""
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(
            f"temperature must be > 0, got {temperature}; for the most likely token "
            "use a small temperature such as 1e-3 (greedy decoding)"
        )
    if top_k is not None and (int(top_k) != top_k or top_k < 1):
        raise ValueError(f"top_k must be an integer >= 1 or None, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p}")


def check_generate_args(prompt_ids, max_new_tokens, vocab_size, temperature=1.0, top_k=None, top_p=None):
    """Validate the arguments of a model's ``generate`` (chapters 04 and 05).

    Returns ``(ids, single)``: the prompt as an int64 array (batch, T) and whether it
    was given as one sequence (T,). Raises ``ValueError`` for bad sampling settings, a
    negative or fractional ``max_new_tokens``, an empty or 3-D prompt, or ids that are
    not integers in ``0..vocab_size - 1``.
    """
    check_sampling_args(temperature, top_k, top_p)
    if int(max_new_tokens) != max_new_tokens or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens}")
    ids = np.asarray(prompt_ids)
    single = ids.ndim == 1
    ids = ids[None, :] if single else ids
    if ids.ndim != 2 or ids.shape[1] < 1:
        raise ValueError(f"prompt_ids must have shape (T,) or (batch, T) with T >= 1, got {np.shape(prompt_ids)}")
    if not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() >= vocab_size:
        raise ValueError(f"prompt_ids must be integers in 0..{vocab_size - 1}")
    return ids.astype(np.int64), single


def probabilities(logits, temperature=1.0, top_k=None, top_p=None):
    """The distribution that :func:`sample` draws from.

    ``logits``: (..., vocab), finite or -inf (a masked token); NaN or +inf raise
    ``ValueError``. Returns float64 probabilities of the same shape, each row summing
    to 1, zero outside the top-k / top-p set.
    """
    check_sampling_args(temperature, top_k, top_p)
    z = np.asarray(logits, dtype=np.float64)
    # -inf is a masked token; NaN or +inf means the model diverged, and would
    # otherwise turn into token 0 without a word
    if np.isnan(z).any() or np.isposinf(z).any():
        raise ValueError(f"the logits contain {int(np.isnan(z).sum())} NaN and {int(np.isposinf(z).sum())} +inf "
                         "values: the model has diverged (check its training loss)")
    if z.shape[-1:] == (0,) or np.isneginf(z).all(axis=-1).any():
        raise ValueError("every token of a row is masked (-inf logits) or the vocabulary is empty")
    z = z / temperature
    z = z - z.max(axis=-1, keepdims=True)
    if top_k is not None and top_k < z.shape[-1]:
        kth = np.sort(z, axis=-1)[..., -int(top_k)][..., None]
        z = np.where(z < kth, -np.inf, z)
    p = np.exp(z)
    p /= p.sum(axis=-1, keepdims=True)
    if top_p is not None and top_p < 1:
        order = np.argsort(-p, axis=-1)
        sorted_p = np.take_along_axis(p, order, axis=-1)
        # keep a token if the mass *before* it is still below top_p: the most
        # likely token is always kept, and so is the one that crosses top_p
        keep_sorted = np.cumsum(sorted_p, axis=-1) - sorted_p < top_p
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=-1)
        p = np.where(keep, p, 0.0)
        p /= p.sum(axis=-1, keepdims=True)
    return p


def sample(logits, temperature=1.0, top_k=None, top_p=None, rng=None):
    """Draw one token id per row of ``logits`` (batch, vocab) -> int64 (batch,).

    ``rng``: a ``numpy.random.Generator``, an int seed, or None: a generator seeded
    from NumPy's global state, so that ``genlib.seed(...)`` makes it repeatable
    (:func:`genlib.config.rng`). Pass the same generator at every step of a
    generation loop.
    """
    rng = make_rng(rng)
    p = probabilities(logits, temperature, top_k, top_p)
    p2 = p.reshape(-1, p.shape[-1])
    cdf = np.cumsum(p2, axis=-1)
    # inverse-CDF sampling: u in (0, total] never lands on a zero-probability token,
    # and scaling by the total guards against a sum that rounds to just below 1
    u = (1.0 - rng.random((p2.shape[0], 1))) * cdf[:, -1:]
    ids = (cdf < u).sum(axis=-1)
    return ids.reshape(p.shape[:-1]).astype(np.int64)
