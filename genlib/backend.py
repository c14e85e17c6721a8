"""The backend-specific corner of genlib.

Everything else in genlib is written with ``keras`` and ``keras.ops`` and runs on
the TensorFlow, JAX and PyTorch backends alike. The few things Keras does not
abstract (which devices exist; taking a gradient inside a custom train step) live
here, one small function per backend, so that the rest stays portable.
"""

import contextlib

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


def numpy_input_grads(fn, *arrays):
    """Gradients of a scalar ``fn(*tensors)`` with respect to each input array, as NumPy.

    NumPy in, NumPy out (float32): one gradient per input, of the input's shape, zero
    where ``fn`` does not depend on that input. The result is a plain value, off every
    tape: to look at, not to differentiate again (for that, inside a loss, see
    :func:`differentiable_input_grad`). Used by chapter 02 ("The reparameterisation
    trick") to show which inputs a loss sends a gradient to.
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
        raise NotImplementedError(f"numpy_input_grads does not support the {name!r} backend")
    return [keras.ops.convert_to_numpy(g) for g in grads]


# --- Gradients for custom train steps (chapter 03, "Code: genlib's DCGAN") ---------
#
# A GAN updates two networks with two optimizers in one train step, so it cannot use
# Keras' built-in step. The two functions below are the only backend-specific code the
# GAN needs: `value_and_grad` takes a gradient with each backend's own machinery, and
# `custom_train_step` adapts a plain step function to the JAX trainer, which (unlike
# the TensorFlow and PyTorch ones) passes the model's state in and out explicitly.


def value_and_grad(loss_fn, variables, all_variables):
    """Evaluate ``loss, aux = loss_fn()`` and the gradients of ``loss`` w.r.t. ``variables``.

    ``loss_fn``: a function of no arguments that reads Keras variables (calls models)
    and returns a scalar ``loss`` and any ``aux`` values. ``variables``: the Keras
    variables to differentiate. ``all_variables``: every variable ``loss_fn`` may read
    or update (the model's ``variables``); only JAX needs them, because its gradient
    is taken of a pure function, so each variable is passed in as a value and any
    update ``loss_fn`` makes (random-seed state, batch-norm statistics) is written
    back afterwards. Returns ``(loss, aux), grads`` with one gradient per variable
    (zeros, not None, for a variable the loss does not depend on, on every backend).
    """
    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss, aux = loss_fn()
        grads = tape.gradient(loss, variables)
        return (loss, aux), [tf.zeros_like(v.value) if g is None else g for g, v in zip(grads, variables)]
    if name == "jax":
        import jax

        wanted = {id(v) for v in variables}
        others = [v for v in all_variables if id(v) not in wanted]
        other_values = [v.value for v in others]

        def pure(values):
            mapping = list(zip(variables, values)) + list(zip(others, other_values))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                loss, aux = loss_fn()
                updated = [scope.get_current_value(v) for v in others]
            return loss, (aux, updated)

        (loss, (aux, updated)), grads = jax.value_and_grad(pure, has_aux=True)(
            [v.value for v in variables]
        )
        for v, old, new in zip(others, other_values, updated):
            if new is not old:
                v.assign(new)
        return (loss, aux), grads
    if name == "torch":
        import torch

        loss, aux = loss_fn()
        values = [v.value for v in variables]
        grads = torch.autograd.grad(loss, values, allow_unused=True)
        return (loss, aux), [torch.zeros_like(x) if g is None else g for g, x in zip(grads, values)]
    raise NotImplementedError(f"value_and_grad has no branch for the {name!r} backend")


def custom_train_step(model, step, *args):
    """Run ``logs = step(data)`` as ``model.train_step`` on every backend.

    ``step`` updates variables in place (``optimizer.apply``, ``metric.update_state``)
    and returns the logs dict. TensorFlow and PyTorch call ``train_step(data)`` and
    that is all. The JAX trainer calls ``train_step(state, data)`` inside ``jax.jit``
    with ``state = (trainable, non_trainable, optimizer, metrics)`` variable values
    and expects ``(logs, new_state)``: the step runs in a ``keras.StatelessScope``
    that maps each variable to its value in ``state`` and records the assignments.
    """
    if keras.backend.backend() != "jax":
        (data,) = args
        return step(data)
    state, data = args
    groups = (model.trainable_variables, model.non_trainable_variables,
              model.optimizer.variables, model.metrics_variables)
    mapping = [(v, value) for vs, values in zip(groups, state) for v, value in zip(vs, values)]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        logs = step(data)
        new_state = tuple([scope.get_current_value(v) for v in vs] for vs in groups)
    return logs, new_state


def differentiable_input_grad(fn, x):
    """The gradient of ``sum(fn(x))`` w.r.t. the input tensor ``x``, itself differentiable.

    ``fn`` maps a batch to one value per row (a critic); the result is a backend
    tensor of x's shape. The gradient stays on each backend's tape, so a loss built
    from it (the WGAN-GP gradient penalty, chapter 03's exercise) can be
    differentiated again w.r.t. the weights inside :func:`value_and_grad`. (For
    NumPy gradients of several inputs, to inspect, see :func:`numpy_input_grads`.)
    """
    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(fn(x))
        return tape.gradient(total, x)
    if name == "jax":
        import jax

        return jax.grad(lambda value: keras.ops.sum(fn(value)))(keras.ops.convert_to_tensor(x))
    if name == "torch":
        import torch

        x = keras.ops.convert_to_tensor(x).detach().requires_grad_(True)
        return torch.autograd.grad(keras.ops.sum(fn(x)), x, create_graph=True)[0]
    raise NotImplementedError(f"differentiable_input_grad has no branch for the {name!r} backend")


# --- Compiled inference for generation loops (chapter 05, "The KV cache") ----------


def inference_function(model, method=None):
    """A compiled ``f(*args) -> method(*args)`` for token-by-token loops.

    ``method`` defaults to ``model(inputs, training=False)``; MiniGPT passes its
    ``call_with_cache`` (chapter 05, "The KV cache"). A generation loop calls the model
    once per new token on a tiny input, so the cost of a call, not its arithmetic, sets
    the speed. ``model.predict_on_batch`` pays for Keras' data handling and converts
    every output to NumPy, and on a CPU TensorFlow runs it without XLA; this function
    compiles the call with XLA on TensorFlow (``tf.function(jit_compile=True)``) and JAX
    (``jax.jit``), and returns backend tensors, so a KV cache stays where it is between
    steps. The weights are read at every call (TensorFlow captures the variables, JAX
    gets their current values), so training the model afterwards does not leave the
    function stale. PyTorch runs eagerly under ``torch.no_grad()``: ``torch.compile``
    costs more than it saves here. Arguments: arrays or structures of arrays; one trace
    per shape.
    """
    fn = method if method is not None else (lambda inputs: model(inputs, training=False))
    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True, reduce_retracing=True)
    if name == "jax":
        import jax

        @jax.jit
        def pure(trainable, non_trainable, *args):
            # the method reads each variable's value from the mapping, not from the
            # variable: jax.jit sees the weights as inputs, never as baked-in constants
            mapping = list(zip(model.trainable_variables, trainable)) + list(
                zip(model.non_trainable_variables, non_trainable))
            with keras.StatelessScope(state_mapping=mapping):
                return fn(*args)

        return lambda *args: pure([v.value for v in model.trainable_variables],
                                  [v.value for v in model.non_trainable_variables], *args)
    if name == "torch":
        import torch

        def call(*args):
            with torch.no_grad():
                return fn(*keras.tree.map_structure(keras.ops.convert_to_tensor, args))

        return call
    raise NotImplementedError(f"inference_function has no branch for the {name!r} backend")


@contextlib.contextmanager
def full_float32():
    """Inside this block, float32 matrix products and convolutions run in full float32.

    On NVIDIA GPUs since Ampere, TensorFlow and JAX multiply float32 matrices in TF32 by
    default (PyTorch does so for convolutions): the inputs are rounded to a 10-bit
    mantissa, so results agree with a float64 reference to about 1e-3, not 1e-6. That is
    fine for training and wrong for a check that a formula written by hand equals a
    Keras layer to 1e-5, so the chapters run such checks in here (chapter 04, "Recurrent
    networks and the GRU"; chapter 05, "Scaled dot-product attention"). On a CPU nothing
    changes.
    """
    name = keras.backend.backend()
    if name == "jax":
        import jax

        with jax.default_matmul_precision("float32"):
            yield
    elif name == "tensorflow":
        import tensorflow as tf

        before = tf.config.experimental.tensor_float_32_execution_enabled()
        tf.config.experimental.enable_tensor_float_32_execution(False)
        try:
            yield
        finally:
            tf.config.experimental.enable_tensor_float_32_execution(before)
    elif name == "torch":
        import torch

        before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
    else:
        yield
