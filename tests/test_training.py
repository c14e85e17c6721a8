"""An interrupted fit resumes where it stopped (genlib.training.resumable)."""

import keras
import numpy as np
import pytest

import genlib


class _StopAfter(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.stop_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.stop_epoch:
            raise KeyboardInterrupt


def _model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


def test_interrupted_fit_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLIB_DATA", str(tmp_path))
    genlib.seed(0)
    x = np.random.rand(32, 4).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    with pytest.raises(KeyboardInterrupt):
        _model().fit(x, y, epochs=5, verbose=0, callbacks=[genlib.training.resumable("t"), _StopAfter(1)])
    history = _model().fit(x, y, epochs=5, verbose=0, callbacks=[genlib.training.resumable("t")])
    assert history.epoch == [2, 3, 4], "the second fit must continue after the last finished epoch"
    assert not genlib.training.run_dir("t").exists(), "a finished run leaves no backup behind"


def test_fresh_forgets_an_interrupted_run(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLIB_DATA", str(tmp_path))
    x = np.random.rand(16, 4).astype("float32")
    with pytest.raises(KeyboardInterrupt):
        _model().fit(x, x[:, :1], epochs=4, verbose=0, callbacks=[genlib.training.resumable("u"), _StopAfter(1)])
    history = _model().fit(x, x[:, :1], epochs=4, verbose=0, callbacks=[genlib.training.resumable("u", fresh=True)])
    assert history.epoch == [0, 1, 2, 3]


def test_time_limit_stops_fit():
    genlib.seed(0)
    x = np.random.rand(64, 4).astype("float32")
    model = _model()
    limit = genlib.training.TimeLimit(1e-9)
    model.fit(x, x[:, :1], batch_size=8, epochs=50, callbacks=[limit], verbose=0)
    assert limit.steps == 1 and limit.elapsed() > 0
    with pytest.raises(ValueError):
        genlib.training.TimeLimit(0)


def test_cosine_over_time_decays_from_peak_to_floor():
    genlib.seed(0)
    x = np.random.rand(64, 4).astype("float32")
    model = _model()
    limit = genlib.training.TimeLimit(3600)
    decay = genlib.training.CosineOverTime(limit, peak=1e-2, floor=1e-3)
    model.fit(x, x[:, :1], batch_size=8, epochs=1, callbacks=[limit, decay], verbose=0)
    assert np.isclose(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)), 1e-2, rtol=1e-3)
    limit.seconds = 1e-9                                  # the whole budget is spent
    model.fit(x, x[:, :1], batch_size=8, epochs=1, callbacks=[limit, decay], verbose=0)
    assert np.isclose(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)), 1e-3, rtol=1e-5)
