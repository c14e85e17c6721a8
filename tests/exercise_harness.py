"""What every chapter's exercise test shares (tests/test_exercises_chNN.py).

A chapter's exercises are code cells tagged ``solution`` (the reference answer) and
``check`` (the test a student's answer must pass), in order. Each chapter's test keeps,
outside the notebook, at least one plausible wrong answer per exercise, and proves with
:func:`assert_check_discriminates` that the check passes the solution and fails both the
empty stub and every wrong answer.
"""

import json
from pathlib import Path

import numpy as np
import pytest

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"


def exercise_cells(notebook, tag):
    """Sources of the code cells of ``chapters/<notebook>`` tagged ``tag``, in order."""
    cells = json.loads((CHAPTERS / notebook).read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells
            if c["cell_type"] == "code" and tag in c.get("metadata", {}).get("tags", [])]


def stub(*args, **kwargs):
    """The student edition's empty answer."""
    raise NotImplementedError


def run_check(check, scope, name, function=None, solution=None):
    """Run ``check`` in a fresh copy of ``scope`` where ``name`` is the solution's or ``function``."""
    scope = dict(scope)
    if solution is not None:
        exec(solution, scope)
    else:
        scope[name] = function
    exec(check, scope)


def assert_check_discriminates(name, solution, check, scope, wrong_answers):
    """The check passes the reference solution and fails the stub and each wrong answer."""
    assert f"def {name}(" in solution
    run_check(check, scope, name, solution=solution)
    for bad in (stub, *wrong_answers):
        with pytest.raises((AssertionError, NotImplementedError)):
            with np.errstate(all="ignore"):
                run_check(check, scope, name, function=bad)


def exercise_tests(notebook, wrong_answers, scope):
    """The two tests every chapter's exercise file runs, for ``chapters/<notebook>``.

    ``wrong_answers`` maps each exercise's function name, in notebook order, to one wrong
    answer or a list of them; ``scope`` is what the check cells may use. Use as
    ``test_covered, test_discriminates, test_hidden = exercise_tests(NOTEBOOK, WRONG, SCOPE)``.
    """
    names = list(wrong_answers)

    def test_every_exercise_is_covered():
        assert len(exercise_cells(notebook, "solution")) == len(exercise_cells(notebook, "check")) == len(names)

    @pytest.mark.parametrize("name", names)
    def test_check_passes_solution_and_fails_stub_and_wrong_answers(name):
        index = names.index(name)
        wrong = wrong_answers[name]
        assert_check_discriminates(name, exercise_cells(notebook, "solution")[index],
                                   exercise_cells(notebook, "check")[index], scope,
                                   wrong if isinstance(wrong, (list, tuple)) else [wrong])

    @pytest.mark.parametrize("name", names)
    def test_check_does_not_contain_the_solution(name):
        index = names.index(name)
        solution, check = exercise_cells(notebook, "solution")[index], exercise_cells(notebook, "check")[index]
        body = [line.strip() for line in solution.splitlines()[1:] if len(line.strip()) > 20]
        assert not [line for line in body if line in check], "the check repeats lines of the solution"

    return (test_every_exercise_is_covered, test_check_passes_solution_and_fails_stub_and_wrong_answers,
            test_check_does_not_contain_the_solution)
