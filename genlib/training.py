"""Training helpers the chapters share (chapter 00, "Long runs").

``resumable(name)`` gives a callback that saves the model and optimizer state at the
end of every epoch, so an interrupted ``fit`` (a closed laptop, a stopped kernel)
continues where it stopped when the same cell runs again, instead of starting over.
``TimeLimit(seconds)`` stops a ``fit`` after a wall-clock budget, and
``CosineOverTime(limit, peak, floor)`` decays the learning rate over that budget.
``StepTimer()`` only keeps time: when each step of a ``fit`` ended, so that a
throughput can leave out the first steps, which compile (``bench/gpt.py``).

A backup is never left half-written: each save goes to a new file that is renamed
into place only once it is complete, and the small ``training_metadata.json`` that
names it is replaced the same way, so a kill at any moment leaves the previous good
backup. A backup that cannot be restored raises :class:`ResumeError`, which says what
went wrong and how to start afresh; nothing is deleted unless ``fresh=True`` asks.
"""

import json
import math
import numbers
import os
import re
import time
import uuid
import warnings
from pathlib import Path

import keras
import numpy as np

from genlib.data import data_dir, sha256

# A run name becomes one folder under <data dir>/runs, which genlib deletes when the
# run ends: only a plain name may reach the file system (no "", ".", "..", "/", "C:").
_RUN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}")
_METADATA = "training_metadata.json"
_LEGACY_WEIGHTS = "latest.weights.h5"  # what genlib wrote before (Keras' own name)


class ResumeError(RuntimeError):
    """A backup exists but cannot be restored; the message says why and what to do."""


def check_run_name(name):
    """Return ``name`` if it is a plain run name, else raise ``ValueError``.

    Allowed: 1 to 100 letters, digits, ``_``, ``-`` and ``.``, not starting with ``.``
    (so not ``""``, ``"."`` or ``".."``, no path separators, no absolute paths).
    """
    if not isinstance(name, str) or not _RUN_NAME.fullmatch(name):
        raise ValueError(
            f"a run name must be a plain name such as 'ch04-gru' (1-100 letters, digits, '_', '-' "
            f"or '.', not starting with '.'), got {name!r}: it names the folder "
            f"{data_dir() / 'runs'}/<name>, which is deleted when the run ends")
    return name


def run_dir(name):
    """Folder for one named training run: ``<data dir>/runs/<name>`` (``name`` checked)."""
    return data_dir() / "runs" / check_run_name(name)


def resumable(name, fresh=False):
    """A ``keras.callbacks.BackupAndRestore`` for the run ``name`` (see :class:`Resumable`).

    Pass it in ``callbacks=[...]`` of ``fit``. ``name`` must be a plain name
    (:func:`check_run_name`); the backup lives in :func:`run_dir`. ``fresh=True``
    forgets an earlier, interrupted run (deletes its backup files). The backup is
    deleted when ``fit`` finishes normally.
    """
    callback = Resumable(name)
    if fresh:
        callback.forget()
    return callback


def _fsync(path):
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


