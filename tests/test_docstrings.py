"""Every chapter section a genlib docstring names exists (issue 19).

genlib's docstrings point the reader at the section that teaches them, as
``chapter 05, "The KV cache"`` or ``chapter 06 ("Reuse, not retraining")``; d2l's
generated "Defined in" links cannot drift, and this test keeps ours from drifting: the
quoted text must be a heading of that chapter's notebook (read as tests/test_syllabus.py
reads them).
"""

import re
from pathlib import Path

from test_syllabus import ROOT, headings

REFERENCE = re.compile(r'[Cc]hapter (\d\d)(?:\s*,\s*|\s*\(\s*|\s+)"([^"]+)"')


def references(text):
    """[(chapter number, quoted heading)] named in ``text``, the heading's whitespace collapsed."""
    return [(nn, " ".join(h.split())) for nn, h in REFERENCE.findall(text)]


def dangling(refs, chapters=ROOT / "chapters"):
    """The references among ``refs`` whose notebook or heading does not exist."""
    bad = []
    for nn, heading in refs:
        notebooks = sorted(chapters.glob(f"{nn}_*.ipynb"))
        if not notebooks or heading.lower() not in headings(notebooks[0]):
            bad.append(f'chapter {nn}, "{heading}"')
    return bad


def genlib_references():
    return {path.relative_to(ROOT): references(path.read_text(encoding="utf-8"))
            for path in sorted((ROOT / "genlib").rglob("*.py"))}


def test_every_named_section_exists():
    found = genlib_references()
    assert sum(map(len, found.values())) >= 40, "the reference pattern no longer finds genlib's references"
    bad = {str(path): dangling(refs) for path, refs in found.items() if dangling(refs)}
    assert not bad, f"docstrings name chapter sections that do not exist: {bad}"


def test_the_check_catches_a_dangling_reference():
    refs = references('Used in chapter 05, "The KV\n    cache" and chapter 04 ("A section nobody wrote").')
    assert refs == [("05", "The KV cache"), ("04", "A section nobody wrote")]
    assert dangling(refs) == ['chapter 04, "A section nobody wrote"']
    assert dangling([("42", "Background")]) == ['chapter 42, "Background"']
