"""The training data of a language model: token ids cut into windows (chapter 04,
"Data: Shakespeare as characters"; chapter 05, "Training the mini-GPT on Shakespeare").

The GRU of chapter 04 and the mini-GPT of chapter 05 learn p(x_t | x_<t) on
characters: they read a window ``x[i : i + T]`` and are trained to predict the same
window shifted by one, ``x[i + 1 : i + T + 1]``. Here: ``split`` (a contiguous
train/validation split), ``make_windows`` (every window, in order),
``WindowDataset`` (random windows for ``fit``), and the checks that ids are token ids
(``as_token_ids``, ``check_token_data``).
"""

import numbers

import keras
import numpy as np

from genlib.config import rng as make_rng


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
