"""Adapting a pre-trained language model to a labelled task (chapter 06).

GPT-1's recipe (Radford et al., 2018): pre-train a transformer as a language model on
unlabelled text, then fine-tune it on a labelled task with a small head on top,

    L = L_task + lambda * L_LM                    (chapter 06, "The math")

where L_task is the cross-entropy of the labels and L_LM the next-token cross-entropy of
the task's own text, kept as an auxiliary loss. Pieces, in reading order:

    split_plays        hold whole plays out for testing, a share of each genre
    passages           labelled passages (text, genre) cut from plays
    pooled_features    a frozen model's mean hidden state per passage (linear probe)
    GPTClassifier      a MiniGPT backbone + a linear head, with the auxiliary LM loss
    enable_lora        LoRA fine-tuning with Keras' own ``Dense.enable_lora``

Everything is ``keras.ops``; the classifier trains with ``fit`` on TensorFlow, JAX and
PyTorch.
"""

import keras
import numpy as np
from keras import ops

from genlib.data import GENRES


def split_plays(plays, test_fraction=1 / 3, seed=0, test=None):
    """Hold whole plays out: ``(train_plays, test_plays)``.

    ``plays``: :class:`genlib.data.Play` objects. Within each genre, a fraction
    ``test_fraction`` of the plays (at least one) is drawn for testing with ``seed``,
    so every genre is tested and no passage of a test play is ever used for training.
    ``test``: name the test plays by slug instead (an unknown name raises). Chapter 06,
    "A labelled task: the genre of a passage".
    """
    plays = list(plays)
    slugs = [p.slug for p in plays]
    if test is not None:
        unknown = sorted(set(test) - set(slugs))
        if unknown:
            raise ValueError(f"unknown play(s) {unknown}; the plays are: {', '.join(sorted(slugs))}")
        held = set(test)
    else:
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        rng = np.random.default_rng(seed)
        held = set()
        for genre in sorted({p.genre for p in plays}):
            members = sorted(p.slug for p in plays if p.genre == genre)
            if len(members) < 2:
                raise ValueError(f"genre {genre!r} has {len(members)} play(s); need 2 to train and test")
            k = min(max(1, round(test_fraction * len(members))), len(members) - 1)
            held.update(rng.choice(members, size=k, replace=False).tolist())
    return [p for p in plays if p.slug not in held], [p for p in plays if p.slug in held]


def passages(plays, length, n=None, seed=0):
    """Labelled passages of ``length`` characters: ``(texts, labels, play_index)``.

    Each play is cut into non-overlapping passages; ``n`` of them are drawn without
    replacement (uniformly, so long plays give more), or all when ``n`` is None.
    ``labels`` (n,) int64 index :data:`genlib.data.GENRES`; ``play_index`` (n,) says
    which of ``plays`` each passage came from. Raises ``ValueError`` when ``n`` is larger
    than the number of passages the plays hold.
    """
    if int(length) != length or length < 1:
        raise ValueError(f"length must be an integer >= 1, got {length}")
    length = int(length)
    pool = [(i, start) for i, play in enumerate(plays) for start in range(0, len(play.text) - length + 1, length)]
    if n is None:
        chosen = np.arange(len(pool))
    else:
        if int(n) != n or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n}")
        if n > len(pool):
            raise ValueError(f"asked for {n} passages, but these {len(plays)} plays hold only {len(pool)} "
                             f"non-overlapping passages of {length} characters")
        chosen = np.sort(np.random.default_rng(seed).choice(len(pool), size=int(n), replace=False))
    texts = [plays[pool[j][0]].text[pool[j][1]:pool[j][1] + length] for j in chosen]
    labels = np.array([GENRES.index(plays[pool[j][0]].genre) for j in chosen], np.int64)
    return texts, labels, np.array([pool[j][0] for j in chosen], np.int64)


def windows(ids, block_size):
    """Passages (B, P) -> windows (B * P / block_size, block_size), P a multiple of block_size.

    A passage longer than the model's context is read as consecutive windows, each on
    its own; the classifier then averages over all of them.
    """
    batch, length = ops.shape(ids)[0], ops.shape(ids)[1]
    if isinstance(length, int) and length % block_size:
        raise ValueError(f"passages of {length} tokens cannot be cut into windows of block_size={block_size}; "
                         "use a multiple of block_size")
    return ops.reshape(ids, (-1, block_size))


def pooled_features(backbone, ids, batch_size=64):
    """A frozen MiniGPT's final hidden states averaged over a passage: ids (n, P) -> (n, n_embd).

    The features of a linear probe (chapter 06, "Features from a pre-trained model").
    ``P`` is a multiple of ``backbone.block_size`` (see :func:`windows`).
    """
    ids = np.asarray(ids, np.int32)
    if ids.ndim != 2 or len(ids) == 0:
        raise ValueError(f"ids must have shape (n, P) with n >= 1, got {ids.shape}")
    parts = []
    for i in range(0, len(ids), batch_size):
        batch = ids[i:i + batch_size]
        hidden = backbone.hidden_states(windows(batch, backbone.block_size))          # (b * P/T, T, C)
        parts.append(ops.convert_to_numpy(ops.mean(ops.reshape(hidden, (len(batch), -1, backbone.n_embd)), axis=1)))
    return np.concatenate(parts).astype(np.float32)