class Resumable(keras.callbacks.BackupAndRestore):
    """Keras' ``BackupAndRestore`` for one named run, with crash-safe saves.

    Each save writes ``tmp-<id>.weights.h5``, renames it to ``state-<id>.weights.h5``,
    then atomically replaces ``training_metadata.json`` (epoch, file name, SHA-256,
    optimizer step) to point at it; only then are older state files removed. Restoring
    checks the checksum and that the optimizer state came back, and raises
    :class:`ResumeError` otherwise. Only files this callback writes are ever deleted,
    and only inside ``<data dir>/runs/<name>``.
    """

    def __init__(self, name):
        self.name = check_run_name(name)
        folder = run_dir(name)
        super().__init__(backup_dir=str(folder))
        self.folder = folder

    # -- where it may write and delete --
    def _checked_folder(self):
        runs = (data_dir() / "runs").resolve()
        if self.folder.is_symlink() or self.folder.resolve().parent != runs:
            raise ResumeError(f"{self.folder} is a link out of {runs}; genlib only writes and deletes "
                              "inside that folder: remove the link or use another run name")
        return self.folder

    def _own_files(self):
        folder = self._checked_folder()
        if not folder.is_dir():
            return []
        names = [_METADATA, _LEGACY_WEIGHTS, f"{_LEGACY_WEIGHTS}.bkp", f"{_METADATA}.bkp"]
        own = [folder / n for n in names if (folder / n).exists()]
        own += [p for p in folder.iterdir() if re.fullmatch(r"(state|tmp)-[0-9a-f]+\.weights\.h5|\.tmp-.*\.json",
                                                            p.name)]
        return own

    def forget(self):
        """Delete this run's backup files, and its folder once empty."""
        for path in self._own_files():
            path.unlink(missing_ok=True)
        try:
            self.folder.rmdir()  # only when empty: files someone else put there stay
        except OSError:
            pass

    # -- Keras' hooks --
    def on_train_begin(self, logs=None):
        self._load_model()

    def on_train_end(self, logs=None):
        if self.delete_checkpoint:
            self.forget()

    def _fail(self, cause):
        raise ResumeError(
            f"Could not resume the run {self.name!r} from its backup in {self.folder}: {cause}. "
            f"Nothing was deleted. To start this run again from the beginning, use "
            f"genlib.training.resumable({self.name!r}, fresh=True), which deletes that backup "
            f"(move the folder elsewhere first to keep it). A backup only fits the same model, "
            f"compiled the same way.")

    def _load_model(self):
        folder = self._checked_folder()
        meta_path = folder / _METADATA
        if not meta_path.exists():
            if (folder / _LEGACY_WEIGHTS).exists():
                self._fail(f"{_LEGACY_WEIGHTS} has no {_METADATA} next to it (an interrupted save)")
            return  # nothing to resume: a new run
        try:
            meta = json.loads(meta_path.read_text())
            epoch = int(meta["epoch"])
        except (ValueError, KeyError, TypeError, OSError) as error:
            self._fail(f"{meta_path} is unreadable ({type(error).__name__}: {error})")
        weights = folder / meta.get("weights", _LEGACY_WEIGHTS)
        if not weights.is_file():
            self._fail(f"{weights.name}, named in {_METADATA}, is missing")
        if "sha256" in meta and sha256(weights) != meta["sha256"]:
            self._fail(f"{weights.name} does not match its checksum (a damaged or half-written file)")
        model = self.model
        if not model.built:
            self._fail("the model is not built yet, so its weights cannot be loaded: build it first "
                       "(call it on one batch, or give the first layer a keras.Input)")
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(model.trainable_variables)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model.load_weights(str(weights))
            except Exception as error:  # h5py's OSError, Keras' ValueError: one message for both
                self._fail(f"loading {weights.name} failed ({type(error).__name__}: "
                           f"{' '.join(str(error).split())[:300]})")
        skipped = [str(w.message) for w in caught if "load" in str(w.message).lower()]
        if skipped:
            self._fail(f"part of the state was not restored ({' '.join(skipped[0].split())[:300]})")
        expected = meta.get("iterations")
        if optimizer is not None and expected:
            step = int(keras.ops.convert_to_numpy(optimizer.iterations))
            if step != expected:
                self._fail(f"the optimizer state was not restored (step {step}, saved at step {expected})")
        model._initial_epoch = epoch

    def _save_model(self):
        model = self.model
        folder = self._checked_folder()
        folder.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex[:16]
        tmp, state = folder / f"tmp-{token}.weights.h5", folder / f"state-{token}.weights.h5"
        meta_tmp = folder / f".tmp-{token}.json"
        try:
            model.save_weights(str(tmp), overwrite=True)
            _fsync(tmp)
            os.replace(tmp, state)  # a file named state-* is always complete
            optimizer = getattr(model, "optimizer", None)
            meta = {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights": state.name,
                    "sha256": sha256(state),
                    "iterations": None if optimizer is None else int(keras.ops.convert_to_numpy(optimizer.iterations))}
            meta_tmp.write_text(json.dumps(meta))
            _fsync(meta_tmp)
            os.replace(meta_tmp, folder / _METADATA)  # the switch to the new backup: atomic
        finally:
            tmp.unlink(missing_ok=True)
            meta_tmp.unlink(missing_ok=True)
        for path in self._own_files():  # older backups, and leftovers of killed saves
            if path.name not in (_METADATA, state.name):
                path.unlink(missing_ok=True)


