"""The backend-specific corner of genlib.

Everything else in genlib is written with ``keras`` and ``keras.ops`` and runs on
the TensorFlow, JAX and PyTorch backends alike. The few things Keras does not
abstract (which devices exist; taking a gradient inside a custom train step) live
here, one small function per backend, so that the rest stays portable.
"""

import keras


def accelerators():
    """Names of the accelerators (GPUs/TPUs) the current Keras backend can use."""
    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices() if d.device_type in ("GPU", "TPU")]
    if name == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform != "cpu"]
    if name == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def input_gradients(fn, *arrays):
    """Gradients of a scalar ``fn(*tensors)`` with respect to each input array.

    NumPy in, NumPy out (float32): one gradient per input, of the input's shape, zero
    where ``fn`` does not depend on that input. Used by chapter 02 ("The
    reparameterisation trick") to show which inputs a loss sends a gradient to.
    """
    name = keras.backend.backend()
    arrays = [keras.ops.convert_to_numpy(a).astype("float32") for a in arrays]
    if name == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(a) for a in arrays]
        with tf.GradientTape() as tape:
            for t in tensors:
                tape.watch(t)
            value = fn(*tensors)
        grads = tape.gradient(value, tensors, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    elif name == "jax":
        import jax

        grads = jax.grad(lambda *t: fn(*t), argnums=tuple(range(len(arrays))))(*arrays)
    elif name == "torch":
        import torch

        tensors = [keras.ops.convert_to_tensor(a).requires_grad_(True) for a in arrays]
        grads = torch.autograd.grad(fn(*tensors), tensors, allow_unused=True)
        grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, tensors)]
    else:
        raise NotImplementedError(f"input_gradients does not support the {name!r} backend")
    return [keras.ops.convert_to_numpy(g) for g in grads]
