"""Run profiles, seeding and the environment report (chapter 00, "How chapters use genlib
and the run profiles").

Every chapter sizes its data and training through one call::

    EPOCHS = genlib.budget(smoke=1, cpu=10, gpu=30)

so that the same code runs in seconds under the tests (``smoke``), trains to
visibly good results in a few minutes on a laptop (``cpu``), or at full size on an
accelerator (``gpu``).
"""

import os
import platform
import sys

PROFILES = ("smoke", "cpu", "gpu")


def profile():
    """The active run profile: ``"smoke"``, ``"cpu"`` or ``"gpu"``.

    ``GENLIB_PROFILE`` overrides the detection; otherwise ``"gpu"`` when the
    Keras backend sees an accelerator and ``"cpu"`` when it does not. The tests
    (``make test``) set ``GENLIB_PROFILE=smoke``.
    """
    forced = os.environ.get("GENLIB_PROFILE", "").strip().lower()
    if forced:
        if forced not in PROFILES:
            raise ValueError(
                f"GENLIB_PROFILE={forced!r} is not a profile; use one of {', '.join(PROFILES)}"
            )
        return forced
    from genlib.backend import accelerators

    return "gpu" if accelerators() else "cpu"


def budget(smoke, cpu, gpu):
    """Pick the value for the active profile: ``budget(smoke=1, cpu=10, gpu=30)``.

    All three are required, so each knob says what an accelerator buys: bigger models,
    the full dataset, more steps. Where a GPU does not help (NumPy code, a threshold),
    ``gpu`` repeats the ``cpu`` value on purpose. A ``gpu`` run forced on a CPU
    (``GENLIB_PROFILE=gpu``) works, only slowly.
    """
    return {"smoke": smoke, "cpu": cpu, "gpu": gpu}[profile()]


def seed(value=0):
    """Seed Python, NumPy and the Keras backend in one call.

    ``keras.utils.set_random_seed`` seeds ``random``, ``numpy`` and the backend
    (TensorFlow, JAX's global seed or PyTorch); ``tf.random.set_seed`` alone, as
    many tutorials do, leaves NumPy and Python unseeded. genlib's ``seed=None``
    arguments follow it: NumPy draws go through :func:`rng`, and a model's
    ``keras.random.SeedGenerator(None)`` takes its seed from Python's ``random``.
    """
    import keras

    keras.utils.set_random_seed(int(value))
    return int(value)


def rng(seed=None):
    """A ``numpy.random.Generator``: seeded by ``seed``, or when ``seed`` is None by NumPy's
    global state, which :func:`seed` sets.

    Every ``seed=None`` in genlib (``generate``, ``sample``, ``WindowDataset``) goes
    through here, so after ``genlib.seed(0)`` a whole notebook repeats exactly, while
    two calls in a row still differ. A ``Generator`` passed as ``seed`` is used as is.
    """
    import numpy as np

    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        seed = np.random.randint(0, 2**31 - 1)
    return np.random.default_rng(seed)


def env_report(file=None):
    """Print (and return as a dict) the versions, devices, profile and data folder."""
    import keras
    import numpy as np

    from genlib.backend import accelerators
    from genlib.data import data_dir

    report = {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "numpy": np.__version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "backend_version": _backend_version(keras.backend.backend()),
        "accelerators": ", ".join(accelerators()) or "none (CPU only)",
        "profile": profile(),
        "data_dir": str(data_dir()),
    }
    width = max(map(len, report))
    for key, value in report.items():
        print(f"{key:<{width}}  {value}", file=file or sys.stdout)
    return report


def _backend_version(name):
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(name)
    if module is None:
        return "unknown"
    try:
        return __import__(module).__version__
    except ImportError:
        return "not installed"