def _check_seconds(seconds):
    if isinstance(seconds, bool) or not isinstance(seconds, (numbers.Real, np.number)) \
            or not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"seconds must be a number > 0, got {seconds!r}")
    return float(seconds)


class StepTimer(keras.callbacks.Callback):
    """Keep time in ``fit``: the steps trained and when each one ended.

    ``steps`` counts the batches this callback has seen (in every ``fit`` it was
    passed to); ``elapsed()`` is the seconds since the latest ``fit`` began, and
    ``step_ends[i]`` was ``elapsed()`` at the end of that fit's batch ``i + 1``.
    Steady-state throughput is then ``(n - m) * batch / (step_ends[n - 1] -
    step_ends[m - 1])``, leaving out the first ``m`` steps, which include the
    compilation (``bench/gpt.py``). With ``steps_per_execution=k`` Keras reports
    every ``k``-th step only, so each entry then stands for ``k`` steps.
    """

    def __init__(self):
        super().__init__()
        self.steps = 0
        self.start = None
        self.step_ends = []

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.step_ends = []

    def elapsed(self):
        if self.start is None:
            raise RuntimeError(f"this {type(self).__name__} has not started: pass it in the callbacks of fit")
        return time.perf_counter() - self.start

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        self.step_ends.append(self.elapsed())


class TimeLimit(StepTimer):
    """Stop ``fit`` at the end of the first batch after ``seconds`` of training.

    Chapter 05 ("Attention or recurrence?") gives a GRU and a GPT the same wall-clock
    budget with it. ``steps`` counts the batches trained; ``elapsed()`` the seconds
    (and ``step_ends`` when each batch ended, as :class:`StepTimer` keeps them).
    """

    def __init__(self, seconds):
        super().__init__()
        self.seconds = _check_seconds(seconds)

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if self.step_ends[-1] >= self.seconds:
            self.model.stop_training = True


class CosineOverTime(keras.callbacks.Callback):
    """A cosine learning-rate decay over a wall-clock budget instead of a step count.

    Before each batch: ``lr = floor + (peak - floor) * (1 + cos(pi * f)) / 2``, where
    ``f`` is the fraction of ``limit.seconds`` (a :class:`TimeLimit` in the same
    ``fit``) spent so far. Used when the number of steps a budget allows is not known
    in advance (chapter 05, "Attention or recurrence?"; ``bench/gru.py``).

    The rate is assigned to the optimizer's learning-rate variable, which the compiled
    train step reads (on JAX, reading ``self.model`` syncs the trainer's state first),
    and to each optimizer of a model with several (a GAN). The optimizer needs a
    constant learning rate: one compiled with a schedule (``compile_for_training``)
    is refused with a clear error, because a schedule cannot be overwritten.
    """

    def __init__(self, limit, peak, floor):
        super().__init__()
        if not isinstance(limit, TimeLimit):
            raise ValueError(f"limit must be the genlib.training.TimeLimit of the same fit, got {limit!r}")
        for name, value in (("peak", peak), ("floor", floor)):
            if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.number)) \
                    or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a learning rate >= 0, got {value!r}")
        self.limit, self.peak, self.floor = limit, float(peak), float(floor)

    def _optimizers(self):
        optimizer = self.model.optimizer
        return list(getattr(optimizer, "optimizers", [optimizer]))

    def on_train_begin(self, logs=None):
        if self.limit.model is not self.model:
            raise RuntimeError("CosineOverTime's TimeLimit is not among this fit's callbacks: "
                               "fit(..., callbacks=[limit, CosineOverTime(limit, peak, floor)])")
        for optimizer in self._optimizers():
            if isinstance(getattr(optimizer, "_learning_rate", None), keras.optimizers.schedules.LearningRateSchedule):
                raise ValueError(
                    "CosineOverTime sets the learning rate itself, but this optimizer follows a "
                    "LearningRateSchedule (compile_for_training gives one), which cannot be overwritten: "
                    "compile with a constant learning rate, e.g. keras.optimizers.AdamW(1e-3)")

    def on_train_batch_begin(self, batch, logs=None):
        progress = min(self.limit.elapsed() / self.limit.seconds, 1.0)
        rate = self.floor + 0.5 * (self.peak - self.floor) * (1 + math.cos(math.pi * progress))
        for optimizer in self._optimizers():
            optimizer.learning_rate = rate
