"""The course as an nbgrader course: `make student` and `make grade` run this.

    python tools/nbgrader_course.py student [--out student] [CHAPTER.ipynb ...]
    python tools/nbgrader_course.py grade SUBMISSIONS [--csv grades.csv] [--timeout 120]

``student`` copies each chapter, with the nbgrader metadata of tools/nbgrader_cells.py,
into an nbgrader course directory (default build/course, ignored by git) as the source
of an assignment named like the chapter (``07_evaluation``), runs ``nbgrader
generate_assignment`` on it, and copies the release version to ``--out``: solutions
replaced by the stub of nbgrader_config.py, check cells locked, written answers blanked.

``grade`` autogrades a folder laid out as ``SUBMISSIONS/<student>/<chapter>.ipynb``
(the file name as handed out, e.g. ``alice/07_evaluation.ipynb``). The submissions are
copied into the course directory and never modified. ``nbgrader autograde`` runs each
notebook in a fresh kernel with a time limit per cell, restores edited test cells from
the release version, and gives a deleted test cell's exercise 0 points. The points come
from nbgrader's gradebook and go to a CSV (student, chapter, grade_id, points,
max_points, status) and a table. Grading runs in GENLIB_PROFILE=smoke unless the
environment sets another profile.
"""

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbgrader_cells import CHAPTERS, ROOT, ExerciseError, annotate, dumps_notebook, exercises, read_notebook  # noqa: E402

COURSE = ROOT / "build" / "course"
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# nbgrader runs the `alembic` command of its environment, which need not be on PATH
# (`make` calls .venv/bin/python without activating the environment).
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def nbgrader(*args, course, env=None):
    """Run one nbgrader command on ``course``, with the repository's nbgrader_config.py."""
    cmd = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"nbgrader {args[0]} failed (exit {result.returncode}): {' '.join(cmd)}")
    return result.stdout + result.stderr


def release(chapter, course=COURSE, force=True):
    """Generate the student version of one chapter notebook; return its path in release/."""
    chapter = Path(chapter)
    name = chapter.stem
    source = Path(course) / "source" / name / f"{name}.ipynb"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(dumps_notebook(annotate(read_notebook(chapter), chapter.name)), encoding="utf-8")
    nbgrader("generate_assignment", name, *(["--force"] if force else []), course=course)
    released = Path(course) / "release" / name / f"{name}.ipynb"
    assert released.exists(), released
    return released


def student_edition(chapters, out, course=COURSE):
    """Release every chapter and copy the student editions into ``out``."""
    out = Path(out)
    errors = []
    for chapter in chapters:                     # every chapter's convention first, then nbgrader
        try:
            exercises(read_notebook(chapter), Path(chapter).name)
        except ExerciseError as err:
            errors.append(f"error: {err}")
    if errors:
        raise SystemExit("\n".join(errors + ["no student edition written: fix the prompts above "
                                              "(or name the chapters to release: make student CHAPTERS=...)"]))
    out.mkdir(parents=True, exist_ok=True)
    for chapter in chapters:
        graded = [e for e in exercises(read_notebook(chapter), Path(chapter).name) if e["kind"] != "solution"]
        shutil.copyfile(release(chapter, course), out / Path(chapter).name)
        auto = sum(e["points"] for e in graded if e["kind"] == "check")
        manual = sum(e["points"] for e in graded if e["kind"] == "written")
        print(f"{out / Path(chapter).name}: {len(graded)} graded cells, {auto} points autograded, "
              f"{manual} graded by hand")


def collect(submissions, chapters_dir=CHAPTERS):
    """{(student, chapter stem): path} of a SUBMISSIONS/<student>/<chapter>.ipynb folder."""
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise SystemExit(f"no folder {submissions}: expected SUBMISSIONS/<student>/<chapter>.ipynb")
    known = {p.stem for p in Path(chapters_dir).glob("*.ipynb")}
    found = {}
    for folder in sorted(p for p in submissions.iterdir() if p.is_dir()):
        if not STUDENT_ID.fullmatch(folder.name):
            print(f"skipped {folder}: a student id is letters, digits, '_', '.', '-'", file=sys.stderr)
            continue
        for notebook in sorted(folder.glob("*.ipynb")):
            if notebook.stem in known:
                found[folder.name, notebook.stem] = notebook
            else:
                print(f"skipped {notebook}: not a chapter of {chapters_dir}", file=sys.stderr)
    if not found:
        raise SystemExit(f"no submissions in {submissions}: expected SUBMISSIONS/<student>/<chapter>.ipynb")
    return found


