"""docs/glossary.md: every term links to a real section and uses the Chinese of the sources.

A row is ``| English | 中文 | meaning | taught in |`` under a one-letter heading. The
Chinese cell holds one or more terms separated by `` / ``; a term ending in ``†`` is the
standard Chinese term for something the seed files never name (so it must not occur in
them), every other term must occur in them. Each link is ``[NN › Heading](../chapters/NOTEBOOK.ipynb#slug)``, where the
slug is the anchor MyST gives that heading (GitHub style).
"""

import importlib.util
import re

import pytest

from test_syllabus import ROOT, SEEDS, heading_titles, split_row

# the book's own anchor function, so that the glossary's links are checked as the book makes them
_spec = importlib.util.spec_from_file_location("genlib_book_tool", ROOT / "tools" / "book.py")
_book = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_book)
slug = _book.github_slug

GLOSSARY = ROOT / "docs" / "glossary.md"
OUTSIDE = "†"
ISSUE_TERMS = ("生成式预训练", "变分自编码器", "生成对抗网络", "门控循环单元", "注意力机制")
LINK = re.compile(r"\[([^\]]+)\]\(([^)\s#]*)#([^)\s]*)\)")
CHAPTER = re.compile(r"\.\./chapters/(\d\d_[a-z0-9_]+\.ipynb)")


def anchors(notebook):
    """Every heading anchor of a notebook, repeated slugs suffixed -1, -2, ... as MyST does."""
    found = set()
    for title in heading_titles(notebook):
        base = slug(title)
        if not base:
            continue
        anchor, i = base, 1
        while anchor in found:
            anchor, i = f"{base}-{i}", i + 1
        found.add(anchor)
    return found


def glossary_entries(text=None):
    """[{letter, english, chinese: [(term, outside)], meaning, links: [(target, anchor)]}]."""
    if text is None:
        text = GLOSSARY.read_text(encoding="utf-8")
    entries, letter = [], None
    for line in text.splitlines():
        m = re.fullmatch(r"## (\S)", line.strip())
        if m:
            letter = m.group(1)
        elif line.startswith("## "):
            letter = None
        elif letter and line.startswith("|"):
            cells = split_row(line)
            if cells[0] == "English" or set(cells[0]) == {"-"}:
                continue
            cells += [""] * (4 - len(cells))
            english, chinese, meaning, taught = cells[:4]
            terms = [t.strip() for t in chinese.split(" / ")]
            entries.append({
                "letter": letter,
                "english": english,
                "chinese": [(t.rstrip(OUTSIDE).strip(), t.endswith(OUTSIDE)) for t in terms],
                "meaning": meaning,
                "links": [(target, anchor) for _, target, anchor in LINK.findall(taught)],
            })
    return entries


def seed_text():
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt")))


def broken_links(entries):
    """Links that name no chapter notebook or no heading of it; entries with no link."""
    broken = []
    for e in entries:
        if not e["links"]:
            broken.append(f"{e['english']}: no link to a section")
        for target, anchor in e["links"]:
            m = CHAPTER.fullmatch(target)
            path = ROOT / "chapters" / m.group(1) if m else None
            if path is None or not path.exists():
                broken.append(f"{e['english']}: {target} is not a chapter notebook")
            elif anchor not in anchors(path):
                broken.append(f"{e['english']}: {target} has no heading #{anchor}")
    return broken


def wrongly_marked(entries, sources):
    """Chinese terms not marked † that the seeds lack, and terms marked † that they contain."""
    return [f"{e['english']}: {term}{OUTSIDE if outside else ''}"
            for e in entries for term, outside in e["chinese"]
            if not term or outside == (term in sources)]


def duplicates(entries):
    seen, dup = set(), []
    for e in entries:
        key = e["english"].lower()
        if key in seen:
            dup.append(e["english"])
        seen.add(key)
    return dup


def missing_issue_terms(entries):
    have = {term for e in entries for term, _ in e["chinese"]}
    return [t for t in ISSUE_TERMS if t not in have]


