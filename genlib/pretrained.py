"""Pre-trained weights, trained once and reused from the cache (chapter 06, "Reuse, not retraining").

Pre-training is the expensive half of "pre-train, then fine-tune": minutes on a laptop,
months on a cluster. It is done once and its weights are reused, by later cells, later
runs and later chapters. :func:`cached` does that for any Keras model:

    gpt = MiniGPT.from_preset("baby", tokenizer=tok)
    key = {"steps": 1200, "text_sha256": genlib.pretrained.text_sha256(text), "lr": 1e-3}
    genlib.pretrained.cached(gpt, "shakespeare-gpt", key, train=lambda m: m.fit(...))

The first call trains (``train(model)``) and saves; every later call with the same model
architecture and the same ``key`` loads the saved weights instead. The file lives in
``<data dir>/pretrained/<name>-<hash>.weights.h5``, where the hash covers the
architecture (``model.get_config()``) and ``key``, so a change of preset, steps or data
gives a new file instead of a wrong one. Keras' ``.weights.h5`` format is the same on
TensorFlow, JAX and PyTorch, so weights pre-trained on one backend load on another.

Beside each weights file a small JSON manifest records the architecture, the key, the
backend, the Keras version and the weights' SHA-256. A weights file that does not match
its manifest (a half-copied or corrupted file) is never loaded: it is trained again. A
file that belongs to another architecture raises an error that names both. Both files
are written under temporary names and renamed into place, so an interrupted save
leaves no half-written file under the real name.
"""

import hashlib
import json
import os
import tempfile
import warnings

import keras

from genlib.data import data_dir, sha256

_IGNORED_CONFIG = {"name", "trainable", "dtype"}


def cache_dir():
    """Folder of the cached pre-trained weights: ``<data dir>/pretrained``."""
    return data_dir() / "pretrained"


def text_sha256(text):
    """Hex SHA-256 of a string's UTF-8 bytes: a key entry that ties weights to their training text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def architecture(model):
    """The part of ``model.get_config()`` that fixes the weights' shapes and meaning.

    The model's name, ``trainable`` flag and dtype policy are left out: they do not
    change which weights a file holds.
    """
    config = model.get_config()
    return {k: v for k, v in config.items() if k not in _IGNORED_CONFIG}


def _json(value):
    return json.dumps(value, sort_keys=True, default=str)


def paths(model, name, key):
    """``(weights_path, manifest_path)`` of the cache entry for ``model``, ``name`` and ``key``."""
    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise ValueError(f"name must be a plain file name such as 'shakespeare-gpt', got {name!r}")
    digest = hashlib.sha256(_json({"architecture": architecture(model), "key": key}).encode()).hexdigest()[:16]
    stem = cache_dir() / f"{name}-{digest}"
    return stem.with_name(stem.name + ".weights.h5"), stem.with_name(stem.name + ".json")


def _atomic_write(path, write):
    """Call ``write(tmp_path)``, then rename the temporary file to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + "".join(path.suffixes))
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save(model, name, key):
    """Save ``model``'s weights and their manifest as the cache entry ``(name, key)``; returns the path."""
    weights, manifest = paths(model, name, key)
    _atomic_write(weights, lambda tmp: model.save_weights(tmp))
    record = {"name": name, "key": key, "architecture": architecture(model), "sha256": sha256(weights),
              "backend": keras.backend.backend(), "keras": keras.__version__}
    _atomic_write(manifest, lambda tmp: open(tmp, "w", encoding="utf-8").write(_json(record)))
    return weights


def load(model, weights_path):
    """Load a cached weights file into ``model`` after checking its manifest.

    Raises ``ValueError`` when the file was saved from another architecture (another
    preset, say), naming what differs, and ``OSError`` when the weights file is missing
    or does not match the SHA-256 its manifest recorded.
    """
    weights = os.fspath(weights_path)
    manifest = weights[:-len(".weights.h5")] + ".json"
    try:
        with open(manifest, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError) as error:
        raise OSError(f"no readable manifest {manifest} beside {weights}: {error}") from None
    ours = json.loads(_json(architecture(model)))
    if record["architecture"] != ours:
        differ = sorted(k for k in set(ours) | set(record["architecture"])
                        if ours.get(k) != record["architecture"].get(k) and k != "tokenizer")
        shown = ", ".join(f"{k}: file {record['architecture'].get(k)!r} vs model {ours.get(k)!r}" for k in differ)
        raise ValueError(f"{weights} holds weights of another architecture ({shown or 'tokenizer differs'}); "
                         "build the model with the same preset, or pre-train this one")
    if not os.path.exists(weights) or sha256(weights) != record["sha256"]:
        raise OSError(f"{weights} is missing or does not match the SHA-256 in {manifest} "
                      "(an interrupted copy or a corrupted disk)")
    model.load_weights(weights)
    return record


def cached(model, name, key, train, force=False):
    """Load ``model``'s pre-trained weights from the cache, or train and cache them.

    ``name``: a plain name for the entry (``"shakespeare-gpt"``). ``key``: a JSON-able
    dict of everything else the weights depend on (steps, learning rate, a checksum of
    the data); together with the model's architecture it selects the file.
    ``train``: ``train(model)`` pre-trains ``model`` in place (its return value is
    ignored). ``force=True`` trains again and replaces the entry. A corrupted entry is
    trained again, with a warning. Returns ``True`` when the weights came from the
    cache, ``False`` when they were trained now.
    """
    weights, manifest = paths(model, name, key)
    if not force and (weights.exists() or manifest.exists()):
        try:
            load(model, weights)
            return True
        except OSError as error:
            warnings.warn(f"cached pre-trained weights unusable, training again: {error}", stacklevel=2)
    train(model)
    save(model, name, key)
    return False
