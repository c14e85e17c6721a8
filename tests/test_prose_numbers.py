"""No run figure is typed into a chapter's prose (issue 17).

A number that a run produces (a loss, an accuracy, a time, a ratio) drifts as soon as code,
data or versions change, so the markdown of a chapter never types one: it is glued in from
the run's own output with MyST-NB (``glue("key", value, display=False)`` in a code cell,
``{glue:text}`key:.3f``` in the markdown), or the text says "the table above shows".

This test reads every markdown cell and flags the numbers that look like measurements:
- every decimal number (``0.708``, ``94.5``);
- every percentage (``71 %``);
- every number with a unit of a run: seconds, minutes, nats, bits, tokens/s, ``×``.
Math (``$...$``), code spans, glue roles, link targets, section numbers (``§3.1``) and the
References section are not prose figures. A flagged number that is a constant, not a
measurement (a hyperparameter, a paper's published value, a definition), is listed in
``ALLOWED`` below with the reason; everything else must be glued or rephrased.
"""

import json
import re
from pathlib import Path

import pytest

CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "chapters").glob("[0-9][0-9]_*.ipynb"))

# chapter prefix -> {literal as it appears in the prose: why it is not a run figure}
ALLOWED = {
    "00": {
        "1 nat": "the unit conversion 1 nat = 1/ln 2 bits, a definition",
    },
    "01": {
        "80 %": "world B's marginal p(x = 2) = 0.80, chosen in the code to build the example",
        "99 %": "the noise weight of q = 0.01 p + 0.99 u: the share of static samples by construction",
        "0.5": "exercise 3's binarisation threshold, part of the task",
    },
    "02": {
        "10 %": "chance accuracy for 10 classes, a definition",
        "5 %": "the decoded grid's lower quantile, np.linspace(0.05, 0.95) in the code",
        "0.5": "the ROC-AUC of chance, a definition",
        "1.0": "the ROC-AUC of a perfect detector, a definition",
    },
    "03": {
        "0.2": "source 003's LeakyReLU slope, a hyperparameter",
        "0.3": "source 003's dropout rate, a hyperparameter",
        "0.02": "the standard deviation of each ring mode, set in the code",
        "1 %": "the share of samples that defines a covered mode, set in count_modes",
        "4×": "the learning-rate ratio 4e-3 / 1e-3 of the ring GAN, set in the code",
        "0.9": "the smoothed real target of one-sided label smoothing, a hyperparameter",
        "0.5": "D = 1/2, the equilibrium value of D(x) and D(G(z)), a definition",
        "90 %": "the pseudo-label confidence threshold, 0.9 in the code",
    },
    "04": {
        "90 %": "split(ids, 0.9): the share of the text kept for training (a setting)",
        "10 %": "the rest of that split, kept for validation (a setting)",
        "0.5": "the threshold that binarises the 8x8 digits, pixel > 0.5 (a setting)",
    },
    "05": {
        "0.95": "GPT-3's Adam beta_2 (Brown et al., 2020, appendix B)",
        "1.0": "the global-norm clipping threshold of compile_for_training (a setting)",
        "90 %": "split(ids, 0.9): the share of the text kept for training (a setting)",
        "10 %": "the rest of that split, kept for validation (a setting)",
        "0.5": "the sampling temperature T = 0.5 of the sample cell (a setting)",
        "1.5": "the temperature T = 1.5 of the sample cell; GPT-2's largest size, 1.5 B parameters (Radford et al., 2019)",
        "0.9": "the top-p = 0.9 nucleus of the sampling cells (a setting)",
        "1.4": "Chinchilla's 1.4 T training tokens (Hoffmann et al., 2022)",
        "1.7": "GPT-3 175B's tokens per parameter, 300 B / 175 B (Brown et al., 2020), printed by the cell above it",
        "38.6": "GPT-2 small's embedding table, 50,257 x 768 = 38.6 M parameters (arithmetic on published sizes)",
        "4.7": "GPT-3 175B's KV cache per token in 16-bit floats, 2 x 96 x 12288 x 2 bytes (arithmetic on published sizes)",
        "9.7": "GPT-3 175B's KV cache per sequence at 2048 tokens, 4.7 MB x 2048 (arithmetic on published sizes)",
    },
    "06": {
        "0.5": "GPT-1's published weight of the auxiliary LM loss, lambda = 0.5 (Radford et al., 2018)",
        "5 %": "hyperparameter: the last 5 % of the pre-training text is the validation split (split(ids, 0.95))",
        "100 %": "definition: perfect accuracy, the bound the genre probes stay far below",
        "10 %": "hyperparameter: the last 10 % of the Python code is validation (split(code_ids, 0.9))",
        "2.8": "arithmetic on GPT-3's published 175e9 parameters: 175e9 x 4 copies x 4 bytes = 2.8 TB",
        "2.0": "a name: wav2vec 2.0 (Baevski et al., NeurIPS 2020)",
    },
    "07": {
        "86.76 nats": "published: Burda et al. (ICLR 2016) Table 1, VAE with one stochastic layer, test NLL on MNIST",
        "84.78": "published: Burda et al. (ICLR 2016) Table 1, IWAE k = 50, one stochastic layer, test NLL on MNIST",
        "50 %": "definition: chance accuracy of a two-sample classifier on balanced real/generated sets",
    },
    "08": {
        "1.9": "published: the MOSES data set holds about 1.9 million molecules (Polykovskiy et al., 2020)",
        "0.6 s": "constant: the synthesiser plays an eighth note in step_seconds=0.3, so a quarter note is 0.6 s",
        "80 %": "assertion threshold (cpu profile): share of notes in the key; and the validity level aimed for",
        "97 %": "published: MOSES CharRNN validity 0.975 (Polykovskiy et al., 2020)",
        "1.0": "hyperparameter: a sampling temperature",
        "0.7": "hyperparameter: a sampling temperature",
        "95 %": "assertion threshold (cpu profile): uniqueness over 0.95",
        "0.5": "hyperparameter: a sampling temperature",
        "1.6": "published: MOSES' training split holds about 1.6 million molecules (1,584,663)",
        "0.25": "constant: Navigation2D's max_step, the longest move per step",
        "90 %": "assertion threshold (cpu profile): the MSE policy hits the obstacle in over 0.9 of episodes",
        "0.9": "assertion threshold (cpu profile): AUROC over 0.9",
        "0.8": "a hypothetical molecule's QED in an exercise prompt",
        "100 %": "a hypothetical model in an exercise prompt",
    },
    "09": {
        "1 bit": "definition: a secret ranked in the middle of the candidates has exposure log2(2) = 1 bit",
        "5 bits": "assertion threshold (cpu profile): the most repeated secret is over 5 bits more exposed than the one planted once",
        "6 bits": "assertion threshold (cpu profile): de-duplication lowers the two most repeated secrets' exposure by 6 bits",
        "0.1 nats": "assertion threshold (cpu profile): validation loss within 0.1 nats of the planted model",
        "0.1": "assertion threshold (cpu profile): detection drops by more than 0.1 under blur",
        "0.9": "assertion threshold (cpu profile): detection accuracy above 0.9; the judge's confidence cut-off 0.9",
        "2 %": "hyperparameter: MINORITY_SHARE = 0.02 of the imbalanced training set",
        "35.7": "published: Ho et al. (NeurIPS 2020), the CIFAR-10 U-Net has 35.7 million parameters",
    },
}