def out_of_order(entries):
    """Entries under the wrong letter, or not in alphabetical order of the English term."""
    bad = [e["english"] for e in entries if e["english"][:1].upper() != e["letter"]]
    keys = [e["english"].lower() for e in entries]
    bad += [f"{a} before {b}" for a, b in zip(keys, keys[1:]) if a > b]
    return bad


def incomplete(entries):
    return [e["english"] or "(no English term)" for e in entries
            if not e["english"] or not e["meaning"] or not any(t for t, _ in e["chinese"])]


ENTRIES = glossary_entries()


def test_the_glossary_is_filled():
    assert len(ENTRIES) >= 100
    assert not incomplete(ENTRIES)


def test_every_link_names_a_chapter_and_one_of_its_headings():
    broken = broken_links(ENTRIES)
    assert not broken, "broken glossary links:\n" + "\n".join(broken)


def test_a_chinese_term_is_marked_outside_exactly_when_the_sources_lack_it():
    if not SEEDS.exists():
        pytest.skip("the seed files are not checked out next to the repository")
    bad = wrongly_marked(ENTRIES, seed_text())
    assert not bad, (f"unmarked terms the seeds never use, or {OUTSIDE} terms they do use:\n"
                     + "\n".join(bad))


def test_the_issues_terms_are_present():
    assert not missing_issue_terms(ENTRIES)


def test_no_english_term_twice_and_alphabetical():
    assert not duplicates(ENTRIES)
    assert not out_of_order(ENTRIES)


BROKEN = """
## A

| English | 中文 | meaning | taught in |
| --- | --- | --- | --- |
| attention mechanism | 注意力机制 | weights \\| values | [05 › Scaled dot-product attention](../chapters/05_transformers_gpt.ipynb#scaled-dot-product-attention) |
| autoencoder | 自编码器 / 自动编码器† | code then decode | [02 › Nowhere](../chapters/02_vae.ipynb#no-such-heading) |
| attention mechanism | 注意力机制 | again | [99 › Background](../chapters/99_nowhere.ipynb#background) |
| Bayes' rule | 贝叶斯公式 | under A | [01 › FAQ](../chapters/01_foundations.ipynb#faq) |
| activation | 激活函数 |  |  |
"""


def test_each_check_fails_on_a_broken_glossary():
    entries = glossary_entries(BROKEN)
    assert [e["english"] for e in entries][:2] == ["attention mechanism", "autoencoder"]
    assert entries[0]["meaning"] == "weights | values"
    assert entries[1]["chinese"] == [("自编码器", False), ("自动编码器", True)]
    assert broken_links(entries[:1]) == []
    assert broken_links(entries[1:2]) and broken_links(entries[2:3]) and broken_links(entries[4:])
    assert wrongly_marked(entries[:1], "……注意力机制……") == []
    assert wrongly_marked(entries[1:2], "……注意力机制……") == ["autoencoder: 自编码器"]
    assert wrongly_marked(entries[1:2], "……自编码器、自动编码器……") == ["autoencoder: 自动编码器†"]
    assert duplicates(entries) == ["attention mechanism"]
    assert "Bayes' rule" in out_of_order(entries) and "autoencoder before attention mechanism" in out_of_order(entries)
    assert incomplete(entries) == ["activation"]
    assert set(missing_issue_terms(entries)) == set(ISSUE_TERMS) - {"注意力机制"}


def test_slugs_follow_myst():
    assert slug("Code: genlib's DCGAN") == "code-genlibs-dcgan"
    assert slug("GPT-1, GPT-2, GPT-3 in numbers") == "gpt-1-gpt-2-gpt-3-in-numbers"
    assert slug("Checking $D^*$ numerically") == "checking--numerically"
    assert slug("The Jensen–Shannon connection") == "the-jensenshannon-connection"
    assert slug('"Bigger models": a scaling curve, re-measured') == "bigger-models-a-scaling-curve-re-measured"
