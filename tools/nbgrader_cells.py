"""Write nbgrader metadata into the chapter notebooks, from their exercise tags.

The chapters mark their exercises with cell tags (read by nbval, the exercise tests and
readers); nbgrader reads its own cell metadata. This tool derives the second from the
first, so the two cannot disagree:

- a code cell tagged ``solution`` (the reference answer, defining ``def name(...)``)
  becomes an nbgrader answer cell (``solution: true``, ``grade_id`` ``chNN-exK-solution``),
  with ``### BEGIN SOLUTION`` / ``### END SOLUTION`` around each function's body: the
  ``def`` line and the docstring stay, so the student edition shows the signature and
  replaces only the body with nbgrader's code stub;
- a code cell tagged ``check`` becomes a locked autograder test cell (``grade: true``,
  ``chNN-exK-check``) worth the points its exercise's prompt states;
- a markdown cell tagged ``written`` (a reference answer for the teacher) becomes a
  manually graded answer cell (``solution: true, grade: true``, ``chNN-exK-written``),
  which the student edition blanks.

The prompt of an exercise is the nearest markdown cell above it (not itself ``written``);
its last "Exercise K" and the "P points" after it give the number and the points. A prompt
without them is an error naming the cell: the tool never guesses points.

Usage (from the repository root)::

    python tools/nbgrader_cells.py            # update every chapter in place
    python tools/nbgrader_cells.py --check    # exit 1 if a chapter is out of sync
    python tools/nbgrader_cells.py chapters/07_evaluation.ipynb

Running it twice changes nothing. Cell outputs are not touched.
"""

import argparse
import ast
import io
import json
import re
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
TAGS = ("solution", "check", "written")
EXERCISE = re.compile(r"Exercise\s+(\d+)")
POINTS = re.compile(r"(\d+(?:\.\d+)?)\s+points?\b")
# A teacher's reference answer in an ordinary markdown cell would be handed to students.
TEACHER_ONLY = re.compile(r"for teachers", re.I)


class ExerciseError(ValueError):
    """A chapter's exercise cells do not follow the convention; the message names the cell."""


def read_notebook(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def dumps_notebook(nb):
    """The repository's notebook format (what nbtool and Jupyter write)."""
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def _source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _set_source(cell, text):
    cell["source"] = text.splitlines(keepends=True)


def _tags(cell):
    return [t for t in cell.get("metadata", {}).get("tags", []) if t in TAGS]


def chapter_id(name):
    """``ch07`` for ``07_evaluation.ipynb``; the notebook's stem otherwise."""
    stem = Path(name).stem
    m = re.match(r"(\d+)_", stem)
    return f"ch{m.group(1)}" if m else stem


def _where(name, index, cell):
    first = next((line for line in _source(cell).splitlines() if line.strip()), "(empty)")
    return f"{name}, cell {index} ({first.strip()[:60]!r})"


def parse_prompt(text, where):
    """(exercise number, points) from a prompt's last "Exercise K" and the "P points" after it."""
    numbers = list(EXERCISE.finditer(text))
    if not numbers:
        raise ExerciseError(f"{where}: the prompt above this exercise cell says no 'Exercise K'")
    last = numbers[-1]
    points = POINTS.search(text, last.end())
    if not points:
        raise ExerciseError(f"{where}: the prompt of Exercise {last.group(1)} states no points "
                            f"(write e.g. '(3 points, medium)')")
    value = float(points.group(1))
    return int(last.group(1)), int(value) if value.is_integer() else value


def strip_markers(text):
    return "".join(line for line in text.splitlines(keepends=True) if line.strip() not in (BEGIN, END))


def _header_end(lines, func):
    """1-based line of the ``:`` that ends ``func``'s ``def`` header."""
    depth = 0
    readline = io.StringIO("".join(lines[func.lineno - 1:])).readline
    for tok in tokenize.generate_tokens(readline):
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        elif tok.type == tokenize.OP and tok.string == ":" and depth == 0:
            return func.lineno + tok.start[0] - 1
    raise AssertionError("no end of def header")


def mark_solution(text, where):
    """``text`` with BEGIN/END SOLUTION around the body of each top-level function."""
    text = strip_markers(text).rstrip("\n")
    try:
        tree = ast.parse(text)
    except SyntaxError as err:
        raise ExerciseError(f"{where}: the solution does not parse: {err}") from None
    funcs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if not funcs:
        raise ExerciseError(f"{where}: a `solution` cell must define the answer as a function "
                            "(def name(...)); this one defines none")
    lines = [line + "\n" for line in text.split("\n")]
    inserts = []                                  # (0-based line index, marker line)
    for func in funcs:
        header = _header_end(lines, func)
        body = func.body
        if body[0].lineno <= header:
            raise ExerciseError(f"{where}: put the body of {func.name}() on its own lines")
        start = header                            # region starts after the header ...
        doc = body[0]
        if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str):
            if len(body) == 1:
                raise ExerciseError(f"{where}: {func.name}() has a docstring and no body")
            start = doc.end_lineno                # ... or after its docstring
        end = func.end_lineno
        # indented comments after the last statement belong to the body
        while end < len(lines) and (lines[end].strip() == "" or lines[end][:1] in " \t"):
            end += 1
        while lines[end - 1].strip() == "":
            end -= 1
        first = next(line for line in lines[start:end] if line.strip())
        indent = first[:len(first) - len(first.lstrip())]
        inserts += [(start, f"{indent}{BEGIN}\n"), (end, f"{indent}{END}\n")]
    for index, marker in sorted(inserts, reverse=True):
        lines.insert(index, marker)
    return "".join(lines).rstrip("\n")