def autograde(submissions, course=COURSE, chapters_dir=CHAPTERS, timeout=120, profile=None):
    """Autograde a submissions folder; return the rows of grades.csv (a list of dicts)."""
    course = Path(course)
    found = collect(submissions, chapters_dir)
    chapters = sorted({chapter for _, chapter in found})
    for chapter in chapters:                 # the version handed out, or a new one if none
        if not (course / "release" / chapter / f"{chapter}.ipynb").exists():
            release(Path(chapters_dir) / f"{chapter}.ipynb", course)
    for (student, chapter), notebook in found.items():
        target = course / "submitted" / student / chapter
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        shutil.copyfile(notebook, target / f"{chapter}.ipynb")    # read only: the original stays as it was
    env = dict(os.environ, GENLIB_PROFILE=profile or os.environ.get("GENLIB_PROFILE", "smoke"),
               GENLIB_GRADE_TIMEOUT=str(timeout))
    failed = set()
    for (student, chapter) in sorted(found):
        print(f"grading {student}/{chapter}.ipynb (GENLIB_PROFILE={env['GENLIB_PROFILE']}, "
              f"{timeout} s per cell)", flush=True)
        try:
            nbgrader("autograde", chapter, f"--student={student}", "--force", f"--Execute.timeout={timeout}",
                     course=course, env=env)
        except SystemExit as err:            # an unreadable notebook: 0 for it, the others still graded
            print(f"could not grade {student}/{chapter}.ipynb: {err}", file=sys.stderr)
            failed.add((student, chapter))
    return gradebook_rows(found, course, failed)


def gradebook_rows(found, course=COURSE, failed=()):
    """Points per student, chapter and graded cell, from nbgrader's gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    rows = []
    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gb:
        for student, chapter in sorted(found):
            source = read_notebook(Path(course) / "source" / chapter / f"{chapter}.ipynb")
            for entry in exercises(source, f"{chapter}.ipynb"):
                if entry["kind"] == "solution":
                    continue
                try:
                    grade = gb.find_grade(entry["grade_id"], chapter, chapter, student)
                except MissingEntry:
                    grade = None
                if (student, chapter) in failed:
                    points, status = 0.0, "autograde failed"
                elif grade is None:
                    points, status = 0.0, "not graded"
                elif grade.manual_score is not None:
                    points, status = grade.manual_score, "graded by hand"
                elif grade.needs_manual_grade and entry["kind"] == "written":
                    points, status = "", "to grade by hand"
                elif grade.auto_score is None:
                    # nbgrader 0.9 does not run a test cell the submission deleted: no
                    # autograde score, 0 points, flagged for the teacher in the formgrader
                    points, status = 0.0, "test cell deleted"
                elif grade.needs_manual_grade:
                    points, status = grade.auto_score, "autograded, flagged"
                else:
                    points, status = grade.auto_score, "autograded"
                rows.append({"student": student, "chapter": chapter, "grade_id": entry["grade_id"],
                             "points": points, "max_points": float(entry["points"]), "status": status})
    return rows


def write_csv(rows, path):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["student", "chapter", "grade_id", "points", "max_points", "status"])
        writer.writeheader()
        writer.writerows(rows)


def print_table(rows):
    """One line per student and chapter: points per exercise, then the autograded total."""
    print(f"{'student':12s} {'chapter':28s} {'points':>10s}  per exercise")
    groups = {}
    for row in rows:
        groups.setdefault((row["student"], row["chapter"]), []).append(row)
    for (student, chapter), cells in groups.items():
        parts = []
        for row in cells:
            ex = row["grade_id"].split("-")[1]
            got = "?" if row["points"] == "" else f"{row['points']:g}"
            parts.append(f"{ex} {got}/{row['max_points']:g}")
        auto = [r for r in cells if r["points"] != ""]
        total = sum(r["points"] for r in auto)
        pending = sum(r["max_points"] for r in cells if r["points"] == "")
        print(f"{student:12s} {chapter:28s} {total:5g}/{sum(r['max_points'] for r in auto):<4g} "
              f"{'  '.join(parts)}" + (f"  (+{pending:g} to grade by hand)" if pending else ""))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--course-dir", type=Path, default=COURSE, help="nbgrader course directory (build/course)")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("student", help="write the student edition")
    s.add_argument("chapters", nargs="*", type=Path, help="default: chapters/*.ipynb")
    s.add_argument("--out", type=Path, default=ROOT / "student")
    g = sub.add_parser("grade", help="autograde SUBMISSIONS/<student>/<chapter>.ipynb")
    g.add_argument("submissions", type=Path)
    g.add_argument("--csv", type=Path, default=ROOT / "grades.csv")
    g.add_argument("--timeout", type=int, default=120, help="seconds per cell (default 120)")
    g.add_argument("--chapters-dir", type=Path, default=CHAPTERS)
    args = parser.parse_args(argv)
    if args.command == "student":
        student_edition(args.chapters or sorted(CHAPTERS.glob("*.ipynb")), args.out, args.course_dir)
    else:
        rows = autograde(args.submissions, args.course_dir, args.chapters_dir, args.timeout)
        write_csv(rows, args.csv)
        print_table(rows)
        print(f"wrote {args.csv} ({len(rows)} rows)")


if __name__ == "__main__":
    main()