_STRIP = [
    re.compile(r"```.*?```", re.S),                  # fenced code
    re.compile(r"\$\$.*?\$\$", re.S),                # display math
    re.compile(r"(?<!\\)\$[^$\n]+?(?<!\\)\$"),       # inline math
    re.compile(r"\{glue(?::\w+)?\}`[^`]*`"),         # glued values
    re.compile(r"`[^`\n]*`"),                        # code spans
    re.compile(r"\]\([^)]*\)"),                      # link targets
    re.compile(r"<[^>\n]+>"),                        # html tags
    re.compile(r"§\s?\d+(?:\.\d+)*(?:[–-]\d+(?:\.\d+)*)?"),  # section numbers of the sources
    re.compile(r"arXiv:\s?\d+\.\d+", re.I),
]
_UNIT = r"(?:s|sec|seconds?|min|minutes?|ms|h|hours?|nats?|bits?(?:/dim)?|tokens?/s|tok/s|steps?/s|×|x)\b"
_FIGURE = re.compile(
    rf"(?<![\w.])(?:\d+(?:\.\d+)?\s{_UNIT}|\d+(?:\.\d+)?(?:nats?|bits?|×)(?!\s?\d)|\d+\.\d+(?:\s?%)?|\d+\s?%)"
)


def prose(nb):
    """(cell index, text) of each markdown cell before the References heading, stripped."""
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text = "".join(cell["source"])
        if re.match(r"#+\s*References", text.lstrip()):
            break
        for pattern in _STRIP:
            text = pattern.sub(" ", text)
        yield i, text


