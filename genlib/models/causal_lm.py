"""What the course's character language models share (chapter 04, "Code: genlib.models.CharGRU";
chapter 05, "The mini-GPT").

``CharGRU`` (a recurrent state) and ``MiniGPT`` (attention over a window) learn the same
thing, the next-token distribution p(x_{t+1} | x_<=t), from the same windows of token
ids, and are used the same way: checked sizes and tokenizer, named presets, ``fit``
that refuses out-of-vocabulary ids, ``generate`` with the course's sampler, text in and
out, and the held-out loss in nats. That part lives here once, as keras-hub keeps it in
its ``CausalLM`` base; each model's own file keeps its core (the recurrence or the
attention) and its generation loop, ``generate_step``.

A subclass sets ``PRESETS`` and implements

    call(ids) -> logits                      ids (B, T) -> (B, T, vocab_size)
    generate_step(ids, max_new_tokens, next_token, **options) -> ids
                                             ids (B, T) -> (B, T + max_new_tokens)
    _eval_block_size(block_size) -> int      the window ``evaluate_nats`` reads

``next_token(logits, previous)`` is the sampler ``generate`` hands to ``generate_step``:
logits (B, V) and the previous tokens (B,) -> new tokens (B,), int64.
"""

import keras

from genlib.config import rng as make_rng
from genlib.sampling import check_generate_args, sample
from genlib.lm_metrics import evaluate_nats
from genlib.tokenizer import CharTokenizer
from genlib.windows import check_token_data


class CausalLM(keras.Model):
    """Base of ``CharGRU`` and ``MiniGPT``: a model of p(x_{t+1} | x_<=t) over ``vocab_size`` tokens.

    ``sizes``: the subclass's integer sizes by name (``units``, ``n_layer`` ...), each
    checked to be an integer >= 1 like ``vocab_size``. ``dropout`` in [0, 1).
    ``tokenizer``: an optional ``genlib.tokenizer.CharTokenizer`` (or its config dict), saved
    in the model's config so a loaded ``.keras`` file can read and write text.
    """

    PRESETS = {}

    def __init__(self, vocab_size, sizes=None, dropout=0.0, tokenizer=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(tokenizer, dict):
            tokenizer = CharTokenizer.from_config(tokenizer)
        for name, value in {"vocab_size": vocab_size, **(sizes or {})}.items():
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if tokenizer is not None and tokenizer.vocab_size != vocab_size:
            raise ValueError(f"the tokenizer has {tokenizer.vocab_size} characters but vocab_size={vocab_size}")
        self.vocab_size, self.dropout, self.tokenizer = int(vocab_size), float(dropout), tokenizer

    @classmethod
    def from_preset(cls, name, vocab_size=None, tokenizer=None, **overrides):
        """``Model.from_preset("small", tokenizer=tok)``; sizes from the class's ``PRESETS``.

        The preset's sizes, updated with ``overrides``; ``vocab_size`` is taken from the
        tokenizer when not given.
        """
        if name not in cls.PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(cls.PRESETS)}")
        if vocab_size is None:
            if tokenizer is None:
                raise ValueError("give vocab_size or a tokenizer")
            vocab_size = tokenizer.vocab_size
        return cls(**{**cls.PRESETS[name], **overrides, "vocab_size": vocab_size, "tokenizer": tokenizer})

    def fit(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.fit``, after checking token ids against the vocabulary.

        Arrays, tensors and a ``genlib.windows.WindowDataset`` are checked
        (``genlib.windows.check_token_data``): an id outside ``0..vocab_size - 1`` raises
        ``ValueError``, where XLA would clamp it to the last embedding row and train on
        without an error. Other datasets (``tf.data``, generators) are not checked.
        """
        x, y = check_token_data(x, y, self.vocab_size)
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.evaluate``, with the token-id checks of :meth:`fit`."""
        x, y = check_token_data(x, y, self.vocab_size)
        return super().evaluate(x, y, *args, **kwargs)

    def generate(self, prompt_ids, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=None,
                 watermark=None, **options):
        """Continue ``prompt_ids`` by ``max_new_tokens`` sampled tokens.

        ``prompt_ids``: (T,) or (B, T) ints in ``0..vocab_size - 1``, T >= 1. Returns a
        NumPy int64 array of shape (T + max_new_tokens,) or (B, T + max_new_tokens): the
        prompt followed by the new tokens. Sampling (temperature, top-k, top-p) is
        ``genlib.sampling.sample``; ``seed`` makes it repeatable and ``seed=None`` follows
        ``genlib.seed``. ``watermark``: a ``genlib.sampling.Watermark`` marks the new
        tokens (chapter 09, "Telling generated text from real: a watermark").
        ``options`` go to the model's ``generate_step`` (MiniGPT's ``use_cache``).
        """
        ids, single = check_generate_args(prompt_ids, max_new_tokens, self.vocab_size, temperature, top_k, top_p,
                                           watermark)
        rng = make_rng(seed)

        def next_token(logits, previous):
            return sample(keras.ops.convert_to_numpy(logits), temperature, top_k, top_p, rng=rng,
                          watermark=watermark, previous=previous)

        out = self.generate_step(ids, int(max_new_tokens), next_token, **options)
        return out[0] if single else out

    def generate_step(self, ids, max_new_tokens, next_token):
        """The model's generation loop: ids (B, T) int64 -> (B, T + max_new_tokens)."""
        raise NotImplementedError(f"{type(self).__name__} must implement generate_step")

    def generate_text(self, prompt, max_new_tokens, **sampling):
        """``generate`` on text: ``str -> str`` (prompt included); needs the tokenizer."""
        if self.tokenizer is None:
            raise ValueError(f"this {type(self).__name__} has no tokenizer; pass tokenizer= when creating it")
        return self.tokenizer.decode(self.generate(self.tokenizer.encode(prompt), max_new_tokens, **sampling))

    def evaluate_nats(self, ids, block_size=None, batch_size=64):
        """Mean cross-entropy in nats per token of predicting ``ids[1:]``, every token once.

        The text is cut into windows (``genlib.lm_metrics.evaluate_nats``), each read from
        the start; ``block_size`` is the window, by default the model's own (its
        ``_eval_block_size``). Divide by ``ln 2`` for bits per character
        (``genlib.lm_metrics.bits_per_token``; chapter 04, "The chain rule of probability").
        """
        return evaluate_nats(lambda x: self.predict(x, batch_size=batch_size, verbose=0), ids,
                             self._eval_block_size(block_size), batch_size, vocab_size=self.vocab_size)

    def _eval_block_size(self, block_size):
        raise NotImplementedError(f"{type(self).__name__} must implement _eval_block_size")

    def get_config(self):
        config = super().get_config()
        config.update(vocab_size=self.vocab_size, dropout=self.dropout,
                      tokenizer=None if self.tokenizer is None else self.tokenizer.get_config())
        return config
