"""genlib: the small Keras library of the genlib course.

    import genlib
    genlib.env_report()                   # versions, devices, profile, data folder
    EPOCHS = genlib.budget(smoke=1, cpu=10, gpu=30)
    (x_train, y_train), (x_test, y_test) = genlib.data.mnist()

Modules: ``data`` (datasets, cached and verified), ``tokenizer`` (characters to ids and
back), ``windows`` (a language model's training windows), ``lm_metrics`` (a language
model's held-out loss in nats and bits), ``sampling`` (temperature, top-k, top-p, a
watermark), ``metrics`` (FID and a classifier score on MNIST features), ``plots``, ``explorers``
(slider explorers for chapters 02, 04 and 05; ipywidgets only when a widget is made),
``training``, ``models`` (the models of chapters 02 to 05), ``pretrained`` (cached
pre-trained weights), ``finetune`` (adapting a pre-trained model to a labelled task,
chapter 06) and ``applications`` (chapter 08's tools for music, molecules and control:
NumPy, with music21 and RDKit where needed).
Everything uses ``keras.ops`` and runs on the TensorFlow, JAX and PyTorch backends;
backend-specific code lives in ``genlib.backend``.

``import genlib`` imports ``genlib.models`` too, which registers the models with
Keras: ``keras.saving.load_model("vae.keras")`` then finds class ``VAE``.
"""

from genlib import (applications, data, explorers, finetune, lm_metrics, metrics, models, plots, pretrained,
                    sampling, tokenizer, training, windows)
from genlib.config import budget, env_report, profile, rng, seed

__version__ = "0.1.0"
__all__ = ["applications", "budget", "data", "env_report", "explorers", "finetune", "lm_metrics", "metrics", "models", "plots",
           "pretrained", "profile", "rng", "sampling", "seed", "tokenizer", "training", "windows"]
