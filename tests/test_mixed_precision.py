"""MiniGPT under Keras' "mixed_bfloat16" dtype policy (chapter 05, "The training recipe").

float32 weights and optimizer state, bfloat16 activations and matmuls inside the
blocks, float32 final LayerNorm, logits and loss; the key/value cache stays float32 (keys and
values are written into it in float32 and read back in the compute dtype).
"""

import keras
import numpy as np
import pytest

import genlib
from genlib.models import MiniGPT, compile_for_training


@pytest.fixture
def mixed_bfloat16():
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def tiny(**kwargs):
    genlib.seed(0)
    return MiniGPT(11, block_size=12, n_layer=2, n_head=2, n_embd=16, **kwargs)


def dtype(x):
    return keras.backend.standardize_dtype(x.dtype)


def test_weights_float32_compute_bfloat16_logits_float32(mixed_bfloat16):
    model = tiny()
    assert {v.dtype for v in model.weights} == {"float32"}
    ids = np.random.default_rng(0).integers(0, 11, (2, 9)).astype("int32")
    h = model.wte(ids) + model.wpe(keras.ops.arange(9))
    assert dtype(model.blocks[0](h)) == "bfloat16"                     # the blocks compute in bfloat16
    assert dtype(model.hidden_states(ids)) == "float32"                # LN_f in float32
    logits = model(ids)
    assert dtype(logits) == "float32"
    # the same weights in float32 give the same logits up to bfloat16 rounding (8 bits)
    keras.config.set_dtype_policy("float32")
    reference = tiny()
    reference.set_weights(model.get_weights())
    full = keras.ops.convert_to_numpy(reference(ids))
    low = keras.ops.convert_to_numpy(logits)
    assert np.abs(low - full).max() < 0.05 * np.abs(full).max()
    assert not np.allclose(low, full, atol=1e-6)                       # bfloat16 was really used


def test_kv_cache_stays_float32_and_agrees_with_the_full_pass(mixed_bfloat16):
    model = tiny()
    ids = np.random.default_rng(4).integers(0, 11, (2, 9)).astype("int32")
    full = keras.ops.convert_to_numpy(model(ids))
    cache, logits = model._prefill(ids[:, :4])
    assert dtype(cache) == "float32" and logits.dtype == np.float32
    np.testing.assert_allclose(logits, full[:, 3], atol=0.05)
    for t in range(4, 9):
        cache, logits = model._step(ids[:, t], cache, t)
        assert dtype(cache) == "float32"
        np.testing.assert_allclose(logits, full[:, t], atol=0.05)
    out = model.generate(ids[:, :3], 15, seed=0)                       # past the window: the cache restarts
    assert out.shape == (2, 18) and out.min() >= 0 and out.max() < 11


def test_training_under_mixed_bfloat16(mixed_bfloat16):
    model = tiny()
    compile_for_training(model, max_steps=40, learning_rate=1e-2, warmup_steps=5)
    x = np.tile(np.arange(12, dtype="int32") % 11, (64, 1))            # a pattern it can learn
    y = (x + 1) % 11
    history = model.fit(x, y, batch_size=8, epochs=5, verbose=0).history["loss"]
    assert np.all(np.isfinite(history))
    assert history[-1] < 0.5 * history[0]
    assert {v.dtype for v in model.weights} == {"float32"}
    assert {v.dtype for v in model.optimizer.variables if len(v.shape)} == {"float32"}
    assert dtype(model(x[:2])) == "float32"


def test_attention_dropout_path_softmax_in_float32(mixed_bfloat16):
    model = tiny(dropout=0.1)
    ids = np.random.default_rng(2).integers(0, 11, (2, 12)).astype("int32")
    logits = model(ids, training=True)                                 # the spelled-out softmax with dropout
    assert dtype(logits) == "float32" and np.all(np.isfinite(keras.ops.convert_to_numpy(logits)))
    # the spelled-out path with the dropout rate at 0 gives the fused kernel's logits
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    spelled_out = keras.ops.convert_to_numpy(model(ids, training=True))
    fused = keras.ops.convert_to_numpy(model(ids))
    assert np.abs(spelled_out - fused).max() < 0.05 * np.abs(fused).max()
