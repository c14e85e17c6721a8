"""Characters to integers and back, and the training windows of a language model
(chapter 00, "Data"; chapter 04, "Data: Shakespeare as characters").

Both the GRU of chapter 04 and the mini-GPT of chapter 05 learn
p(x_t | x_<t) on characters: they read a window ``x[i : i + T]`` and are trained
to predict the same window shifted by one, ``x[i + 1 : i + T + 1]``.
"""

import math
import numbers

import keras
import numpy as np

from genlib.config import rng as make_rng


class UnknownCharacterError(ValueError):
    """The text holds characters the tokenizer was not fitted on."""


class CharTokenizer:
    """A character-level tokenizer: each distinct character gets an integer id.

    ``vocab`` is the sorted list of characters; the id of a character is its index.
    Unknown characters raise :class:`UnknownCharacterError` naming them rather than
    being silently dropped, because a dropped character changes the text.
    """

    def __init__(self, vocab):
        vocab = list(vocab)
        if not vocab:
            raise ValueError("a tokenizer needs at least one character")
        if len(set(vocab)) != len(vocab) or any(len(c) != 1 for c in vocab):
            raise ValueError("vocab must be a list of distinct single characters")
        self.vocab = vocab
        self._ids = {c: i for i, c in enumerate(vocab)}

    @classmethod
    def fit(cls, text):
        """Build the tokenizer from the characters of ``text``."""
        return cls(sorted(set(text)))

    @classmethod
    def ascii(cls):
        """Newline and the 95 printable ASCII characters (space to ``~``): 96 ids.

        A vocabulary fixed in advance rather than fitted to one text, so that a model
        pre-trained on Shakespeare can later be fine-tuned on Python code, whose ``#``,
        ``=`` and ``|`` Shakespeare never uses (chapter 06, "Domain adaptation: from
        Shakespeare to Python").
        """
        return cls(["\n"] + [chr(i) for i in range(32, 127)])

    @property
    def vocab_size(self):
        return len(self.vocab)

    def __len__(self):
        return len(self.vocab)

    def encode(self, text):
        """``str -> list[int]``."""
        try:
            return [self._ids[c] for c in text]
        except KeyError:
            unknown = sorted(set(text) - set(self._ids))
            raise UnknownCharacterError(
                f"{len(unknown)} character(s) not in the vocabulary: "
                + ", ".join(repr(c) for c in unknown[:20])
            ) from None

    def decode(self, ids):
        """``list[int] -> str``; a 2-D batch (batch, T) -> ``list[str]``, one per row.

        Any array-like of integers (a list, a NumPy array, a tensor). Floats and ids
        outside ``0..vocab_size - 1`` raise ``ValueError``.
        """
        array = np.asarray(keras.ops.convert_to_numpy(ids) if keras.ops.is_tensor(ids) else ids)
        if array.ndim == 2:
            return [self.decode(row) for row in array]
        if array.ndim > 2:
            raise ValueError(f"decode takes ids of shape (T,) or (batch, T), got {array.shape}")
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"token ids must be integers, got {array.dtype} values")
        ids = [int(i) for i in array.reshape(-1)]
        bad = sorted({i for i in ids if not 0 <= i < len(self.vocab)})
        if bad:
            raise ValueError(f"ids out of range 0..{len(self.vocab) - 1}: {bad[:20]}")
        return "".join(self.vocab[i] for i in ids)

    def get_config(self):
        """A JSON-able dict; models store it so that a saved model keeps its tokenizer."""
        return {"vocab": "".join(self.vocab)}

    @classmethod
    def from_config(cls, config):
        return cls(list(config["vocab"]))

    def __eq__(self, other):
        return isinstance(other, CharTokenizer) and self.vocab == other.vocab

    def __repr__(self):
        return f"CharTokenizer(vocab_size={len(self.vocab)})"


def split(ids, train_fraction=0.9):
    """Split a token array into a leading training part and a trailing validation part.

    A contiguous split (not a shuffled one) keeps validation text unseen: shuffled
    overlapping windows would leak training text into validation. ``train_fraction``
    must be in (0, 1).
    """
    if isinstance(train_fraction, bool) or not isinstance(train_fraction, (numbers.Real, np.number)) \
            or not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be a number in (0, 1), got {train_fraction!r}")
    ids = np.asarray(ids)
    cut = int(len(ids) * train_fraction)
    return ids[:cut], ids[cut:]


