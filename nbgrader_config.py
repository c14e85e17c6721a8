"""nbgrader's configuration for the course (read by `make student`, `make grade` and by
nbgrader's JupyterLab extensions when Jupyter starts in the repository root).

tools/nbgrader_course.py passes --CourseDirectory.root (default: build/course, ignored by
git); everything else is here.
"""
import os

c = get_config()  # noqa: F821  (traitlets provides get_config)

HERE = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
c.CourseDirectory.root = os.path.join(HERE, "build", "course")
c.CourseDirectory.course_id = "genlib"

# The student edition: tools/nbgrader_cells.py put ### BEGIN/END SOLUTION around each
# answer function's body; nbgrader replaces that region with this stub (the def line and
# the docstring stay), and blanks the written answers.
c.ClearSolutions.code_stub = {
    "python": 'raise NotImplementedError("your answer: write this function\'s body (see the exercise above)")'
}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE (a few sentences; graded by hand)"

# Grading: a fresh kernel of this environment per notebook; a cell that runs longer than
# the limit is interrupted and fails, so it loses its own points only; errors do not stop
# the notebook (nbgrader's default, allow_errors=True).
c.Execute.kernel_name = "python3"
c.Execute.timeout = int(os.environ.get("GENLIB_GRADE_TIMEOUT", "120"))
c.Execute.interrupt_on_timeout = True
# A deleted test cell is not put back: its exercise gets 0 points (an edited one is
# restored from the release version by its checksum, OverwriteCells).
c.OverwriteCells.add_missing_cells = False
