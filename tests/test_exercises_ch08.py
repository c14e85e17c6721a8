"""Chapter 08's exercise checks: the reference solution passes, the empty stub and a
plausible wrong answer (kept here, out of the notebook) fail."""

import json
from pathlib import Path

import numpy as np
import pytest

import genlib
from genlib import applications as A

NOTEBOOK = Path(__file__).resolve().parents[1] / "chapters" / "08_applications.ipynb"


def _cells(tag):
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if tag in c.get("metadata", {}).get("tags", [])]


def _stub(*args, **kwargs):
    raise NotImplementedError


def _octaves_any_direction(pitches, onsets):
    # forgets the direction: octaves reached by contrary motion are counted too
    pitches, onsets = np.asarray(pitches), np.asarray(onsets, bool)
    events = np.flatnonzero(onsets.any(axis=1))
    count = 0
    for a, b in zip(events[:-1], events[1:]):
        p, q = pitches[a], pitches[b]
        moved = (p > 0) & (q > 0) & onsets[b] & (p != q)
        for i in range(4):
            for j in range(i + 1, 4):
                if moved[i] and moved[j] and (p[i] - p[j]) % 12 == 0 and (q[i] - q[j]) % 12 == 0:
                    count += 1
    return count


def _selfies_not_decoded(strings, kind, n, length, seed):
    # hands the SELFIES string itself to RDKit instead of decoding it first
    import selfies

    rng = np.random.default_rng(seed)
    if kind == "smiles":
        alphabet = sorted(set("".join(strings)))
    else:
        alphabet = sorted({t for s in strings for t in selfies.split_selfies(selfies.encoder(s))})
    texts = ["".join(alphabet[i] for i in rng.integers(len(alphabet), size=length)) for _ in range(n)]
    return float(np.mean([A.canonical_smiles(t) is not None for t in texts]))


def _mdn_mean_of_components(logits, means, log_sigma, actions):
    # averages the components' log-likelihoods weighted by pi: a bound, not the mixture's NLL
    logits = logits - logits.max(axis=1, keepdims=True)
    pi = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    squared = ((actions[:, None, :] - means) ** 2).sum(axis=-1)
    log_normal = -0.5 * squared / np.exp(2 * log_sigma) - 2 * log_sigma - np.log(2 * np.pi)
    return float(-(pi * log_normal).sum(axis=1).mean())


WRONG = {
    "parallel_octaves": _octaves_any_direction,
    "random_validity": _selfies_not_decoded,
    "mdn_nll": _mdn_mean_of_components,
    "true_statements": lambda: {"A", "C", "E", "F"},   # QED is not a toxicity prediction
}
NAMES = list(WRONG)


def _run(check, name, function=None, solution=None):
    scope = dict(np=np, genlib=genlib, A=A)
    if solution is not None:
        exec(solution, scope)
    else:
        scope[name] = function
    exec(check, scope)


def test_every_exercise_is_covered():
    assert len(_cells("solution")) == len(_cells("check")) == len(NAMES)


@pytest.mark.parametrize("index", range(len(NAMES)))
def test_check_passes_solution_and_fails_stub_and_wrong_answer(index):
    pytest.importorskip("rdkit")
    pytest.importorskip("selfies")
    name, solution, check = NAMES[index], _cells("solution")[index], _cells("check")[index]
    assert f"def {name}(" in solution
    _run(check, name, solution=solution)
    for bad in (_stub, WRONG[name]):
        with pytest.raises((AssertionError, NotImplementedError)):
            _run(check, name, function=bad)