def make_windows(ids, block_size, stride=None):
    """Cut ``ids`` into (input, target) windows for next-token prediction.

    Returns ``x, y`` of shape (n, block_size), int32, with ``y[:, t] = x[:, t + 1]``
    inside the text: ``x = ids[s : s + T]`` and ``y = ids[s + 1 : s + T + 1]`` for
    ``s = 0, stride, 2 * stride, ...``. The default stride ``T`` gives
    non-overlapping windows that cover every target once, which is what a validation
    loss over a whole split needs. ``block_size`` and ``stride`` are integers >= 1.
    """
    ids = as_token_ids(ids)
    block_size = _positive_int("block_size", block_size)
    stride = block_size if stride is None else _positive_int("stride", stride)
    n = (len(ids) - 1 - block_size) // stride + 1
    if n < 1:
        raise ValueError(f"a text of {len(ids)} tokens is too short for windows of {block_size}")
    starts = np.arange(n) * stride
    index = starts[:, None] + np.arange(block_size)[None, :]
    return ids[index], ids[index + 1]


class WindowDataset(keras.utils.PyDataset):
    """Random windows for training, drawn afresh for every batch (as nanoGPT does).

    Each of the ``steps`` batches holds ``batch_size`` windows starting at uniformly
    random offsets, so an "epoch" is a number of steps, not a pass over the text.
    Yields ``(x, y)`` int32 arrays of shape (batch_size, block_size). Works with
    ``model.fit`` on every backend; genlib's language models check ``ids`` against
    their vocabulary when ``fit`` is given a ``WindowDataset``. ``seed=None`` follows
    ``genlib.seed`` (:func:`genlib.config.rng`).
    """

    def __init__(self, ids, block_size, batch_size, steps, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.ids = as_token_ids(ids)
        block_size = _positive_int("block_size", block_size)
        batch_size, steps = _positive_int("batch_size", batch_size), _positive_int("steps", steps)
        if len(self.ids) <= block_size:
            raise ValueError(f"a text of {len(self.ids)} tokens is too short for windows of {block_size}")
        self.block_size, self.batch_size, self.steps = block_size, batch_size, steps
        self.rng = make_rng(seed)

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        starts = self.rng.integers(0, len(self.ids) - self.block_size, size=self.batch_size)
        window = starts[:, None] + np.arange(self.block_size)[None, :]
        return self.ids[window], self.ids[window + 1]


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def as_token_ids(ids, vocab_size=None, name="ids"):
    """``ids`` as a 1-D or 2-D int32 NumPy array, after checking they are token ids.

    Raises ``ValueError`` for non-integer values and for ids < 0 or (when
    ``vocab_size`` is given) >= ``vocab_size``: an embedding would read a wrong row
    for them (a negative id wraps to the last row; under XLA a too-large id is
    clamped), and a loss on such a target is NaN, with no error from the backend.
    """
    array = np.asarray(keras.ops.convert_to_numpy(ids) if keras.ops.is_tensor(ids) else ids)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be integer token ids, got {array.dtype} values")
    if array.size:
        low, high = int(array.min()), int(array.max())
        if low < 0 or (vocab_size is not None and high >= vocab_size):
            allowed = f"0..{vocab_size - 1}" if vocab_size is not None else ">= 0"
            raise ValueError(f"{name} must be token ids in {allowed}, got values in [{low}, {high}]"
                             + ("; was the text encoded with this model's tokenizer?" if vocab_size else ""))
    return array.astype(np.int32)


def check_token_data(x, y, vocab_size):
    """Check the ``fit``/``evaluate`` inputs of a language model against its vocabulary.

    Arrays and tensors (``x`` ids and ``y`` targets) and a :class:`WindowDataset` are
    checked with :func:`as_token_ids`; other datasets (``tf.data``, generators, other
    ``PyDataset`` classes) are passed through unchecked. Returns ``(x, y)``, arrays
    converted to int32 NumPy.
    """
    if isinstance(x, WindowDataset):
        as_token_ids(x.ids, vocab_size, "the WindowDataset's ids")
        return x, y
    def is_array(value):
        return isinstance(value, (np.ndarray, list, tuple)) or keras.ops.is_tensor(value) \
            or hasattr(value, "__array__")

    if is_array(x):
        x = as_token_ids(x, vocab_size, "the input ids x")
    if y is not None and is_array(y):
        y = as_token_ids(y, vocab_size, "the targets y")
    return x, y


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


def preset_config(presets, name, vocab_size=None, tokenizer=None, overrides=None):
    """The constructor arguments of a character model's named preset (chapters 04, 05).

    ``presets[name]`` updated with ``overrides``, plus ``vocab_size`` (taken from the
    tokenizer when not given) and ``tokenizer``.
    """
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(presets)}")
    if vocab_size is None:
        if tokenizer is None:
            raise ValueError("give vocab_size or a tokenizer")
        vocab_size = tokenizer.vocab_size
    return {**presets[name], **(overrides or {}), "vocab_size": vocab_size, "tokenizer": tokenizer}
