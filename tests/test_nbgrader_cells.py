"""tools/nbgrader_cells.py: every chapter's nbgrader metadata matches its exercise tags."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from nbgrader_cells import BEGIN, END, ExerciseError, annotate, dumps_notebook, main, mark_solution  # noqa: E402

CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_is_in_sync(chapter, capsys):
    assert main(["--check", str(chapter)]) == 0, capsys.readouterr()


def _nb(*cells):
    out = []
    for kind, text, *tags in cells:
        cell = {"cell_type": kind, "id": f"c{len(out)}", "metadata": {"tags": tags} if tags else {},
                "source": text.splitlines(keepends=True)}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        out.append(cell)
    return {"cells": out, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


SOLUTION = '''import numpy as np


@np.vectorize
def f(a,
      b=(1, 2)):
    """Docstring stays."""
    # a comment in the body goes with the body
    c = a + b[0]
    return c
    # so does a trailing one

def g(x):
    return x'''


def test_markers_wrap_each_function_body_only():
    marked = mark_solution(SOLUTION, "here")
    lines = marked.split("\n")
    assert lines[lines.index('    """Docstring stays."""') + 1] == "    " + BEGIN
    assert lines[lines.index("    # so does a trailing one") + 1] == "    " + END
    assert lines[lines.index("def g(x):") + 1] == "    " + BEGIN and lines[-1] == "    " + END
    assert marked.count(BEGIN) == marked.count(END) == 2
    ast.parse(marked)                                   # still runs: the markers are comments
    assert mark_solution(marked, "here") == marked      # idempotent


def test_annotate_writes_metadata_and_is_idempotent():
    nb = _nb(("markdown", "## Exercises\n\n**Exercise 2** (3 points, medium): write f."),
             ("code", "def f(x):\n    return x + 1", "solution"),
             ("code", "assert f(1) == 2", "check"),
             ("markdown", "### Exercise 3: why? (1.5 points, easy, written)"),
             ("markdown", "Because.", "written"))
    nb["cells"][0]["metadata"]["nbgrader"] = {}         # stale metadata on an untagged cell goes
    once = annotate(nb, "07_x.ipynb")
    assert dumps_notebook(annotate(once, "07_x.ipynb")) == dumps_notebook(once)
    meta = [c["metadata"].get("nbgrader") for c in once["cells"]]
    assert meta[0] is None
    assert meta[1]["grade_id"] == "ch07-ex2-solution" and meta[1]["solution"] and not meta[1]["grade"]
    assert meta[2] == {"grade": True, "grade_id": "ch07-ex2-check", "locked": True, "points": 3,
                       "schema_version": 3, "solution": False, "task": False}
    assert meta[4]["grade_id"] == "ch07-ex3-written" and meta[4]["points"] == 1.5
    assert meta[4]["solution"] and meta[4]["grade"] and not meta[4]["locked"]
    assert "".join(once["cells"][1]["source"]) == f"def f(x):\n    {BEGIN}\n    return x + 1\n    {END}"


@pytest.mark.parametrize("cells, message", [
    ([("markdown", "**Exercise 1**: write f."), ("code", "def f():\n    pass", "solution"),
      ("code", "f()", "check")], "cell 0 .* states no points"),
    ([("markdown", "Write f (2 points)."), ("code", "def f():\n    pass", "solution")], "no 'Exercise K'"),
    ([("markdown", "**Exercise 1** (2 points)"), ("code", "x = 1", "solution"), ("code", "x", "check")],
     "cell 1 .* defines none"),
    ([("markdown", "**Exercise 1** (2 points)"), ("code", "def f():\n    pass", "solution")], "no `check` cell"),
    ([("markdown", "**Exercise 1** (2 points)\n\n*Reference answer (for teachers).* ...")], "tagged `written`"),
])
def test_broken_conventions_fail_naming_the_cell(cells, message):
    with pytest.raises(ExerciseError, match=message):
        annotate(_nb(*cells), "03_y.ipynb")
