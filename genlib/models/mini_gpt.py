"""A GPT-2-style character language model (chapter 05, "The mini-GPT").

Like the GRU of chapter 04 it learns p(x_1..x_T) = prod_t p(x_t | x_<t), but it reads
the prefix with masked self-attention over a window of ``block_size`` tokens instead of
carrying a recurrent state. One forward pass, for ids (B, T):

    h = wte[ids] + wpe[0..T-1]                     token + learned position embeddings
    for each of n_layer blocks (pre-LayerNorm, residual):
        h = h + Attn(LN1(h))                       causal multi-head self-attention
        h = h + W2 gelu(W1 LN2(h))                 MLP, hidden size 4 * n_embd
    logits = LN_f(h) @ wte^T                       output projection tied to wte

    Attn(x) = concat_i softmax(Q_i K_i^T / sqrt(d) + M) V_i  @ W_O,
    Q, K, V = x W_Q, x W_K, x W_V,  d = n_embd / n_head,
    M[t, s] = 0 if s <= t else -inf                (the causal mask)

Weights start as in GPT-2: N(0, 0.02) everywhere, except the two projections that write
into the residual stream (W_O and W2), N(0, 0.02 / sqrt(2 * n_layer)), so that the
variance of h does not grow with depth; biases zero, LayerNorm scales one.

Generation keeps a key/value cache: the keys and values of every position seen so far,
per layer, so each new token costs one position of attention instead of a re-run of the
whole prefix (chapter 05, "The KV cache"). Training shares its windows (``genlib.windows``) and
its sampler (``genlib.sampling``) with chapter 04's GRU.

    model = MiniGPT.from_preset("baby", tokenizer=tok)
    compile_for_training(model, max_steps=2000)
    model.fit(WindowDataset(train_ids, model.block_size, 12, steps=2000))
    model.generate_text("ROMEO:", 200, temperature=0.8, seed=0)
"""

import math

import keras
import numpy as np

from keras import ops

from genlib.models.causal_lm import CausalLM
from genlib.sampling import sample_op

# Named configurations, as minGPT has. "baby" is the small character-level GPT that
# nanoGPT suggests for a laptop CPU, and the benchmark's configuration.
PRESETS = {
    "tiny": dict(block_size=32, n_layer=2, n_head=2, n_embd=32),
    "baby": dict(block_size=64, n_layer=4, n_head=4, n_embd=128),
    "small": dict(block_size=128, n_layer=4, n_head=4, n_embd=192),
    "shakespeare_char": dict(block_size=256, n_layer=6, n_head=6, n_embd=384, dropout=0.2),
}


def _normal(std):
    return keras.initializers.RandomNormal(mean=0.0, stddev=std)