def figures(path):
    """Every unglued number in the prose of chapter ``path`` that looks like a measurement."""
    nb = json.loads(Path(path).read_text())
    allowed = ALLOWED.get(Path(path).name[:2], {})
    found = []
    for i, text in prose(nb):
        for m in _FIGURE.finditer(text):
            literal = m.group(0)
            if literal not in allowed:
                line = text[max(0, m.start() - 40):m.end() + 20].replace("\n", " ")
                found.append(f"cell {i}: {literal!r} in ...{line}...")
    return found


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name[:2])
def test_no_unglued_run_figures(path):
    found = figures(path)
    assert not found, (
        f"{path.name}: numbers in the prose that look like run figures; glue them from the "
        f"run (MyST-NB glue) or, if one is a constant, list it in ALLOWED with why:\n  "
        + "\n  ".join(found)
    )


def test_allowed_entries_are_used():
    """An ALLOWED entry that no prose contains any more is stale."""
    for prefix, entries in ALLOWED.items():
        (path,) = [p for p in CHAPTERS if p.name.startswith(prefix)]
        text = " ".join(t for _, t in prose(json.loads(path.read_text())))
        for literal in entries:
            assert literal in text, f"{path.name}: ALLOWED entry {literal!r} is not in the prose"


def test_the_rule_catches_figures():
    """The detector flags typed results and leaves sections, math and glue alone."""
    nb = {"cells": [{"cell_type": "markdown", "source": [
        "Accuracy went from 68.4 % to 71 % in 188 s, a loss of 1.776 nats and 3× faster. "
        "Source 001 §3.1.2 and $\\beta = 0.9$, `lr=0.001`, {glue:text}`acc:.1f`, 7 × 7 blocks, "
        "the 8s and 1s classes."]}]}
    hits = [m.group(0) for _, t in prose(nb) for m in _FIGURE.finditer(t)]
    assert hits == ["68.4 %", "71 %", "188 s", "1.776 nats", "3×"], hits


_ROLE = re.compile(r"\{glue(?::\w+)?\}`(?:[^`:]*::)?([^`:]+)(?::[^`]*)?`")
_GLUE_CALL = re.compile(r"""\bglue\(\s*["']([^"']+)["']""")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name[:2])
def test_every_glued_key_is_glued_by_the_chapter(path):
    """A glue role in the prose names a key that a code cell of the same chapter glues."""
    nb = json.loads(path.read_text())
    used = {k for c in nb["cells"] if c["cell_type"] == "markdown"
            for k in _ROLE.findall("".join(c["source"]))}
    glued = {k for c in nb["cells"] if c["cell_type"] == "code"
             for k in _GLUE_CALL.findall("".join(c["source"]))}
    assert not used - glued, f"{path.name}: prose pastes keys no cell glues: {sorted(used - glued)}"
