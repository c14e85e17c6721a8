"""docs/syllabus.md names a notebook section for every source section; those sections exist."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "seeds"
TARGET = re.compile(r"(\d\d_[a-z0-9_]+\.ipynb) › ([^;|]+)")


def syllabus_targets():
    text = (ROOT / "docs" / "syllabus.md").read_text(encoding="utf-8")
    return {(nb, heading.strip()) for nb, heading in TARGET.findall(text)}


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


def test_syllabus_names_sections():
    assert len(syllabus_targets()) > 50


def test_every_named_section_exists_in_written_chapters():
    missing = []
    for nb, heading in sorted(syllabus_targets()):
        path = ROOT / "chapters" / nb
        if path.exists() and heading.lower() not in headings(path):
            missing.append(f"{nb} › {heading}")
    assert not missing, "headings the syllabus names but the notebooks lack:\n" + "\n".join(missing)


def test_every_seed_file_is_mapped():
    text = (ROOT / "docs" / "syllabus.md").read_text(encoding="utf-8")
    seeds = sorted(SEEDS.glob("*.txt")) if SEEDS.exists() else []
    for seed in seeds:
        assert seed.name in text, f"{seed.name} has no section in the syllabus"
