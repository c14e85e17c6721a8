"""docs/syllabus.md names a notebook section for every source section; those sections exist.

A target ``NOTEBOOK › HEADING`` must name an existing notebook and one of its headings,
unless it is marked ``(planned)``; a planned target whose notebook has since been
written must exist too, so the mark cannot hide a missing section. Every row of a source's
table has four columns, and its Chinese titles are titles of that seed file's headings (or,
for source 000's FAQ, of its bold questions), exactly as written there.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "seeds"
TARGET = re.compile(r"(\d\d_[a-z0-9_]+\.ipynb) › ([^;|]+)")
PLANNED = " (planned)"
SOURCE_SECTION = re.compile(r"## (\d{3}) — .*\(`([^`]+)`\)")
COLUMNS = ("§", "source title", "topic", "taught in")


def split_row(line):
    """The cells of a markdown table row; ``\\|`` is a pipe inside a cell."""
    cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [cell.strip().replace("\\|", "|") for cell in cells]


def source_rows(text=None):
    """[(seed file name, cells)] for every body row of the per-source tables."""
    if text is None:
        text = (ROOT / "docs" / "syllabus.md").read_text(encoding="utf-8")
    rows, seed = [], None
    for line in text.splitlines():
        if line.startswith("## "):
            m = SOURCE_SECTION.fullmatch(line.strip())
            seed = m.group(2) if m else None
        elif seed and line.startswith("|"):
            cells = split_row(line)
            if cells[0] != "§" and set(cells[0]) != {"-"}:
                rows.append((seed, cells))
    return rows


def source_headings(seed):
    """Titles of a seed file's headings (without their numbers) and of its bold FAQ questions."""
    lines = (SEEDS / seed).read_text(encoding="utf-8").splitlines()
    return [re.sub(r"^\d+(?:\.\d+)*\.?\s*", "", line.strip().strip("*#- ").strip())
            for line in lines if re.match(r"#|\s*(?:[*-]\s+)?\*\*", line)]


def bad_chinese_titles(rows):
    """Rows whose shape is wrong or whose Chinese titles are not headings of their seed."""
    bad = []
    for seed, cells in rows:
        if len(cells) != len(COLUMNS):
            bad.append(f"{seed} § {cells[0]}: {len(cells)} columns, expected {COLUMNS}")
            continue
        titles = [t.strip() for t in cells[1].split(";")]
        heads = source_headings(seed) if (SEEDS / seed).exists() else []
        for title in titles:
            if title not in heads:
                bad.append(f"{seed} § {cells[0]}: {title!r} is not a heading of the seed file")
    return bad


def syllabus_targets():
    """{(notebook, heading, planned)} named in the syllabus."""
    text = (ROOT / "docs" / "syllabus.md").read_text(encoding="utf-8")
    targets = set()
    for nb, heading in TARGET.findall(text):
        heading = heading.strip()
        planned = heading.endswith(PLANNED)
        targets.add((nb, heading[: -len(PLANNED)] if planned else heading, planned))
    return targets


def heading_titles(notebook):
    """The text of every markdown heading in ``notebook``, in order, as written."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    found = []
    for cell in cells:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                m = re.match(r"#{1,6}\s+(.*\S)", line)
                if m:
                    found.append(m.group(1).strip())
    return found


def headings(notebook):
    """Headings as the syllabus names them: lower case, without a leading section number."""
    return [re.sub(r"^\d+(?:\.\d+)*\.?\s+", "", t).lower() for t in heading_titles(notebook)]


def missing_targets(targets):
    missing = []
    for nb, heading, planned in sorted(targets):
        path = ROOT / "chapters" / nb
        if not path.exists():
            if not planned:
                missing.append(f"{nb} › {heading} (no such notebook)")
        elif heading.lower() not in headings(path):
            missing.append(f"{nb} › {heading}")
    return missing


def test_syllabus_names_sections():
    assert len(syllabus_targets()) > 50


def test_every_named_section_exists():
    missing = missing_targets(syllabus_targets())
    assert not missing, "sections the syllabus names but the notebooks lack:\n" + "\n".join(missing)


def test_the_check_fails_on_a_missing_notebook_or_heading():
    assert missing_targets({("99_nowhere.ipynb", "Background", False)})
    assert missing_targets({("01_foundations.ipynb", "A heading nobody wrote", False)})
    assert not missing_targets({("99_nowhere.ipynb", "Background", True)})      # planned, not written
    assert missing_targets({("01_foundations.ipynb", "A heading nobody wrote", True)})  # written: must exist


def test_every_seed_file_is_mapped():
    text = (ROOT / "docs" / "syllabus.md").read_text(encoding="utf-8")
    seeds = sorted(SEEDS.glob("*.txt")) if SEEDS.exists() else []
    for seed in seeds:
        assert seed.name in text, f"{seed.name} has no section in the syllabus"


def test_every_source_row_has_a_chinese_title_from_its_seed():
    rows = source_rows()
    assert len(rows) > 80
    assert all(len(cells) == len(COLUMNS) for _, cells in rows)
    if not SEEDS.exists():
        pytest.skip("the seed files are not checked out next to the repository")
    bad = bad_chinese_titles(rows)
    assert not bad, "Chinese titles the seed files do not have:\n" + "\n".join(bad)


def test_the_title_check_fails_on_a_wrong_title_or_a_missing_column():
    if not SEEDS.exists():
        pytest.skip("the seed files are not checked out next to the repository")
    seed = "000_97ea107f1290a0bf.txt"
    assert not bad_chinese_titles([(seed, ["2.1", "生成式预训练", "t", "x"])])
    assert bad_chinese_titles([(seed, ["2.1", "生成式后训练", "t", "x"])])       # not in the seed
    assert bad_chinese_titles([(seed, ["1.1", "生成模型是指", "t", "x"])])       # body text, not a heading
    assert bad_chinese_titles([(seed, ["5.1", "GAN", "t", "x"])])              # part of a heading only
    assert not bad_chinese_titles([(seed, ["9", "问：GAN 和 VAE 有什么区别？", "t", "x"])])  # a bold question
    assert bad_chinese_titles([(seed, ["2.1", "t", "x"])])                     # the column is missing
    assert bad_chinese_titles([(seed, ["2.1", "生成式预训练; ", "t", "x"])])    # an empty title
    table = "## 000 — G (`%s`)\n\n| § | source title | topic | taught in |\n| --- | --- | --- | --- |\n" % seed
    assert source_rows(table + "| 9 | 问：GAN 和 VAE 有什么区别？ | FAQ \\| a | b |\n") == [
        (seed, ["9", "问：GAN 和 VAE 有什么区别？", "FAQ | a", "b"])]
