"""Chapter 07's exercise checks: the reference solution passes, the empty stub and a
plausible wrong answer (kept here, out of the notebook) fail."""

import json
from pathlib import Path

import numpy as np
import pytest

from genlib import metrics

NOTEBOOK = Path(__file__).resolve().parents[1] / "chapters" / "07_evaluation.ipynb"


def _cells(tag):
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells
            if c["cell_type"] == "code" and tag in c.get("metadata", {}).get("tags", [])]


def _stub(*args, **kwargs):
    raise NotImplementedError


def _kid_with_diagonals(x, y):
    # the V-statistic: k(x_i, x_i) included, biased upwards
    d = x.shape[1]
    k = lambda u, v: (u @ v.T / d + 1) ** 3  # noqa: E731
    return float(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())


def _prefix_only(sample, corpus):
    # only matches that start at the first character of the sample
    best = 0
    while best < len(sample) and sample[:best + 1] in corpus:
        best += 1
    return best


def _agreeing_sets(rng):
    # fake_a is better on both counts: FID and precision agree
    real = rng.normal(0.0, 1.0, (500, 2))
    return real, rng.normal(0.0, 1.0, (500, 2)), rng.normal(0.0, 2.5, (500, 2))


WRONG = {
    "iw_bound": [lambda log_w: -np.mean(log_w, axis=1),                       # the mean -log w: the ELBO
                 lambda log_w: -np.log(np.mean(np.exp(log_w), axis=1))],       # overflows near -1000
    "kid": [_kid_with_diagonals],
    "longest_verbatim": [_prefix_only],
    "disagreement": [_agreeing_sets],
}
NAMES = list(WRONG)


def _run(check, name, function=None, solution=None):
    scope = dict(np=np, metrics=metrics)
    if solution is not None:
        exec(solution, scope)
    else:
        scope[name] = function
    exec(check, scope)


def test_every_exercise_is_covered():
    assert len(_cells("solution")) == len(_cells("check")) == len(NAMES)


@pytest.mark.parametrize("index", range(len(NAMES)))
def test_check_passes_solution_and_fails_stub_and_wrong_answers(index):
    name, solution, check = NAMES[index], _cells("solution")[index], _cells("check")[index]
    assert f"def {name}(" in solution
    _run(check, name, solution=solution)
    for bad in (_stub, *WRONG[name]):
        with pytest.raises((AssertionError, NotImplementedError)):
            with np.errstate(all="ignore"):
                _run(check, name, function=bad)


@pytest.mark.parametrize("index", range(len(NAMES)))
def test_check_does_not_contain_the_solution(index):
    solution, check = _cells("solution")[index], _cells("check")[index]
    body = [line.strip() for line in solution.splitlines()[1:] if len(line.strip()) > 20]
    assert not any(line in check for line in body)
