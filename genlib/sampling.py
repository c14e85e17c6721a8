"""Turning a model's logits into the next token (chapter 04, "Sampling: temperature,
top-k and top-p"; reused by the mini-GPT of chapter 05).

Given logits ``l`` over the vocabulary, the next token is drawn from

    p_i = softmax(l / T)_i                       (temperature T > 0)

restricted to the ``k`` most likely tokens (top-k) and/or to the smallest set of
tokens whose probability adds up to at least ``p`` (nucleus, top-p; Holtzman et al.,
ICLR 2020), then renormalised. Sampling runs in NumPy on the host: it is one small
vector per step, and a ``numpy.random.Generator`` makes it reproducible on every
Keras backend.

A sampler can also **watermark** what it writes (Kirchenbauer et al., ICML 2023, "A
Watermark for Large Language Models"; chapter 09, "Telling generated text from real: a
watermark"): a :class:`Watermark` splits the vocabulary, at every step, into a green
list of ``gamma * V`` tokens chosen by a secret key and the previous token, and adds
``delta`` to the green tokens' logits before sampling. :func:`watermark_z_score` then
tests a text for too many green tokens, knowing only the key.
"""

import hashlib

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


def check_generate_args(prompt_ids, max_new_tokens, vocab_size, temperature=1.0, top_k=None, top_p=None,
                        watermark=None):
    """Validate the arguments of a model's ``generate`` (chapters 04 and 05).

    Returns ``(ids, single)``: the prompt as an int64 array (batch, T) and whether it
    was given as one sequence (T,). Raises ``ValueError`` for bad sampling settings, a
    negative or fractional ``max_new_tokens``, an empty or 3-D prompt, or ids that are
    not integers in ``0..vocab_size - 1``.
    """
    check_sampling_args(temperature, top_k, top_p)
    if watermark is not None and not isinstance(watermark, Watermark):
        raise ValueError(f"watermark must be a genlib.sampling.Watermark or None, got {type(watermark).__name__}")
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


class Watermark:
    """The "green list" watermark of Kirchenbauer et al. (ICML 2023), soft version.

    ``key``: the secret, an int or a str. ``gamma`` in (0, 1): the fraction of the
    vocabulary that is green at each step (the list has ``round(gamma * V)`` tokens,
    at least 1 and at most V - 1). ``delta`` >= 0: the bias added to the green logits,
    ``l_k + delta`` for k in G(previous token), before temperature, top-k and top-p.
    ``delta = 0`` samples exactly as without a watermark.

    The green list G(t) of a previous token t is the first ``round(gamma * V)`` entries
    of a permutation of 0..V-1 drawn by ``numpy.random.default_rng([key_seed, t])``,
    with ``key_seed`` the first 8 bytes (little-endian) of SHA-256 of ``str(key)``: anyone with
    the key can recompute it from the text alone, without the model. Chapter 09,
    "Telling generated text from real: a watermark".
    """

    def __init__(self, key, gamma=0.25, delta=2.0):
        if not isinstance(key, (int, np.integer, str)) or isinstance(key, bool):
            raise ValueError(f"key must be an int or a str, got {type(key).__name__}")
        if not np.isfinite(gamma) or not 0 < gamma < 1:
            raise ValueError(f"gamma (the green fraction) must be in (0, 1), got {gamma}")
        if not np.isfinite(delta) or delta < 0:
            raise ValueError(f"delta (the green bias) must be a finite number >= 0, got {delta}")
        self.key, self.gamma, self.delta = key, float(gamma), float(delta)
        # key_seed: the first 8 bytes of SHA-256(str(key)), the same in every process
        # (Python's hash() of a str is salted per process)
        self.key_seed = int.from_bytes(hashlib.sha256(str(key).encode("utf-8")).digest()[:8], "little")
        self._lists = {}

    def green_size(self, vocab_size):
        """|G| = round(gamma * V), kept within 1..V-1."""
        return min(max(int(round(self.gamma * vocab_size)), 1), vocab_size - 1)

    def green_list(self, previous, vocab_size):
        """Bool (V,): True for the tokens green after the token id ``previous``."""
        if int(vocab_size) != vocab_size or vocab_size < 2:
            raise ValueError(f"vocab_size must be an integer >= 2, got {vocab_size}")
        cache_key = (int(previous), int(vocab_size))
        if cache_key not in self._lists:
            order = np.random.default_rng([self.key_seed, int(previous)]).permutation(int(vocab_size))
            green = np.zeros(int(vocab_size), bool)
            green[order[:self.green_size(vocab_size)]] = True
            self._lists[cache_key] = green
        return self._lists[cache_key]

    def green_mask(self, previous, vocab_size):
        """Bool (batch, V) for previous token ids (batch,)."""
        return np.stack([self.green_list(t, vocab_size) for t in np.asarray(previous).reshape(-1)])

    def bias(self, logits, previous):
        """``logits`` (batch, V) with ``delta`` added to each row's green tokens."""
        z = np.asarray(logits, dtype=np.float64)
        if z.ndim != 2:
            raise ValueError(f"a watermark needs logits of shape (batch, vocab), got {z.shape}")
        previous = np.asarray(previous).reshape(-1)
        if previous.shape[0] != z.shape[0]:
            raise ValueError(f"previous must hold one token per row of logits: {previous.shape[0]} for {z.shape[0]} rows")
        return z + self.delta * self.green_mask(previous, z.shape[1])

    def __repr__(self):
        return f"Watermark(gamma={self.gamma}, delta={self.delta})"   # never prints the key