@keras.saving.register_keras_serializable(package="genlib")
class GPTClassifier(keras.Model):
    """A sequence classifier on a MiniGPT: ``GPTClassifier(backbone, num_classes, lm_weight=0.0)``.

    ``call(ids)``: passages (B, P) -> ``{"class_logits": (B, num_classes), "lm_logits":
    (B * P / T, T, V)}``, with P a multiple of the backbone's ``block_size`` T. The
    passage is read by the backbone window by window (:func:`windows`), its final
    hidden states are averaged over all positions (every position has read its prefix, so the mean uses
    all of them; GPT-1 read the state after a special end token instead) and a dense
    layer scores the classes. Train with ``compile(optimizer)`` and ``fit(ids, labels)``;
    the loss is built in (chapter 06, "The math"):

        L = CE(labels, class_logits) + lm_weight * CE(next characters, lm_logits)

    ``fit`` reports ``loss``, ``class_loss`` and ``lm_loss`` in nats. ``lm_weight = 0``
    is plain fine-tuning; GPT-1 used 0.5.
    """

    def __init__(self, backbone, num_classes, lm_weight=0.0, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        if int(num_classes) != num_classes or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes}")
        if not lm_weight >= 0:
            raise ValueError(f"lm_weight must be >= 0, got {lm_weight}")
        self.backbone, self.num_classes = backbone, int(num_classes)
        self.lm_weight, self.dropout = float(lm_weight), float(dropout)
        self.pool_drop = keras.layers.Dropout(self.dropout)
        self.classifier = keras.layers.Dense(self.num_classes, name="classifier")
        self.classifier.build((None, backbone.n_embd))
        self.class_tracker = keras.metrics.Mean(name="class_loss")
        self.lm_tracker = keras.metrics.Mean(name="lm_loss")
        self.built = True

    def call(self, ids, training=False):
        batch = ops.shape(ids)[0]
        hidden = self.backbone.hidden_states(windows(ids, self.backbone.block_size), training=training)
        per_passage = ops.reshape(hidden, (batch, -1, self.backbone.n_embd))      # (B, P, C)
        pooled = self.pool_drop(ops.mean(per_passage, axis=1), training=training)  # (B, C)
        return {"class_logits": self.classifier(pooled), "lm_logits": self.backbone.head(hidden)}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        class_loss = ops.mean(keras.losses.sparse_categorical_crossentropy(y, y_pred["class_logits"],
                                                                           from_logits=True))
        # the LM term scores each window's next characters, as in pre-training
        targets = windows(x, self.backbone.block_size)[:, 1:]
        lm_loss = ops.mean(keras.losses.sparse_categorical_crossentropy(targets, y_pred["lm_logits"][:, :-1],
                                                                        from_logits=True))
        self.class_tracker.update_state(class_loss)
        self.lm_tracker.update_state(lm_loss)
        return class_loss + self.lm_weight * lm_loss

    def predict_classes(self, ids, batch_size=128):
        """ids (n, T) -> predicted class (n,) int64."""
        ids = np.asarray(ids, np.int32)
        logits = [ops.convert_to_numpy(self(ids[i:i + batch_size])["class_logits"])
                  for i in range(0, len(ids), batch_size)]
        return np.concatenate(logits).argmax(axis=-1).astype(np.int64)

    def get_config(self):
        config = super().get_config()
        config.update(backbone=keras.saving.serialize_keras_object(self.backbone), num_classes=self.num_classes,
                      lm_weight=self.lm_weight, dropout=self.dropout)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


def enable_lora(backbone, rank):
    """Freeze a MiniGPT ``backbone`` except for rank-``rank`` LoRA updates of its dense layers.

    The four dense layers of every transformer block (Q/K/V, attention output, MLP in
    and out) get Keras' own
    ``enable_lora(rank)``: its kernel W is frozen and the layer computes
    ``x (W + A B)`` with trainable A (d_in, r) and B (r, d_out), B starting at zero
    (Hu et al., ICLR 2022). Embeddings and LayerNorms are frozen too. Returns the number
    of trainable parameters left in the backbone (chapter 06, "The math" and "Fine-tuning,
    step by step").
    """
    if int(rank) != rank or rank < 1:
        raise ValueError(f"rank must be an integer >= 1, got {rank}")
    for layer in (backbone.wte, backbone.wpe, backbone.ln_f):
        layer.trainable = False
    for block in backbone.blocks:
        block.ln_1.trainable = block.ln_2.trainable = False
        for dense in (block.attn.c_attn, block.attn.c_proj, block.c_fc, block.mlp_proj):
            dense.enable_lora(int(rank))
    return int(sum(np.prod(v.shape) for v in backbone.trainable_variables))
