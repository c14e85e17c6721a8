"""Characters to integers and back: the course's character tokenizer (chapter 00,
"Shakespeare"; chapter 04, "Data: Shakespeare as characters").

``CharTokenizer`` gives each distinct character an integer id; the character language
models of chapters 04 to 09 read and write text through it, and save it in their
config. ``UnknownCharacterError`` names the characters it was not fitted on.
"""

import keras
import numpy as np


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
