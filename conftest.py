"""Repository-wide pytest hooks: the book's capture of executed chapters.

``tools/nbval_capture.py`` writes each chapter that nbval ran to ``$GENLIB_EXECUTED``
(``make test`` sets it; nothing happens without it). See that module and ``make book``.
"""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "genlib_nbval_capture", Path(__file__).resolve().parent / "tools" / "nbval_capture.py")
_capture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_capture)

pytest_configure = _capture.pytest_configure
pytest_runtest_makereport = _capture.pytest_runtest_makereport
