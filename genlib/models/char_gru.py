"""A character-level GRU language model (chapter 04, "Training the GRU on Shakespeare").

The model learns the autoregressive factorisation (chapter 04, "The chain rule of
probability")

    p(x_1, ..., x_T) = prod_t p(x_t | x_<t)

with one recurrent state h_t that summarises the prefix x_<=t:

    e_t = E[x_t]                              embedding, (batch, embedding_dim)
    h_t = GRU(e_t, h_{t-1})                   per layer, (batch, units); the gate
                                              equations: chapter 04, "Recurrent
                                              networks and the GRU"
    l_t = W h_t + b                           logits of p(x_{t+1} | x_<=t), (batch, vocab)

Training is next-character classification at every position of a window (inputs
``x[i:i+T]``, targets ``x[i+1:i+T+1]``, see ``genlib.windows``) with the cross-entropy
``-log softmax(l_t)[x_{t+1}]``, in nats. Generation reads the prompt once and then
takes ONE recurrent step per new character, carrying h from step to step; re-reading
the whole prefix each step gives the same distribution at quadratic cost, and
resetting h between steps (a bug some tutorials shipped) gives a different, wrong one.

    model = CharGRU.from_preset("small", tokenizer=tok)
    model.compile(optimizer=keras.optimizers.Adam(2e-3, clipnorm=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(WindowDataset(train_ids, 100, 64, steps=500))
    model.generate_text("ROMEO:", 200, temperature=0.8, seed=0)
"""

import keras
from keras import ops

from genlib.models.causal_lm import CausalLM
from genlib.sampling import sample_op

# Named sizes, as minGPT has. "tutorial" is the model of the TensorFlow text
# generation tutorial (Embedding 256 -> GRU 1024), the benchmark's reference.
PRESETS = {
    "tiny": dict(embedding_dim=16, units=64, num_layers=1),
    "small": dict(embedding_dim=64, units=256, num_layers=1),
    "medium": dict(embedding_dim=64, units=512, num_layers=1),
    "tutorial": dict(embedding_dim=256, units=1024, num_layers=1),
}


@keras.saving.register_keras_serializable(package="genlib")
class CharGRU(CausalLM):
    """Embedding -> ``num_layers`` GRU layers -> Dense logits.

    ``call(ids)``: int ids (batch, T) -> logits (batch, T, vocab_size), where
    ``logits[:, t]`` scores the token that follows ``ids[:, t]``.
    ``call(ids, states=..., return_states=True)`` also takes and returns the list of
    per-layer states, each (batch, units). ``generate`` runs :meth:`step` in a compiled loop.

    ``tokenizer``: an optional ``genlib.tokenizer.CharTokenizer``; it is saved with the
    model (in its config), so a loaded ``.keras`` file can read and write text.
    What both language models share (checks, presets, ``fit``, ``generate``,
    ``generate_text``, ``evaluate_nats``) is ``genlib.models.causal_lm.CausalLM``.
    """

    PRESETS = PRESETS

    def __init__(self, vocab_size, embedding_dim=64, units=256, num_layers=1, dropout=0.0,
                 tokenizer=None, **kwargs):
        super().__init__(vocab_size, dict(embedding_dim=embedding_dim, units=units, num_layers=num_layers),
                         dropout, tokenizer, **kwargs)
        self.embedding_dim, self.units, self.num_layers = int(embedding_dim), int(units), int(num_layers)
        self.embedding = keras.layers.Embedding(self.vocab_size, self.embedding_dim, name="embedding")
        # reset_after=True (Keras' default) applies the reset gate after the recurrent
        # matrix product: chapter 04, "Recurrent networks and the GRU".
        self.grus = [keras.layers.GRU(self.units, return_sequences=True, return_state=True,
                                      name=f"gru_{i}") for i in range(self.num_layers)]
        self.drop = keras.layers.Dropout(self.dropout) if self.dropout else None
        self.head = keras.layers.Dense(self.vocab_size, name="logits")
        # every weight exists from the start, as in MiniGPT: a fresh model can be
        # restored by genlib.training.resumable, saved or counted before any call
        self.build((None, None))

    def build(self, input_shape=(None, None)):
        if self.built:  # built in __init__; a later model.build(shape) has nothing to add
            return
        batch, steps = tuple(input_shape)[:2]
        self.embedding.build((batch, steps))
        shape = (batch, steps, self.embedding_dim)
        for gru in self.grus:
            gru.build(shape)
            shape = (batch, steps, self.units)
        self.head.build(shape)
        self.built = True

    def call(self, ids, states=None, return_states=False, training=False):
        if states is not None and len(states) != self.num_layers:
            raise ValueError(f"expected {self.num_layers} states (one per layer), got {len(states)}")
        h = self.embedding(ids)
        new_states = []
        for i, gru in enumerate(self.grus):
            if self.drop is not None and i > 0:
                h = self.drop(h, training=training)
            h, state = gru(h, initial_state=None if states is None else states[i], training=training)
            new_states.append(state)
        if self.drop is not None:
            h = self.drop(h, training=training)
        logits = self.head(h)
        return (logits, new_states) if return_states else logits

    def step(self, token_ids, states):
        """One recurrent step: token ids (batch,) and the per-layer states -> (logits, states).

        ``logits``: (batch, vocab_size), the scores of the token after ``token_ids``.
        It runs each layer's ``GRUCell`` once (the same weights the GRU layers use);
        calling the model on a length-1 sequence gives the same result but pays the
        sequence loop's set-up cost at every step.
        """
        h = self.embedding(token_ids)
        new_states = []
        for gru, state in zip(self.grus, states):
            h, _ = gru.cell(h, state, training=False)
            new_states.append(h)
        return self.head(h), new_states

    def initial_states(self, batch_size):
        """The all-zero state each layer starts from: a list of (batch_size, units)."""
        return [keras.ops.zeros((batch_size, self.units)) for _ in range(self.num_layers)]

    def generate_step(self, tokens, prompt_length, length, uniforms, settings):
        """Generation with a carried state (chapter 04, "Carrying the state: one step per
        character"): fills ``tokens[:, prompt_length:length]``, tokens (B, L) int32.

        One recurrent step per position, carrying h_t: inside the prompt the next token
        is the prompt's own, after it the one ``sample_op`` draws with ``uniforms[t]``.
        ``CausalLM.generate`` lays out the arguments and compiles this loop.
        """
        def body(t, carry):
            tokens, states = carry
            logits, states = self.step(tokens[:, t], states)
            sampled = sample_op(logits, uniforms[t], settings, previous=tokens[:, t])
            token = ops.where(t + 1 < prompt_length, tokens[:, t + 1], sampled)
            return ops.slice_update(tokens, (0, t + 1), token[:, None]), states

        states = self.initial_states(ops.shape(tokens)[0])
        return ops.fori_loop(0, length - 1, body, (tokens, states))[0]

    def _eval_block_size(self, block_size):
        # the GRU reads any length; each window starts from the zero state
        return 256 if block_size is None else block_size

    def get_config(self):
        config = super().get_config()
        config.update(embedding_dim=self.embedding_dim, units=self.units, num_layers=self.num_layers)
        return config

