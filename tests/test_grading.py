"""`make student` and `make grade` end to end, with nbgrader, on a small real chapter.

The notebook graded here is chapter 07 cut down to its setup cells (imports and
parameters, no training) and its Exercises section: four autograded exercises (10 points)
and one written answer (3 points, graded by hand). Grading the whole chapter would train
its models three times over; the exercise cells are the same cells, and their checks
build their own fixtures, so the cut-down notebook grades exactly as the chapter would,
in about a minute on two cores. Three submissions are graded:

- ``reference``: the teacher's version, solutions in place: every autograded point;
- ``untouched``: the student edition as handed out (stubs): no point;
- ``wrong``: exercise 1 answered with a plausible wrong answer (no log-sum-exp shift, so
  it overflows) and its check cell edited to always pass (nbgrader restores it from the
  release version); exercise 2 answered correctly but its check cell deleted (that
  exercise gets 0); exercise 3 an answer that never returns (the per-cell time limit
  interrupts it: 0 for that exercise only); exercise 4 correct (3 points, so grading
  went on after the loop).
"""

import csv
import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import nbgrader_cells  # noqa: E402
import nbgrader_course  # noqa: E402

pytest.importorskip("nbgrader")
# Grading does not depend on the Keras backend: it runs once in CI, in `make test`, and
# not again for each backend of `make test-backends` (which sets KERAS_BACKEND).
pytestmark = pytest.mark.skipif("KERAS_BACKEND" in os.environ,
                                reason="backend-independent: runs in `make test`, without KERAS_BACKEND")

CHAPTER = "07_evaluation"
TIMEOUT = 30            # seconds per cell: the imports cell must fit in it on a busy CI machine
STUB = 'raise NotImplementedError("your answer'


def small_chapter(path):
    """Chapter 07's setup cells and its Exercises section, as a notebook at ``path``."""
    nb = nbgrader_cells.read_notebook(ROOT / "chapters" / f"{CHAPTER}.ipynb")
    sources = ["".join(c["source"]) for c in nb["cells"]]
    background = next(i for i, s in enumerate(sources) if s.startswith("## Background"))
    exercises = next(i for i, s in enumerate(sources) if "\n## Exercises" in s or s.startswith("## Exercises"))
    summary = next(i for i, s in enumerate(sources) if s.startswith("## Summary"))
    nb["cells"] = nb["cells"][:background] + nb["cells"][exercises:summary]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbgrader_cells.dumps_notebook(nb), encoding="utf-8")
    return path


def _cell(nb, grade_id):
    return next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def _answer(cell, body):
    """The student's answer: the stub line of a released solution cell replaced by ``body``."""
    lines = "".join(cell["source"]).split("\n")
    stub = next(i for i, line in enumerate(lines) if STUB in line)
    lines[stub:stub + 1] = ["    " + line for line in body.strip("\n").split("\n")]
    cell["source"] = "\n".join(lines).splitlines(keepends=True)


def _reference_body(source_nb, grade_id):
    text = "".join(_cell(source_nb, grade_id)["source"])
    body = text.split(nbgrader_cells.BEGIN + "\n")[1].split(nbgrader_cells.END)[0]
    return "\n".join(line[4:] for line in body.rstrip().split("\n"))


