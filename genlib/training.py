"""Training helpers the chapters share (chapter 00, "Long runs").

``resumable(name)`` gives a callback that saves the model and optimizer state at the
end of every epoch, so an interrupted ``fit`` (a closed laptop, a stopped kernel)
continues where it stopped when the same cell runs again, instead of starting over.
``TimeLimit(seconds)`` stops a ``fit`` after a wall-clock budget, and
``CosineOverTime(limit, peak, floor)`` decays the learning rate over that budget.
"""

import math
import shutil
import time

import keras

from genlib.data import data_dir


def run_dir(name):
    """Folder for one named training run: ``<data dir>/runs/<name>``."""
    return data_dir() / "runs" / name


def resumable(name, fresh=False):
    """A ``keras.callbacks.BackupAndRestore`` for the run ``name``.

    Pass it in ``callbacks=[...]`` of ``fit``. ``fresh=True`` forgets an earlier,
    interrupted run. Keras deletes the backup when ``fit`` finishes normally.
    """
    folder = run_dir(name)
    if fresh and folder.exists():
        shutil.rmtree(folder)
    return keras.callbacks.BackupAndRestore(backup_dir=str(folder))


class TimeLimit(keras.callbacks.Callback):
    """Stop ``fit`` at the end of the first batch after ``seconds`` of training.

    Chapter 05 ("Attention or recurrence?") gives a GRU and a GPT the same wall-clock
    budget with it. ``steps`` counts the batches trained; ``elapsed()`` the seconds.
    """

    def __init__(self, seconds):
        super().__init__()
        if not seconds > 0:
            raise ValueError(f"seconds must be > 0, got {seconds}")
        self.seconds = float(seconds)
        self.steps = 0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def elapsed(self):
        return time.perf_counter() - self.start

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.elapsed() >= self.seconds:
            self.model.stop_training = True


class CosineOverTime(keras.callbacks.Callback):
    """A cosine learning-rate decay over a wall-clock budget instead of a step count.

    Before each batch: ``lr = floor + (peak - floor) * (1 + cos(pi * f)) / 2``, where
    ``f`` is the fraction of ``limit.seconds`` (a :class:`TimeLimit` in the same
    ``fit``) spent so far. Used when the number of steps a budget allows is not known
    in advance (chapter 05, "Attention or recurrence?"; ``bench/gru.py``).
    """

    def __init__(self, limit, peak, floor):
        super().__init__()
        self.limit, self.peak, self.floor = limit, float(peak), float(floor)

    def on_train_batch_begin(self, batch, logs=None):
        progress = min(self.limit.elapsed() / self.limit.seconds, 1.0)
        self.model.optimizer.learning_rate = (
            self.floor + 0.5 * (self.peak - self.floor) * (1 + math.cos(math.pi * progress)))
