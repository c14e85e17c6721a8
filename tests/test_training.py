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


# --- issue 18: crash-safe backups, clear restore errors, checked arguments ---------

def test_interrupted_save_keeps_the_previous_backup(tmp_path, monkeypatch):
    """An interrupt while the backup is written (Jupyter's "interrupt kernel") costs one
    epoch, never the run: the half-written file is not the one a resume reads."""
    monkeypatch.setenv("GENLIB_DATA", str(tmp_path))
    x = np.random.rand(16, 4).astype("float32")
    model = _model()
    real_save = model.save_weights
    saves = []

    def interrupted_save(path, *args, **kwargs):
        saves.append(path)
        if len(saves) == 2:                               # the second epoch's save is cut short
            with open(path, "wb") as f:
                f.write(b"\x89HDF\r\n half a file")
            raise KeyboardInterrupt
        return real_save(path, *args, **kwargs)

    model.save_weights = interrupted_save
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, x[:, :1], epochs=4, verbose=0, callbacks=[genlib.training.resumable("cut")])
    history = _model().fit(x, x[:, :1], epochs=4, verbose=0, callbacks=[genlib.training.resumable("cut")])
    assert history.epoch == [1, 2, 3]


def test_a_damaged_backup_says_what_to_do_and_deletes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLIB_DATA", str(tmp_path))
    folder = genlib.training.run_dir("hurt")
    folder.mkdir(parents=True)
    # what an interrupted save of genlib <= 0.1 (Keras' own BackupAndRestore) left behind
    (folder / "latest.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    (folder / "training_metadata.json").write_text('{"epoch": 2, "batch": 0}')
    x = np.random.rand(16, 4).astype("float32")
    with pytest.raises(genlib.training.ResumeError, match=r"fresh=True") as info:
        _model().fit(x, x[:, :1], epochs=3, verbose=0, callbacks=[genlib.training.resumable("hurt")])
    assert "hurt" in str(info.value) and str(folder) in str(info.value)
    assert (folder / "latest.weights.h5").exists(), "a failed restore must not delete the backup"
    history = _model().fit(x, x[:, :1], epochs=2, verbose=0, callbacks=[genlib.training.resumable("hurt", fresh=True)])
    assert history.epoch == [0, 1]


def test_a_checksum_mismatch_is_a_resume_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLIB_DATA", str(tmp_path))
    x = np.random.rand(16, 4).astype("float32")
    with pytest.raises(KeyboardInterrupt):
        _model().fit(x, x[:, :1], epochs=4, verbose=0, callbacks=[genlib.training.resumable("sum"), _StopAfter(0)])
    (state,) = genlib.training.run_dir("sum").glob("state-*.weights.h5")
    state.write_bytes(state.read_bytes()[:-10])
    with pytest.raises(genlib.training.ResumeError, match="checksum"):
        _model().fit(x, x[:, :1], epochs=4, verbose=0, callbacks=[genlib.training.resumable("sum")])


def test_a_finished_run_deletes_only_its_own_files(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLIB_DATA", str(tmp_path))
    folder = genlib.training.run_dir("mine")
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    x = np.random.rand(16, 4).astype("float32")
    _model().fit(x, x[:, :1], epochs=2, verbose=0, callbacks=[genlib.training.resumable("mine")])
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


def _sgd_model():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    return model


def test_cosine_over_time_sets_the_rate_the_train_step_uses():
    # w = 0, x = 1, y = 1: d(mse)/dw = -2, so one SGD step moves w to 2 * lr
    model = _sgd_model()
    limit = genlib.training.TimeLimit(1e-9)           # spent at once: lr = floor from the first step
    model.fit(np.ones((1, 1)), np.ones((1, 1)), epochs=1, verbose=0,
              callbacks=[limit, genlib.training.CosineOverTime(limit, peak=0.5, floor=0.01)])
    assert np.isclose(float(keras.ops.convert_to_numpy(model.layers[0].kernel)[0, 0]), 0.02, rtol=1e-5)


def test_cosine_over_time_needs_a_constant_rate_and_its_time_limit():
    from genlib.models import MiniGPT, compile_for_training

    gpt = MiniGPT(5, block_size=4, n_layer=1, n_head=1, n_embd=4)
    compile_for_training(gpt, max_steps=20, warmup_steps=2)
    limit = genlib.training.TimeLimit(60)
    ids = np.zeros((2, 4), "int32")
    with pytest.raises(ValueError, match="LearningRateSchedule"):
        gpt.fit(ids, ids, epochs=1, verbose=0, callbacks=[limit, genlib.training.CosineOverTime(limit, 1e-3, 1e-4)])
    with pytest.raises(RuntimeError, match="TimeLimit"):
        _sgd_model().fit(np.ones((1, 1)), np.ones((1, 1)), epochs=1, verbose=0,
                         callbacks=[genlib.training.CosineOverTime(genlib.training.TimeLimit(5), 1e-3, 1e-4)])
    for bad in ("5", None, -1, float("inf"), True):
        with pytest.raises(ValueError, match="seconds"):
            genlib.training.TimeLimit(bad)


# --- issue 19: a timer of every step, for steady-state throughput (bench/gpt.py) ---

def test_step_timer_records_when_each_step_ended():
    genlib.seed(0)
    x = np.random.rand(64, 4).astype("float32")
    timer = genlib.training.StepTimer()
    with pytest.raises(RuntimeError, match="not started"):
        timer.elapsed()
    model = _model()
    model.fit(x, x[:, :1], batch_size=8, epochs=2, callbacks=[timer], verbose=0)
    assert timer.steps == 16 and len(timer.step_ends) == 16, "it never stops a fit: 2 epochs of 8 batches"
    assert all(b >= a for a, b in zip(timer.step_ends, timer.step_ends[1:])) and timer.step_ends[0] > 0
    assert timer.step_ends[-1] <= timer.elapsed()
    model.fit(x, x[:, :1], batch_size=8, epochs=1, callbacks=[timer], verbose=0)
    assert len(timer.step_ends) == 8, "step_ends are the latest fit's"
    assert timer.steps == 24, "steps count every fit's batches, as TimeLimit's always did"


def test_time_limit_keeps_step_times_too():
    x = np.random.rand(64, 4).astype("float32")
    limit = genlib.training.TimeLimit(1e-9)
    _model().fit(x, x[:, :1], batch_size=8, epochs=3, callbacks=[limit], verbose=0)
    assert isinstance(limit, genlib.training.StepTimer)
    assert limit.steps == 1 and len(limit.step_ends) == 1 and limit.step_ends[0] >= 1e-9
