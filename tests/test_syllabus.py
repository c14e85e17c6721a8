"""docs/syllabus.md names a notebook section for every source section; those sections exist.

A target ``NOTEBOOK › HEADING`` must name an existing notebook and one of its headings,
unless it is marked ``(planned)``; a planned target whose notebook has since been
written must exist too, so the mark cannot hide a missing section.
"""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "seeds"
TARGET = re.compile(r"(\d\d_[a-z0-9_]+\.ipynb) › ([^;|]+)")
PLANNED = " (planned)"


def syllabus_targets():
    """{(notebook, heading, planned)} named in the syllabus."""
    text = (ROOT / "docs" / "syllabus.md").read_text(encoding="utf-8")
    targets = set()
    for nb, heading in TARGET.findall(text):
        heading = heading.strip()
        planned = heading.endswith(PLANNED)
        targets.add((nb, heading[: -len(PLANNED)] if planned else heading, planned))
    return targets


def headings(notebook):
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    found = []
    for cell in cells:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                m = re.match(r"#{1,6}\s+(?:\d+(?:\.\d+)*\.?\s+)?(.*\S)", line)
                if m:
                    found.append(m.group(1).strip().lower())
    return found


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