def watermark_z_score(ids, watermark, vocab_size):
    """The detector of Kirchenbauer et al.: z = (|s|_G - gamma T) / sqrt(T gamma (1 - gamma)).

    ``ids``: token ids (n,) or (batch, n), n >= 2. Each of the T = n - 1 tokens after
    the first is green or not according to the green list of the token before it;
    ``|s|_G`` counts the green ones and gamma is the exact green fraction
    ``green_size(V) / V``. Without a watermark (text not written with this key), each
    token is green with probability gamma and z is approximately standard normal, so
    ``z > 4`` happens by chance about 3 times in 100,000. Returns a float, or an array
    (batch,). Chapter 09, "Telling generated text from real: a watermark".
    """
    if not isinstance(watermark, Watermark):
        raise ValueError(f"watermark must be a genlib.sampling.Watermark, got {type(watermark).__name__}")
    ids = np.asarray(ids)
    single = ids.ndim == 1
    ids = ids[None] if single else ids
    if ids.ndim != 2 or ids.shape[1] < 2:
        raise ValueError(f"ids must have shape (n,) or (batch, n) with n >= 2 tokens, got {np.shape(ids)}")
    if not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() >= vocab_size:
        raise ValueError(f"ids must be integers in 0..{vocab_size - 1}")
    gamma = watermark.green_size(vocab_size) / vocab_size
    green = np.array([[watermark.green_list(a, vocab_size)[b] for a, b in zip(row[:-1], row[1:])] for row in ids])
    n = green.shape[1]
    z = (green.sum(axis=1) - gamma * n) / np.sqrt(n * gamma * (1 - gamma))
    return float(z[0]) if single else z


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


def sample(logits, temperature=1.0, top_k=None, top_p=None, rng=None, watermark=None, previous=None):
    """Draw one token id per row of ``logits`` (batch, vocab) -> int64 (batch,).

    ``watermark``: a :class:`Watermark`, or None (the default: no change at all). With
    one, ``previous`` (batch,) must give the token before the one being drawn: its
    green list gets ``+delta`` on the logits.

    ``rng``: a ``numpy.random.Generator``, an int seed, or None: a generator seeded
    from NumPy's global state, so that ``genlib.seed(...)`` makes it repeatable
    (:func:`genlib.config.rng`). Pass the same generator at every step of a
    generation loop.
    """
    rng = make_rng(rng)
    if watermark is not None:
        if not isinstance(watermark, Watermark):
            raise ValueError(f"watermark must be a genlib.sampling.Watermark or None, got {type(watermark).__name__}")
        if previous is None:
            raise ValueError("a watermark needs previous=: the token ids (batch,) before the ones being drawn")
        logits = watermark.bias(logits, previous)
    p = probabilities(logits, temperature, top_k, top_p)
    p2 = p.reshape(-1, p.shape[-1])
    cdf = np.cumsum(p2, axis=-1)
    # inverse-CDF sampling: u in (0, total] never lands on a zero-probability token,
    # and scaling by the total guards against a sum that rounds to just below 1
    u = (1.0 - rng.random((p2.shape[0], 1))) * cdf[:, -1:]
    ids = (cdf < u).sum(axis=-1)
    return ids.reshape(p.shape[:-1]).astype(np.int64)