class _GPTLayer(keras.layers.Layer):
    """The sizes a GPT layer is built from, stored and serialised in one place."""

    def __init__(self, n_embd, n_head, n_layer=1, bias=False, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if n_embd % n_head:
            raise ValueError(f"n_embd={n_embd} must be divisible by n_head={n_head}")
        self.n_embd, self.n_head, self.n_layer = n_embd, n_head, n_layer
        self.bias, self.dropout = bias, dropout

    def get_config(self):
        config = super().get_config()
        config.update(n_embd=self.n_embd, n_head=self.n_head, n_layer=self.n_layer, bias=self.bias,
                      dropout=self.dropout)
        return config


@keras.saving.register_keras_serializable(package="genlib")
class CausalSelfAttention(_GPTLayer):
    """Multi-head self-attention with a causal mask, and a key/value cache for generation.

    ``call(x)``: x (B, T, C) -> (B, T, C); position t attends to positions <= t.

    ``call_with_cache(x, k_cache, v_cache, index)`` is the cached form (chapter 05, "The
    KV cache"): x (B, T, C) holds the tokens at positions ``index .. index + T - 1``
    (``index`` an int32 scalar); ``k_cache, v_cache`` (B, S, H, D) hold the keys and
    values of up to S = ``block_size`` positions. The new keys and values are written
    into the caches at ``index`` (``keras.ops.slice_update``), each query attends to the
    cached positions up to its own, and the layer returns ``(y, k_cache', v_cache')``.

    Dropout is nanoGPT's: on the attention weights (``attn_drop``, after the softmax)
    and on the output projection (``resid_drop``), both only when training with
    ``dropout > 0``. The fused ``keras.ops.dot_product_attention`` has no dropout, so
    that case spells the softmax out; every other call uses the fused kernel.
    Chapter 05, "Scaled dot-product attention" and "The KV cache".
    """

    def __init__(self, n_embd, n_head, n_layer=1, bias=False, dropout=0.0, **kwargs):
        super().__init__(n_embd, n_head, n_layer, bias, dropout, **kwargs)
        self.head_dim = n_embd // n_head
        # one matrix makes Q, K and V together: one large matmul instead of three
        self.c_attn = keras.layers.Dense(3 * n_embd, use_bias=bias, kernel_initializer=_normal(0.02),
                                         name="c_attn")
        self.c_proj = keras.layers.Dense(n_embd, use_bias=bias,
                                         kernel_initializer=_normal(0.02 / math.sqrt(2 * n_layer)),
                                         name="c_proj")
        self.attn_drop = keras.layers.Dropout(dropout)
        self.resid_drop = keras.layers.Dropout(dropout)

    def build(self, input_shape):
        self.c_attn.build(input_shape)
        self.c_proj.build(input_shape)
        self.built = True

    def _qkv(self, x):
        """x (B, T, C) -> q, k, v, each (B, T, H, D)."""
        batch, steps = keras.ops.shape(x)[0], keras.ops.shape(x)[1]
        qkv = keras.ops.reshape(self.c_attn(x), (batch, steps, 3, self.n_head, self.head_dim))
        return qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]

    def _out(self, y, training):
        """Heads (B, T, H, D) -> concatenated and projected, (B, T, C)."""
        batch, steps = keras.ops.shape(y)[0], keras.ops.shape(y)[1]
        return self.resid_drop(self.c_proj(keras.ops.reshape(y, (batch, steps, self.n_embd))), training=training)

    def call(self, x, training=False):
        q, k, v = self._qkv(x)
        if training and self.dropout > 0:
            # softmax(Q K^T / sqrt(d) + M), dropped out, times V; heads on axis 1
            q, k, v = (keras.ops.transpose(t, (0, 2, 1, 3)) for t in (q, k, v))
            scores = keras.ops.matmul(q, keras.ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(self.head_dim)
            steps = keras.ops.shape(x)[1]
            causal = keras.ops.tril(keras.ops.ones((steps, steps), dtype="bool"))
            scores = keras.ops.where(causal, scores, keras.ops.full_like(scores, -1e9))
            # the softmax in float32 under a bfloat16 policy (as dot_product_attention does)
            probs = keras.ops.cast(keras.ops.softmax(keras.ops.cast(scores, "float32"), axis=-1), v.dtype)
            weights = self.attn_drop(probs, training=training)
            y = keras.ops.transpose(keras.ops.matmul(weights, v), (0, 2, 1, 3))
        else:
            y = keras.ops.dot_product_attention(q, k, v, is_causal=True)
        return self._out(y, training)

    def call_with_cache(self, x, k_cache, v_cache, index):
        q, k, v = self._qkv(x)
        start = [0, index, 0, 0]
        k_cache = keras.ops.slice_update(k_cache, start, keras.ops.cast(k, k_cache.dtype))
        v_cache = keras.ops.slice_update(v_cache, start, keras.ops.cast(v, v_cache.dtype))
        # the query at position index + t sees the slots 0 .. index + t: (1, 1, T, S)
        positions = index + keras.ops.arange(keras.ops.shape(x)[1], dtype="int32")
        slots = keras.ops.arange(keras.ops.shape(k_cache)[1], dtype="int32")
        mask = (slots[None, :] <= positions[:, None])[None, None]
        y = keras.ops.dot_product_attention(q, keras.ops.cast(k_cache, q.dtype), keras.ops.cast(v_cache, q.dtype),
                                            mask=mask)
        return self._out(y, False), k_cache, v_cache


@keras.saving.register_keras_serializable(package="genlib")
class Block(_GPTLayer):
    """One transformer block: ``h + Attn(LN(h))``, then ``h + MLP(LN(h))``; (B, T, C) -> (B, T, C).

    ``call_with_cache(h, k_cache, v_cache, index)`` is the same block over cached
    attention (:meth:`CausalSelfAttention.call_with_cache`); returns ``(h, k_cache',
    v_cache')``.
    """

    def __init__(self, n_embd, n_head, n_layer=1, bias=False, dropout=0.0, **kwargs):
        super().__init__(n_embd, n_head, n_layer, bias, dropout, **kwargs)
        self.ln_1 = keras.layers.LayerNormalization(epsilon=1e-5, center=bias, name="ln_1")
        self.attn = CausalSelfAttention(n_embd, n_head, n_layer, bias, dropout, name="attn")
        self.ln_2 = keras.layers.LayerNormalization(epsilon=1e-5, center=bias, name="ln_2")
        self.c_fc = keras.layers.Dense(4 * n_embd, use_bias=bias, kernel_initializer=_normal(0.02), name="c_fc")
        self.mlp_proj = keras.layers.Dense(n_embd, use_bias=bias,
                                           kernel_initializer=_normal(0.02 / math.sqrt(2 * n_layer)),
                                           name="mlp_proj")
        self.mlp_drop = keras.layers.Dropout(dropout)

    def build(self, input_shape):
        for layer in (self.ln_1, self.attn, self.ln_2, self.c_fc):
            layer.build(input_shape)
        self.mlp_proj.build(tuple(input_shape[:-1]) + (4 * self.n_embd,))
        self.built = True

    def mlp(self, x, training=False):
        """W2 gelu(W1 x), with dropout: (B, T, C) -> (B, T, C)."""
        # GPT-2's tanh approximation of GELU
        return self.mlp_drop(self.mlp_proj(keras.ops.gelu(self.c_fc(x), approximate=True)), training=training)

    def call(self, h, training=False):
        h = h + self.attn(self.ln_1(h), training=training)
        return h + self.mlp(self.ln_2(h), training=training)

    def call_with_cache(self, h, k_cache, v_cache, index):
        a, k_cache, v_cache = self.attn.call_with_cache(self.ln_1(h), k_cache, v_cache, index)
        h = h + a
        return h + self.mlp(self.ln_2(h)), k_cache, v_cache


@keras.saving.register_keras_serializable(package="genlib")
class MiniGPT(CausalLM):
    """A GPT-2-style decoder: ``MiniGPT(vocab_size, block_size, n_layer, n_head, n_embd)``.

    ``call(ids)``: int ids (B, T), T <= block_size -> logits (B, T, vocab_size), where
    ``logits[:, t]`` scores the token after ``ids[:, t]``, from ``ids[:, :t+1]`` only.

    ``call_with_cache(ids, cache, index)`` is the cached step generation uses
    (keras-hub's ``GPT2CausalLM`` has the same): ids (B, T) at positions ``index ..
    index + T - 1`` (``index`` an int32 scalar), ``cache`` (n_layer, 2, B, block_size,
    n_head, head_dim) the keys and values of earlier positions (:meth:`empty_cache`);
    returns ``(logits (B, T, V), updated cache)``. Everything is ``keras.ops``, so the
    model trains and generates on TensorFlow, JAX and PyTorch.

    Under ``keras.config.set_dtype_policy("mixed_bfloat16")`` (set before building) the
    weights stay float32, the blocks compute in bfloat16, and the final LayerNorm and
    the logits are float32 (chapter 05, "The training recipe"; ``bench/gpt.py
    --dtype-policy`` measures it).

    ``tokenizer``: an optional ``genlib.tokenizer.CharTokenizer``, saved in the config.
    What both language models share (checks, presets, ``fit``, ``generate``,
    ``generate_text``, ``evaluate_nats``) is ``genlib.models.causal_lm.CausalLM``.
    """

    PRESETS = PRESETS

    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd, dropout=0.0, bias=False,
                 tokenizer=None, **kwargs):
        super().__init__(vocab_size, dict(block_size=block_size, n_layer=n_layer, n_head=n_head, n_embd=n_embd),
                         dropout, tokenizer, **kwargs)
        self.block_size, self.n_layer = int(block_size), int(n_layer)
        self.n_head, self.n_embd, self.bias = int(n_head), int(n_embd), bool(bias)
        self.head_dim = self.n_embd // self.n_head
        self.wte = keras.layers.Embedding(self.vocab_size, self.n_embd, embeddings_initializer=_normal(0.02),
                                          name="wte")
        self.wpe = keras.layers.Embedding(self.block_size, self.n_embd, embeddings_initializer=_normal(0.02),
                                          name="wpe")
        self.drop = keras.layers.Dropout(self.dropout)
        self.blocks = [Block(self.n_embd, self.n_head, self.n_layer, self.bias, self.dropout, name=f"h_{i}")
                       for i in range(self.n_layer)]
        # under a mixed policy (e.g. "mixed_bfloat16": float32 weights, bfloat16 compute)
        # the final LayerNorm and the tied head run in the weights' dtype, so that the
        # logits, the softmax over the vocabulary and the loss are float32 (chapter 05,
        # "The training recipe")
        self.ln_f = keras.layers.LayerNormalization(epsilon=1e-5, center=self.bias, name="ln_f",
                                                    dtype=self.dtype_policy.variable_dtype)
        # every weight exists from the start (as in nanoGPT), whatever the first input is
        self.build((None, self.block_size))

    def build(self, input_shape=None):
        self.wte.build((None, None))
        self.wpe.build((None, None))
        shape = (None, None, self.n_embd)
        for block in self.blocks:
            block.build(shape)
        self.ln_f.build(shape)
        self.built = True

    def call(self, inputs, training=False):
        steps = keras.ops.shape(inputs)[1]
        if isinstance(steps, int) and steps > self.block_size:
            raise ValueError(f"the input has {steps} positions but block_size={self.block_size}; "
                             "feed at most the last block_size tokens")
        return self.head(self.hidden_states(inputs, training=training))

    def hidden_states(self, ids, training=False):
        """The final, normalised hidden states ``LN_f(h)``: ids (B, T) -> (B, T, n_embd).

        ``call`` turns them into logits with :meth:`head`; chapter 06 ("Features from a
        pre-trained model") pools them into features for a classifier.
        """
        steps = keras.ops.shape(ids)[1]
        h = self.drop(self.wte(ids) + self.wpe(keras.ops.arange(steps)), training=training)
        for block in self.blocks:
            h = block(h, training=training)
        return self.ln_f(h)

    def head(self, hidden):
        """Logits from final hidden states: (B, T, n_embd) -> (B, T, vocab_size).

        The output projection is tied to the token embedding: the score of token j is
        <LN_f(h), wte[j]>.
        """
        # in the weights' dtype (float32 under "mixed_bfloat16"; inside the model's call
        # Keras hands out wte already rounded to the compute dtype, cast back here)
        dtype = self.dtype_policy.variable_dtype
        embeddings = keras.ops.cast(self.wte.embeddings, dtype)
        return keras.ops.matmul(keras.ops.cast(hidden, dtype), keras.ops.transpose(embeddings))

    def call_with_cache(self, ids, cache, index):
        """One cached forward pass (chapter 05, "The KV cache"): see the class docstring."""
        index = keras.ops.cast(index, "int32")
        positions = index + keras.ops.arange(keras.ops.shape(ids)[1], dtype="int32")
        h = self.wte(ids) + self.wpe(positions)[None]
        layers = []
        for i, block in enumerate(self.blocks):
            h, k, v = block.call_with_cache(h, cache[i, 0], cache[i, 1], index)
            layers.append(keras.ops.stack([k, v]))
        return self.head(self.ln_f(h)), keras.ops.stack(layers)

    def empty_cache(self, batch_size):
        """A zero key/value cache, (n_layer, 2, batch_size, block_size, n_head, head_dim) float32."""
        return np.zeros((self.n_layer, 2, batch_size, self.block_size, self.n_head, self.head_dim), "float32")

    # --- generation (chapter 05, "Sampling from the mini-GPT" and "The KV cache") ------

    def _generation_window(self):
        return self.block_size

    def _window(self, tokens, start):
        """``tokens[:, start:start + block_size]``, start an int32 scalar: (B, block_size)."""
        return ops.slice(tokens, (0, start), (ops.shape(tokens)[0], self.block_size))

    def _prefill(self, tokens, start, n):
        """Read ``tokens[:, start:start + n]`` into a fresh cache: (logits after it (B, V), cache).

        The window is always ``block_size`` wide (one compiled shape): the model is
        causal, so the tokens after the first n change neither the logits at n - 1 nor
        the cache slots < n, and the slots >= n are written again before they are read.
        """
        cache = ops.zeros((self.n_layer, 2, ops.shape(tokens)[0], self.block_size, self.n_head, self.head_dim))
        logits, cache = self.call_with_cache(self._window(tokens, start), cache, 0)
        return ops.take(logits, n - 1, axis=1), cache, n

    def generate_step(self, tokens, prompt_length, length, uniforms, settings, use_cache=True):
        """Generation over a window of ``block_size`` tokens (chapter 05, "Sampling from the
        mini-GPT" and "The KV cache"): fills ``tokens[:, prompt_length:length]``.

        ``CausalLM.generate`` lays out the arguments and compiles this loop, one trace
        for every prompt length and ``max_new_tokens`` (pass ``use_cache`` to
        ``generate``). The model sees at most the last ``block_size`` tokens (a longer
        prompt is cropped, with a warning from ``generate``).

        ``use_cache=False`` re-reads the last ``block_size`` tokens for every new token.
        ``use_cache=True`` reads the prompt once into the key/value cache, then runs one
        position per token (``call_with_cache``). Both give the same tokens while the
        text fits in the window (prompt + new tokens <= block_size). Past that, the
        learned positions run out: the cache then restarts from the last
        ``block_size // 2`` tokens and fills up again, so the context there is between
        half a window and a window long, where ``use_cache=False`` always sees a full
        window.
        """
        size, half = self.block_size, max(self.block_size // 2, 1)
        first = prompt_length - 1                       # the position of the last prompt token

        def cached(t, carry):
            tokens, logits, cache, filled = carry       # filled: positions in the cache
            token = sample_op(logits, uniforms[t], settings, previous=tokens[:, t])
            tokens = ops.slice_update(tokens, (0, t + 1), token[:, None])
            # no position left for the new token: restart from the last half window
            logits, cache, filled = ops.cond(
                filled == size,
                lambda: self._prefill(tokens, t + 2 - half, ops.cast(half, "int32")),
                lambda: self._step(token, cache, filled))
            return tokens, logits, cache, filled

        def uncached(t, tokens):
            start = ops.maximum(t + 1 - size, 0)
            logits = ops.take(self(self._window(tokens, start)), t - start, axis=1)
            token = sample_op(logits, uniforms[t], settings, previous=tokens[:, t])
            return ops.slice_update(tokens, (0, t + 1), token[:, None])

        if not use_cache:
            return ops.fori_loop(first, length - 1, uncached, tokens)
        start = ops.maximum(prompt_length - size, 0)
        logits, cache, filled = self._prefill(tokens, start, prompt_length - start)
        return ops.fori_loop(first, length - 1, cached, (tokens, logits, cache, filled))[0]

    def _step(self, token, cache, filled):
        """One cached position: token ids (B,) at position ``filled`` -> (logits (B, V), cache, filled + 1)."""
        logits, cache = self.call_with_cache(token[:, None], cache, filled)
        return logits[:, 0], cache, filled + 1

    def _eval_block_size(self, block_size):
        if block_size is not None and not 1 <= block_size <= self.block_size:
            raise ValueError(f"block_size must be in 1..{self.block_size} (the model's window), got {block_size}")
        return self.block_size if block_size is None else block_size

    # --- saving the training recipe -------------------------------------------------

    def _no_decay_variables(self):
        """The weights the GPT recipe leaves out of weight decay: LayerNorm scales, biases."""
        return [v for v in self.trainable_variables if len(v.shape) < 2]

    def get_compile_config(self):
        config = super().get_compile_config()
        optimizer = getattr(self, "optimizer", None)
        excluded = getattr(optimizer, "_exclude_from_weight_decay", None)
        if config is not None and excluded:
            wanted = {optimizer._var_key(v) for v in self._no_decay_variables()}
            # Keras saves the optimizer's settings but not which variables it exempts
            # from weight decay: remember the recipe's exemption, re-applied on loading
            if wanted and wanted <= excluded:
                config = {**config, "genlib_no_decay": "non_matrices"}
        return config

    def compile_from_config(self, config):
        config = dict(config)
        no_decay = config.pop("genlib_no_decay", None)
        super().compile_from_config(config)
        if no_decay == "non_matrices":
            self.optimizer.exclude_from_weight_decay(var_list=self._no_decay_variables())

    def get_config(self):
        config = super().get_config()
        config.update(block_size=self.block_size, n_layer=self.n_layer, n_head=self.n_head, n_embd=self.n_embd,
                      bias=self.bias)
        return config


def compile_for_training(model, max_steps, learning_rate=1e-3, min_learning_rate=1e-4, warmup_steps=100,
                         weight_decay=0.1, beta_2=0.99, clipnorm=1.0, **compile_kwargs):
    """Compile ``model`` with the course's GPT recipe (chapter 05, "The training recipe").

    AdamW (beta_1 0.9, ``beta_2``), weight decay on matrices only (embeddings and
    kernels; not LayerNorm scales or biases), global-norm gradient clipping, and a
    learning rate that rises linearly from 0 over ``warmup_steps`` and then follows a
    cosine to ``min_learning_rate`` at ``max_steps``. Loss: cross-entropy on logits, in
    nats. The train step is compiled with XLA on TensorFlow and JAX (on a 2-core CPU it
    trains the "baby" preset 1.6x faster than TensorFlow without XLA, ``bench/gpt.py``;
    Keras turns XLA on by default only on accelerators). Extra keyword arguments go to
    ``model.compile`` (e.g. ``jit_compile=False``, ``steps_per_execution``). Returns the
    schedule, so that it can be plotted.
    """
    if max_steps <= warmup_steps:
        raise ValueError(f"max_steps={max_steps} must exceed warmup_steps={warmup_steps}")
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max_steps - warmup_steps, alpha=min_learning_rate / learning_rate,
        warmup_target=learning_rate, warmup_steps=warmup_steps)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=weight_decay, beta_1=0.9, beta_2=beta_2,
                                       global_clipnorm=clipnorm)
    # kept through .keras save/load: MiniGPT.get_compile_config records it
    optimizer.exclude_from_weight_decay(var_list=model._no_decay_variables())
    # PyTorch's jit_compile=True means torch.compile, slower to start than it pays back here
    compile_kwargs.setdefault("jit_compile", "auto" if keras.backend.backend() == "torch" else True)
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  **compile_kwargs)
    return schedule
