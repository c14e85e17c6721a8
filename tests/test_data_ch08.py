"""Chapter 08's data loaders: the MOSES molecules (two files out of a wheel) and the Bach
chorales (encoded from music21's corpus). No test here touches the network: the wheel
download and the encoder are replaced by fakes with known bytes."""

import builtins
import gzip
import hashlib
import io
import zipfile

import numpy as np
import pytest

from genlib import data


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLIB_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "_wheels", {})
    return tmp_path / "cache"


def _csv_gz(lines):
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as f:
        f.write(("\n".join(["SMILES", *lines]) + "\n").encode())
    return buffer.getvalue()


@pytest.fixture
def fake_wheel(cache, tmp_path, monkeypatch):
    """A stand-in molsets wheel with the two MOSES files; counts the downloads."""
    members = {"moses/dataset/data/train.csv.gz": _csv_gz(["CCO", "c1ccccc1", "CC(=O)O"]),
               "moses/dataset/data/test.csv.gz": _csv_gz(["CCN"])}
    downloads = []

    def pip_download(requirement, dest_dir, binary):
        assert requirement == data.MOSES_WHEEL and binary
        downloads.append(requirement)
        wheel = tmp_path / f"wheel{len(downloads)}" / "molsets-0.3.1-py3-none-any.whl"
        wheel.parent.mkdir()
        with zipfile.ZipFile(wheel, "w") as zf:
            for name, payload in members.items():
                zf.writestr(name, payload)
            zf.writestr("moses/__init__.py", "raise SystemExit('never imported')\n")
        return wheel

    monkeypatch.setattr(data, "_pip_download", pip_download)
    monkeypatch.setattr(data, "MOSES_TRAIN_SHA256", hashlib.sha256(members["moses/dataset/data/train.csv.gz"]).hexdigest())
    monkeypatch.setattr(data, "MOSES_TEST_SHA256", hashlib.sha256(members["moses/dataset/data/test.csv.gz"]).hexdigest())
    return downloads


def test_moses_takes_both_files_from_one_download(cache, fake_wheel):
    train, test = data.moses_smiles()
    assert train == ["CCO", "c1ccccc1", "CC(=O)O"] and test == ["CCN"]
    assert fake_wheel == [data.MOSES_WHEEL], "the wheel is downloaded once for both files"
    assert sorted(p.name for p in cache.iterdir()) == ["moses_test.csv.gz", "moses_train.csv.gz"]
    assert data.moses_smiles() == (train, test) and len(fake_wheel) == 1, "the cache is reused"


def test_moses_corrupt_cache_is_fetched_again(cache, fake_wheel):
    data.moses_smiles()
    (cache / "moses_train.csv.gz").write_bytes(b"half a file")
    data._wheels.clear()
    train, _ = data.moses_smiles()
    assert train[0] == "CCO" and len(fake_wheel) == 2
    assert data.sha256(cache / "moses_train.csv.gz") == data.MOSES_TRAIN_SHA256


def test_moses_checksum_is_enforced(cache, fake_wheel, monkeypatch):
    monkeypatch.setattr(data, "MOSES_TEST_SHA256", "0" * 64)
    with pytest.raises(data.DataUnavailableError) as info:
        data.moses_smiles()
    message = str(info.value)
    assert "checksum mismatch" in message and "moses_test.csv.gz" in message and "0" * 64 in message
    assert not (cache / "moses_test.csv.gz").exists()


