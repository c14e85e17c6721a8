"""Training helpers the chapters share (chapter 00, "Long runs").

``resumable(name)`` gives a callback that saves the model and optimizer state at the
end of every epoch, so an interrupted ``fit`` (a closed laptop, a stopped kernel)
continues where it stopped when the same cell runs again, instead of starting over.
``TimeLimit(seconds)`` stops a ``fit`` after a wall-clock budget.
"""

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