def _nbgrader(grade_id, solution, grade, locked, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked}
    if points is not None:
        meta["points"] = points
    meta.update({"schema_version": 3, "solution": solution, "task": False})
    return meta


def exercises(nb, name):
    """The graded cells of a notebook: a list of dicts (index, kind, grade_id, exercise, points).

    Raises :class:`ExerciseError` naming the cell when the convention is broken.
    """
    chapter = chapter_id(name)
    cells = nb["cells"]
    found, seen, pending = [], set(), None        # pending: the solution awaiting its check
    for index, cell in enumerate(cells):
        tags = _tags(cell)
        where = _where(name, index, cell)
        if cell["cell_type"] == "markdown" and "written" not in tags and TEACHER_ONLY.search(_source(cell)):
            raise ExerciseError(f"{where}: holds an answer for teachers in an ordinary markdown cell, "
                                "which the student edition would show; move it into a markdown cell "
                                "tagged `written`")
        if not tags:
            continue
        if len(tags) > 1:
            raise ExerciseError(f"{where}: has the tags {tags}; an exercise cell has one of {TAGS}")
        kind = tags[0]
        wanted = "markdown" if kind == "written" else "code"
        if cell["cell_type"] != wanted:
            raise ExerciseError(f"{where}: a cell tagged `{kind}` must be a {wanted} cell")
        prompt = next((i for i in range(index - 1, -1, -1) if cells[i]["cell_type"] == "markdown"
                       and "written" not in _tags(cells[i])), None)
        if prompt is None:
            raise ExerciseError(f"{where}: no markdown prompt above this exercise cell")
        number, points = parse_prompt(_source(cells[prompt]), _where(name, prompt, cells[prompt]))
        if kind == "check":
            if pending is None or pending["exercise"] != number:
                raise ExerciseError(f"{where}: a `check` cell must follow the `solution` cell of its exercise")
            pending = None
        elif pending is not None:
            raise ExerciseError(f"{_where(name, pending['index'], cells[pending['index']])}: "
                                "this `solution` cell has no `check` cell after it")
        grade_id = f"{chapter}-ex{number}-{kind}"
        if grade_id in seen:
            raise ExerciseError(f"{where}: a second `{kind}` cell for Exercise {number} (grade_id {grade_id})")
        if kind != "solution" and ({f"{chapter}-ex{number}-check", f"{chapter}-ex{number}-written"} & seen):
            raise ExerciseError(f"{where}: Exercise {number} has both a check and a written answer; "
                                "give the written part its own exercise number and points")
        seen.add(grade_id)
        entry = {"index": index, "kind": kind, "grade_id": grade_id, "exercise": number, "points": points}
        found.append(entry)
        if kind == "solution":
            pending = entry
    if pending is not None:
        raise ExerciseError(f"{_where(name, pending['index'], cells[pending['index']])}: "
                            "this `solution` cell has no `check` cell after it")
    return found


def annotate(nb, name):
    """A copy of ``nb`` with nbgrader metadata and solution markers from the exercise tags."""
    nb = json.loads(json.dumps(nb))
    graded = {e["index"]: e for e in exercises(nb, name)}
    for index, cell in enumerate(nb["cells"]):
        meta = cell.setdefault("metadata", {})
        entry = graded.get(index)
        if entry is None:
            if "nbgrader" in meta:                # a tag was removed: so is the metadata
                del meta["nbgrader"]
                if cell["cell_type"] == "code":
                    _set_source(cell, strip_markers(_source(cell)))
            continue
        where = _where(name, index, cell)
        if entry["kind"] == "solution":
            _set_source(cell, mark_solution(_source(cell), where))
            meta["nbgrader"] = _nbgrader(entry["grade_id"], solution=True, grade=False, locked=False)
        elif entry["kind"] == "check":
            if BEGIN in _source(cell) or END in _source(cell):
                raise ExerciseError(f"{where}: a check cell must not hold solution markers")
            meta["nbgrader"] = _nbgrader(entry["grade_id"], solution=False, grade=True, locked=True,
                                         points=entry["points"])
        else:
            meta["nbgrader"] = _nbgrader(entry["grade_id"], solution=True, grade=True, locked=False,
                                         points=entry["points"])
    return nb


def sync(path, check=False):
    """Annotate one notebook; return True if it was (or, with ``check``, would be) changed."""
    path = Path(path)
    raw = path.read_text(encoding="utf-8")
    new = dumps_notebook(annotate(json.loads(raw), path.name))
    if new == raw:
        return False
    if not check:
        path.write_text(new, encoding="utf-8")
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: chapters/*.ipynb")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook is out of sync")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted(CHAPTERS.glob("*.ipynb"))
    changed, failed = [], []
    for path in notebooks:
        try:
            if sync(path, check=args.check):
                changed.append(path)
        except ExerciseError as err:
            failed.append(str(err))
    for message in failed:
        print(f"error: {message}", file=sys.stderr)
    for path in changed:
        print(f"{'out of sync' if args.check else 'updated'}: {path}")
    if args.check and changed:
        print("run `python tools/nbgrader_cells.py` to write the nbgrader metadata", file=sys.stderr)
    return 1 if failed or (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
