"""Training helpers the chapters share (chapter 00, "Long runs").

``resumable(name)`` gives a callback that saves the model and optimizer state at the
end of every epoch, so an interrupted ``fit`` (a closed laptop, a stopped kernel)
continues where it stopped when the same cell runs again, instead of starting over.
"""

import shutil

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
