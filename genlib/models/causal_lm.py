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
    generate_step(tokens, prompt_length, length, uniforms, settings, **options) -> tokens
                                             the generation loop, in keras.ops
    _eval_block_size(block_size) -> int      the window ``evaluate_nats`` reads

``generate`` checks the arguments and lays them out in fixed shapes: ``tokens`` (B, L)
int32 holds the prompt in its first ``prompt_length`` columns, ``uniforms`` (L, B) holds
in row t the uniform that draws token t + 1, and ``settings`` are the sampler's
(``genlib.sampling.sampler_settings``). ``generate_step`` fills columns
``prompt_length .. length - 1`` with ``genlib.sampling.sample_op`` and returns the
buffer. ``generate`` compiles it once per model (``genlib.backend.inference_function``:
XLA on TensorFlow, ``jax.jit`` on JAX, eager on PyTorch), so a whole generation is one
call into compiled code; L is rounded up to a power of two and the lengths are tensors,
so a new prompt length or ``max_new_tokens`` rarely means a new trace.
"""

import warnings

import keras
import numpy as np

from genlib.backend import inference_function
from genlib.config import rng as make_rng
from genlib.lm_metrics import evaluate_nats
from genlib.sampling import Watermark, check_sampling_args, sampler_settings, sampling_dtype
from genlib.tokenizer import CharTokenizer
from genlib.windows import check_token_data


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


def padded_length(n, minimum=64):
    """The buffer length for ``n`` positions: the next power of two >= max(n, minimum)."""
    return 1 << (max(int(n), minimum) - 1).bit_length()


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
        prompt followed by the new tokens. Sampling (temperature, top-k, top-p) follows
        ``genlib.sampling.sample``'s rules, run inside the compiled loop
        (``genlib.sampling.sample_op``); ``seed`` makes it repeatable and ``seed=None``
        follows ``genlib.seed``. The uniforms are drawn up front, ``rng.random((n, B))``
        with ``rng = genlib.config.rng(seed)``: the numbers a host loop calling
        ``sample(..., rng=rng)`` once per token draws, in the same order, so both pick the
        same tokens. ``watermark``: a ``genlib.sampling.Watermark`` marks the new tokens
        (chapter 09, "Telling generated text from real: a watermark"). ``options`` go to
        the model's ``generate_step`` (MiniGPT's ``use_cache``).
        """
        ids, single = check_generate_args(prompt_ids, max_new_tokens, self.vocab_size, temperature, top_k, top_p,
                                           watermark)
        settings = sampler_settings(self.vocab_size, temperature, top_k, top_p, watermark)
        (batch, prompt_length), n = ids.shape, int(max_new_tokens)
        u = make_rng(seed).random((n, batch))
        if n == 0:
            return ids[0] if single else ids
        window = self._generation_window()
        if window is not None and prompt_length > window:
            warnings.warn(f"the prompt has {prompt_length} tokens; the model reads only the last "
                          f"block_size={window} of them", stacklevel=2)
        length = prompt_length + n
        # generate_step may read a whole window from any position up to the last one
        size = padded_length(length + (window or 0))
        tokens = np.zeros((batch, size), "int32")
        tokens[:, :prompt_length] = ids
        uniforms = np.zeros((size, batch), sampling_dtype())
        uniforms[prompt_length - 1:length - 1] = u       # row t draws token t + 1
        step = self._compiled_generate_step(**options)
        out = step(tokens, np.int32(prompt_length), np.int32(length), uniforms, settings)
        out = keras.ops.convert_to_numpy(out)[:, :length].astype(np.int64)
        return out[0] if single else out

    def _compiled_generate_step(self, **options):
        """``generate_step`` with these options, compiled once and kept on the model."""
        compiled = self.__dict__.setdefault("_generate_fns", {})
        key = tuple(sorted(options.items()))
        if key not in compiled:
            compiled[key] = inference_function(self, lambda *args: self.generate_step(*args, **options))
        return compiled[key]

    def _generation_window(self):
        """The most tokens the model reads at once (MiniGPT's ``block_size``), or None (no limit)."""
        return None

    def generate_step(self, tokens, prompt_length, length, uniforms, settings):
        """The model's generation loop, in ``keras.ops``: fills ``tokens[:, prompt_length:length]``."""
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
