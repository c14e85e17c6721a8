"""Chapter 08's exercise checks: the reference solution passes, the empty stub and a
plausible wrong answer (kept here, out of the notebook) fail."""

import numpy as np
from exercise_harness import exercise_tests

import genlib
from genlib import applications as A

NOTEBOOK = "08_applications.ipynb"



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


SCOPE = dict(np=np, genlib=genlib, A=A)


(test_every_exercise_is_covered, test_check_passes_solution_and_fails_stub_and_wrong_answers,
 test_check_does_not_contain_the_solution) = exercise_tests(NOTEBOOK, WRONG, SCOPE)
