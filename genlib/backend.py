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
