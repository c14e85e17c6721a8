import pytest

import genlib


def test_profile_from_environment(monkeypatch):
    for name in ("smoke", "cpu", "gpu"):
        monkeypatch.setenv("GENLIB_PROFILE", name)
        assert genlib.profile() == name


def test_profile_detects_without_override(monkeypatch):
    monkeypatch.delenv("GENLIB_PROFILE", raising=False)
    assert genlib.profile() in ("cpu", "gpu")


def test_bad_profile_is_named(monkeypatch):
    monkeypatch.setenv("GENLIB_PROFILE", "huge")
    with pytest.raises(ValueError, match="huge"):
        genlib.profile()


def test_budget_picks_the_profile(monkeypatch):
    monkeypatch.setenv("GENLIB_PROFILE", "smoke")
    assert genlib.budget(smoke=1, cpu=10, gpu=100) == 1
    monkeypatch.setenv("GENLIB_PROFILE", "gpu")
    assert genlib.budget(smoke=1, cpu=10, gpu=100) == 100
    with pytest.raises(TypeError):
        genlib.budget(smoke=1, cpu=10)  # every knob names its gpu size


def test_seed_makes_numpy_and_keras_repeat():
    import keras
    import numpy as np

    genlib.seed(3)
    a = np.random.rand(3), keras.ops.convert_to_numpy(keras.random.normal((3,)))
    genlib.seed(3)
    b = np.random.rand(3), keras.ops.convert_to_numpy(keras.random.normal((3,)))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_env_report_names_everything(capsys):
    report = genlib.env_report()
    out = capsys.readouterr().out
    for key in ("python", "keras", "backend", "accelerators", "profile", "data_dir"):
        assert key in report and key in out