def build_submissions(folder, source_path, released_path):
    source = nbgrader_cells.annotate(nbgrader_cells.read_notebook(source_path), source_path.name)
    released = nbgrader_cells.read_notebook(released_path)
    wrong = json.loads(json.dumps(released))
    _answer(_cell(wrong, "ch07-ex1-solution"),
            "return -np.log(np.mean(np.exp(np.asarray(log_w, dtype=np.float64)), axis=1))")
    _cell(wrong, "ch07-ex1-check")["source"] = ['print("exercise 1: correct")']
    _answer(_cell(wrong, "ch07-ex2-solution"), _reference_body(source, "ch07-ex2-solution"))
    wrong["cells"].remove(_cell(wrong, "ch07-ex2-check"))
    _answer(_cell(wrong, "ch07-ex3-solution"), "while True:\n    pass")
    _answer(_cell(wrong, "ch07-ex4-solution"), _reference_body(source, "ch07-ex4-solution"))
    _cell(wrong, "ch07-ex5-written")["source"] = ["Inception-v3 features describe photographs, not digits."]
    for student, nb in (("reference", source), ("untouched", released), ("wrong", wrong)):
        (folder / student).mkdir(parents=True)
        (folder / student / f"{CHAPTER}.ipynb").write_text(nbgrader_cells.dumps_notebook(nb), encoding="utf-8")


def _snapshot(folder):
    """Every path under ``folder`` with its bytes' hash (folders as None)."""
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


def test_student_edition_and_exact_grades(tmp_path, capsys):
    chapters, course, out = tmp_path / "chapters", tmp_path / "course", tmp_path / "student"
    source_path = small_chapter(chapters / f"{CHAPTER}.ipynb")
    nbgrader_course.main(["--course-dir", str(course), "student", "--out", str(out), str(source_path)])
    released_path = out / f"{CHAPTER}.ipynb"
    released = nbgrader_cells.read_notebook(released_path)
    text = "\n".join("".join(c["source"]) for c in released["cells"])
    assert "BEGIN SOLUTION" not in text and "for teachers" not in text
    assert text.count(STUB) == 4
    assert _cell(released, "ch07-ex1-check")["metadata"]["editable"] is False
    source = nbgrader_cells.read_notebook(source_path)
    kept = [["".join(c["source"]) for c in nb["cells"] if not c["metadata"].get("nbgrader", {}).get("solution")]
            for nb in (source, released)]
    assert kept[0] == kept[1], "the teaching and check cells are handed out as they are"

    submissions = tmp_path / "submissions"
    build_submissions(submissions, source_path, released_path)
    before = _snapshot(submissions)
    grades = tmp_path / "grades.csv"
    nbgrader_course.main(["--course-dir", str(course), "grade", str(submissions), "--csv", str(grades),
                          "--chapters-dir", str(chapters), "--timeout", str(TIMEOUT)])
    assert _snapshot(submissions) == before, "grading changed the submissions folder"

    rows = list(csv.DictReader(grades.open()))
    got = {(r["student"], r["grade_id"].split("-")[1]): (r["points"], r["max_points"], r["status"]) for r in rows}
    auto = "autograded"
    expected = {
        ("reference", "ex1"): ("2.0", "2.0", auto), ("reference", "ex2"): ("3.0", "3.0", auto),
        ("reference", "ex3"): ("2.0", "2.0", auto), ("reference", "ex4"): ("3.0", "3.0", auto),
        ("reference", "ex5"): ("", "3.0", "to grade by hand"),
        ("untouched", "ex1"): ("0.0", "2.0", auto), ("untouched", "ex2"): ("0.0", "3.0", auto),
        ("untouched", "ex3"): ("0.0", "2.0", auto), ("untouched", "ex4"): ("0.0", "3.0", auto),
        ("untouched", "ex5"): ("0.0", "3.0", auto),                 # a blank written answer: 0, no hand grading
        ("wrong", "ex1"): ("0.0", "2.0", auto),                     # wrong answer; its edited check restored
        ("wrong", "ex2"): ("0.0", "3.0", "test cell deleted"),      # right answer, check deleted
        ("wrong", "ex3"): ("0.0", "2.0", auto),                     # never returns: interrupted at the limit
        ("wrong", "ex4"): ("3.0", "3.0", auto),                     # graded after the interrupted cell
        ("wrong", "ex5"): ("", "3.0", "to grade by hand"),
    }
    assert got == expected
    assert [r["chapter"] for r in rows] == [CHAPTER] * 15
    table = capsys.readouterr().out
    assert "10/10" in table and "3/10" in table
