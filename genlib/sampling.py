"""Turning a model's logits into the next token (chapter 04, "Sampling: temperature,
top-k and top-p"; reused by the mini-GPT of chapter 05).

Given logits ``l`` over the vocabulary, the next token is drawn from

    p_i = softmax(l / T)_i                       (temperature T > 0)

restricted to the ``k`` most likely tokens (top-k) and/or to the smallest set of
tokens whose probability adds up to at least ``p`` (nucleus, top-p; Holtzman et al.,
ICLR 2020), then renormalised, and drawn by inverse-CDF sampling from a uniform u:
the first token whose cumulative probability reaches u.

Two versions of the same rules: :func:`probabilities` and :func:`sample` in NumPy, the
ones chapter 04 teaches with, and :func:`sample_op` in ``keras.ops``, which runs inside
a compiled generation loop (``CausalLM.generate``) with the settings of
:func:`sampler_settings`. Both draw their uniforms from a seeded
``numpy.random.Generator``, so a seed gives the same tokens on every Keras backend.

A sampler can also **watermark** what it writes (Kirchenbauer et al., ICML 2023, "A
Watermark for Large Language Models"; chapter 09, "Telling generated text from real: a
watermark"): a :class:`Watermark` splits the vocabulary, at every step, into a green
list of ``gamma * V`` tokens chosen by a secret key and the previous token, and adds
``delta`` to the green tokens' logits before sampling. :func:`watermark_z_score` then
tests a text for too many green tokens, knowing only the key.
"""

import hashlib

import keras
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


# --- The same sampler in keras.ops, for compiled generation loops ---------------------


def sampling_dtype():
    """The float type :func:`sample_op` computes the distribution in: float64, except on
    JAX without ``jax_enable_x64``, where it is float32."""
    if keras.backend.backend() == "jax":
        import jax

        return "float64" if jax.config.jax_enable_x64 else "float32"
    return "float64"


def sampler_settings(vocab_size, temperature=1.0, top_k=None, top_p=None, watermark=None):
    """The settings of :func:`sample_op` as a dict of NumPy arrays (checked as :func:`sample` does).

    Arrays, not Python numbers, so that a compiled loop takes them as inputs and is
    traced once for every setting: ``temperature`` (scalar), ``top_k`` (int32 scalar;
    ``vocab_size`` for None, which keeps every token), ``top_p`` (scalar; 2.0 for None:
    the mass before any token is at most 1, so every token is kept), ``top_p_on`` (bool
    scalar: whether to renormalise after top-p, as :func:`probabilities` does only when
    ``top_p < 1``), and the watermark as ``green`` (V, V), with ``green[t, k] = 1`` when
    token k is in the green list after token t (``Watermark.green_list``), and
    ``delta`` (0 without a watermark).
    """
    check_sampling_args(temperature, top_k, top_p)
    if watermark is not None and not isinstance(watermark, Watermark):
        raise ValueError(f"watermark must be a genlib.sampling.Watermark or None, got {type(watermark).__name__}")
    V = int(vocab_size)
    dtype = sampling_dtype()
    if watermark is None:
        green, delta = np.zeros((V, V), dtype), 0.0
    else:
        green = np.stack([watermark.green_list(t, V) for t in range(V)]).astype(dtype)
        delta = watermark.delta
    return {"temperature": np.asarray(temperature, dtype),
            "top_k": np.asarray(V if top_k is None else min(int(top_k), V), "int32"),
            "top_p": np.asarray(2.0 if top_p is None else top_p, dtype),
            "top_p_on": np.asarray(top_p is not None and top_p < 1),
            "green": green, "delta": np.asarray(delta, dtype)}


def probabilities_op(logits, settings, previous=None):
    """:func:`probabilities` (and the watermark's bias) in ``keras.ops``: (B, V) -> (B, V).

    ``settings``: :func:`sampler_settings`. ``previous`` (B,): the tokens before the ones
    being drawn (their green lists get ``+delta``); ignored when ``delta`` is 0. The
    steps are those of :func:`probabilities`, in the same order, in float64
    (:func:`sampling_dtype`: float32 on JAX without x64, so there a near tie between two
    tokens can fall the other way than in NumPy). Unlike :func:`probabilities`, it
    cannot raise inside a compiled loop: NaN logits give NaN probabilities.
    """
    ops = keras.ops
    dtype = sampling_dtype()
    settings = {name: ops.convert_to_tensor(value) for name, value in settings.items()}
    z = ops.cast(logits, dtype)
    if previous is not None:
        z = z + settings["delta"] * ops.take(settings["green"], ops.cast(previous, "int32"), axis=0)
    z = z / settings["temperature"]
    z = z - ops.max(z, axis=-1, keepdims=True)
    # top-k: the k-th largest score is the threshold (k = V keeps every token)
    descending = ops.flip(ops.sort(z, axis=-1), axis=-1)
    kth = ops.take(descending, settings["top_k"] - 1, axis=-1)[:, None]
    z = ops.where(z < kth, ops.cast(-np.inf, dtype), z)
    p = ops.exp(z)
    p = p / ops.sum(p, axis=-1, keepdims=True)
    # top-p: keep the tokens whose mass before them (most likely first) is below top_p;
    # they are the most likely ones, so the rule keeps every p >= the last kept p
    sorted_p = ops.flip(ops.sort(p, axis=-1), axis=-1)
    kept = ops.sum(ops.cast(ops.cumsum(sorted_p, axis=-1) - sorted_p < settings["top_p"], "int32"), axis=-1)
    smallest = ops.take_along_axis(sorted_p, ops.maximum(kept, 1)[:, None] - 1, axis=-1)
    nucleus = ops.where(p >= smallest, p, ops.zeros_like(p))
    nucleus = nucleus / ops.sum(nucleus, axis=-1, keepdims=True)
    return ops.where(settings["top_p_on"], nucleus, p)


def sample_op(logits, u, settings, previous=None):
    """:func:`sample` in ``keras.ops``, for a compiled loop: logits (B, V) -> int32 (B,).

    ``u`` (B,): uniforms in [0, 1), the numbers :func:`sample` would draw with
    ``rng.random((B, 1))``; with them it picks the same tokens (inverse-CDF sampling:
    the token i with cdf_{i-1} < (1 - u) cdf_V <= cdf_i). ``settings``:
    :func:`sampler_settings`; ``previous`` (B,): the tokens before the ones being drawn,
    for the watermark. The distribution is :func:`probabilities_op`.
    """
    ops = keras.ops
    p = probabilities_op(logits, settings, previous)
    cdf = ops.cumsum(p, axis=-1)
    threshold = (1.0 - ops.cast(u, p.dtype))[:, None] * cdf[:, -1:]
    return ops.sum(ops.cast(cdf < threshold, "int32"), axis=-1)
