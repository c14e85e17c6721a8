"""Keep the notebooks that nbval executes: the book's only way of running a chapter.

`make test` runs every chapter under nbval already; running them a second time for the
book would double CI's longest step. This pytest plugin (loaded by the repository's root
conftest.py) does nothing unless ``GENLIB_EXECUTED=<dir>`` is set. Then it collects each
nbval cell item's outputs (``item.test_outputs``: nbformat output nodes built from the
kernel's messages) and, once every code cell of a notebook has passed, writes the
executed notebook, outputs and sequential execution counts on the code cells, to
``<dir>/<name>.ipynb`` with the cache key of :func:`cache_key` in its metadata
(``metadata.genlib_book``). A notebook with a failing, timed-out or unrun cell is not
written (an older copy with another key is left alone: its key no longer matches).

Only notebooks in a folder named ``chapters`` are captured, so tests that run nbval on
edited copies elsewhere cannot overwrite a chapter's executed copy.

Under pytest-xdist (``-n 2 --dist loadscope``) a notebook's cells all run on one worker,
and each worker writes the notebooks it ran. ``tools/book.py`` (``make book``) reuses an
executed notebook when its key equals the key of the current sources.
"""

import hashlib
import json
import os
from pathlib import Path

ENV = "GENLIB_EXECUTED"
ROOT = Path(__file__).resolve().parents[1]
# bump when what is written changes, so that older executed copies become stale
FORMAT = 1
META = "genlib_book"


def keras_backend():
    """The Keras backend a kernel started now would use: ``$KERAS_BACKEND``, else
    ``~/.keras/keras.json``'s ``backend``, else ``"tensorflow"`` (Keras's default)."""
    name = os.environ.get("KERAS_BACKEND", "").strip()
    if name:
        return name
    config = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "keras.json"
    try:
        return json.loads(config.read_text()).get("backend") or "tensorflow"
    except (OSError, ValueError):
        return "tensorflow"


def run_profile():
    """``$GENLIB_PROFILE`` (lower case), or ``"auto"`` when unset (genlib then detects it)."""
    return os.environ.get("GENLIB_PROFILE", "").strip().lower() or "auto"


def cache_key(notebook, profile, backend, root=ROOT):
    """SHA-256 over everything an executed chapter depends on that the repository holds:
    the notebook file's bytes, every ``genlib/**/*.py`` (path and bytes, in sorted order),
    the run profile and the Keras backend (and this module's :data:`FORMAT`)."""
    root = Path(root)
    digest = hashlib.sha256()

    def part(label, data):
        digest.update(label.encode() + b"\0" + len(data).to_bytes(8, "big") + data)

    part("format", str(FORMAT).encode())
    part("notebook", Path(notebook).read_bytes())
    for path in sorted((root / "genlib").rglob("*.py")):
        part("genlib/" + path.relative_to(root / "genlib").as_posix(), path.read_bytes())
    part("profile", str(profile).encode())
    part("backend", str(backend).encode())
    return digest.hexdigest()


def stored_key(executed):
    """The cache key written into an executed notebook, or None (missing, unreadable)."""
    try:
        meta = json.loads(Path(executed).read_text(encoding="utf-8"))["metadata"]
        return meta[META]["cache_key"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def executed_notebook(source, cell_outputs, metadata):
    """The notebook ``source`` (a path) with the outputs filled in.

    ``cell_outputs`` maps the index of a code cell (counting code cells only, as nbval's
    ``cell_num`` does) to its list of output nodes, or to None for a skipped cell. Code
    cells get execution counts 1, 2, ... in order; skipped cells get none.
    """
    import nbformat

    nb = nbformat.read(str(source), as_version=4)
    count = 0
    code_index = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outs = cell_outputs.get(code_index)
        code_index += 1
        if outs is None:
            cell.outputs, cell.execution_count = [], None
            continue
        count += 1
        cell.execution_count = count
        cell.outputs = []
        for out in outs:
            kind = out.get("output_type")
            fields = {k: v for k, v in out.items() if k != "output_type"}
            if kind == "execute_result":
                fields["execution_count"] = count
                fields.setdefault("metadata", {})
            elif kind == "display_data":
                fields.pop("execution_count", None)
                fields.setdefault("metadata", {})
            elif kind not in ("stream", "error"):
                continue
            cell.outputs.append(nbformat.v4.new_output(kind, **fields))
    nb.metadata[META] = dict(metadata)
    # Sphinx picks the code cells' highlighting from this; a notebook saved without it
    # would warn (and -W fail the book)
    nb.metadata.setdefault("language_info", {"name": "python", "pygments_lexer": "ipython3"})
    nbformat.validate(nb)
    return nb


def write_notebook(nb, dest):
    """Write atomically (a reader never sees half a file)."""
    import nbformat

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    nbformat.write(nb, str(tmp))
    os.replace(tmp, dest)


# --- the pytest hooks ----------------------------------------------------------------

_state = {}  # notebook path -> {"cells": {cell_num: outputs or None}, "failed": bool}


def _target_dir():
    raw = os.environ.get(ENV, "").strip()
    return Path(raw).resolve() if raw else None


def _n_code_cells(nb):
    return sum(1 for cell in nb.cells if cell.cell_type == "code")


def pytest_configure(config):
    # resolve once, from the directory pytest started in (the kernels run elsewhere)
    target = _target_dir()
    if target is not None:
        os.environ[ENV] = str(target)


def _finish(path, parent, state, target):
    source = Path(path)
    n = _n_code_cells(parent.nb)
    if state["failed"] or set(state["cells"]) != set(range(n)):
        return
    profile, backend = run_profile(), keras_backend()
    meta = {"cache_key": cache_key(source, profile, backend), "profile": profile, "backend": backend,
            "executed_by": "nbval (tools/nbval_capture.py)"}
    nb = executed_notebook(source, state["cells"], meta)
    write_notebook(nb, target / source.name)


try:
    import pytest
except ImportError:  # imported by tools/book.py outside pytest: the helpers above suffice
    pytest = None

if pytest is not None:

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(item, call):
        outcome = yield
        target = _target_dir()
        parent = getattr(item, "parent", None)
        if target is None or not hasattr(item, "cell_num") or getattr(parent, "nb", None) is None:
            return
        path = str(parent.fspath)
        if Path(path).parent.name != "chapters":
            return
        report = outcome.get_result()
        state = _state.setdefault(path, {"cells": {}, "failed": False})
        if report.failed or hasattr(report, "wasxfail"):
            state["failed"] = True
        elif report.when == "call":
            state["cells"][item.cell_num] = None if report.skipped else list(getattr(item, "test_outputs", None) or [])
        if report.when == "teardown" and item.cell_num == _n_code_cells(parent.nb) - 1:
            try:
                _finish(path, parent, _state.pop(path), target)
            except Exception as error:  # never turn a passing test run red
                print(f"\n[nbval_capture] could not write {Path(path).name}: {error}")