def test_moses_offline_names_the_wheel_and_the_file(cache, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(data, "_pip_download", offline)
    with pytest.raises(data.DataUnavailableError) as info:
        data.moses_smiles()
    message = str(info.value)
    for expected in ("MOSES", "molsets==0.3.1", "network is unreachable", "moses/dataset/data/train.csv.gz",
                     str(cache / "moses_train.csv.gz"), data.MOSES_TRAIN_SHA256):
        assert expected in message


def test_pinned_moses_checksums_are_sha256():
    for sha in (data.MOSES_TRAIN_SHA256, data.MOSES_TEST_SHA256, data.CHORALES_SHA256):
        assert len(sha) == 64 and int(sha, 16) >= 0


# --- the chorales ----------------------------------------------------------------------

def _fake_encoding(dest):
    pitches = np.array([[72, 67, 64, 48], [72, 67, 64, 48], [74, 65, 62, 43], [0, 0, 0, 0]], np.uint8)
    onsets = np.array([[1, 1, 1, 1], [0, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], bool)
    with open(dest, "wb") as f:
        np.savez(f, names=np.array(["bwv0.1", "bwv0.2"]), pitches=np.concatenate([pitches, pitches[:2]]),
                 onsets=np.concatenate([onsets, onsets[:2]]), lengths=np.array([4, 2]))


@pytest.fixture
def fake_encoder(cache, tmp_path, monkeypatch):
    _fake_encoding(tmp_path / "reference.npz")
    sha = data.sha256(tmp_path / "reference.npz")
    calls = []

    def encode(dest):
        calls.append(dest)
        _fake_encoding(dest)

    source = data.Source("music21's corpus (encoded here)", data.CHORALES_FILE, sha, encode)
    monkeypatch.setattr(data, "CHORALES_SOURCES", (source,))
    return calls


def test_chorales_are_encoded_once_and_split(cache, fake_encoder):
    chorales = data.bach_chorales()
    assert [c.name for c in chorales] == ["bwv0.1", "bwv0.2"]
    assert chorales[0].pitches.shape == (4, 4) and chorales[1].pitches.shape == (2, 4)
    assert chorales[0].pitches[2, 0] == 74 and not chorales[0].onsets[1, 0]
    data.bach_chorales()
    assert len(fake_encoder) == 1, "a verified cached encoding is not made again"


def test_chorales_corrupt_cache_is_encoded_again(cache, fake_encoder):
    data.bach_chorales()
    (cache / data.CHORALES_FILE).write_bytes(b"not an npz")
    assert len(data.bach_chorales()) == 2
    assert len(fake_encoder) == 2


def test_missing_music21_gives_a_clear_message(cache, monkeypatch):
    real_import = builtins.__import__

    def no_music21(name, *args, **kwargs):
        if name == "music21" or name.startswith("music21."):
            raise ModuleNotFoundError("No module named 'music21'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_music21)
    with pytest.raises(data.DataUnavailableError) as info:
        data.bach_chorales()
    message = str(info.value)
    assert "music21" in message and f"pip install music21=={data.MUSIC21_VERSION}" in message
    assert str(cache / data.CHORALES_FILE) in message


def test_other_music21_version_is_reported(cache, monkeypatch):
    import types

    monkeypatch.setattr(data, "_import_music21", lambda: types.SimpleNamespace(__version__="0.0.1"))
    with pytest.raises(data.DataUnavailableError) as info:
        data.bach_chorales()
    assert "music21 0.0.1" in str(info.value) and data.MUSIC21_VERSION in str(info.value)


def test_prepare_includes_the_new_datasets(monkeypatch):
    loaded = []
    for name in ("mnist", "shakespeare", "moses_smiles", "bach_chorales"):
        monkeypatch.setattr(data, name, lambda name=name: loaded.append(name))
    data.prepare()
    assert loaded == ["mnist", "shakespeare", "moses_smiles", "bach_chorales"]


# The real data (cached by `make data`, which `make test` runs first).

def test_moses_real():
    train, test = data.moses_smiles()
    assert len(train) == 1_584_663 and len(test) == 176_074
    assert train[0] == "CCCS(=O)c1ccc2[nH]c(=NC(=O)OC)[nH]c2c1"
    assert len(set("".join(train[:20000]))) <= 26 and max(map(len, test)) <= 57


def test_chorales_real():
    chorales = data.bach_chorales()
    assert len(chorales) == 405 and chorales[0].name == "bwv1.6"
    pitches = np.concatenate([c.pitches for c in chorales])
    assert pitches.shape == (45755, 4)
    sounding = pitches[pitches > 0]
    assert 36 <= sounding.min() and sounding.max() <= 81
    # the soprano sings above the bass in (almost) every frame where both sound
    both = (pitches[:, 0] > 0) & (pitches[:, 3] > 0)
    assert (pitches[both, 0] > pitches[both, 3]).mean() > 0.99
