import keras
import numpy as np

from genlib.backend import full_float32


def tf32_settings():
    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf

        return tf.config.experimental.tensor_float_32_execution_enabled()
    if name == "torch":
        import torch

        return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    import jax

    return jax.config.jax_default_matmul_precision


def test_full_float32_switches_tf32_off_inside_and_restores_it():
    before = tf32_settings()
    x = np.random.default_rng(0).normal(size=(64, 64)).astype("float32")
    with full_float32():
        inside = tf32_settings()
        product = keras.ops.convert_to_numpy(keras.ops.matmul(x, x))
    assert tf32_settings() == before
    assert inside != before
    np.testing.assert_allclose(product, x.astype(np.float64) @ x, rtol=1e-4, atol=1e-4)
