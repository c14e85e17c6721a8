"""The two install paths (pip via pyproject.toml, conda via environment.yml) pin the same versions."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _toml_list(key):
    """The strings of a ``key = [ ... ]`` list in pyproject.toml (tomllib is 3.11+ only)."""
    text = (ROOT / "pyproject.toml").read_text()
    m = re.search(rf"^{re.escape(key)}\s*=\s*\[(.*?)\]", text, re.S | re.M)
    assert m, f"no {key} list in pyproject.toml"
    return re.findall(r'"([^"]+)"', m.group(1))


def _pins(lines):
    pins = {}
    for line in lines:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)\s*", line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def pyproject_pins():
    return _pins(_toml_list("dependencies"))


def environment_pins():
    lines = []
    in_pip = False
    for raw in (ROOT / "environment.yml").read_text().splitlines():
        line = raw.split("#")[0].rstrip()
        if re.fullmatch(r"\s*-\s*pip:\s*", line):
            in_pip = True
            continue
        if in_pip:
            m = re.fullmatch(r"\s{4,}-\s*(.+)", line)
            if m:
                lines.append(m.group(1))
            elif line.strip():
                in_pip = False
    return _pins(lines)


def test_every_dependency_is_pinned():
    deps = _toml_list("dependencies")
    assert len(pyproject_pins()) == len(deps), "every dependency in pyproject.toml needs an exact == pin"


def test_conda_and_pip_pins_agree():
    pip, conda = pyproject_pins(), environment_pins()
    assert pip, "no pins found in pyproject.toml"
    assert pip == conda, f"pyproject.toml and environment.yml disagree: {set(pip.items()) ^ set(conda.items())}"


def test_issue_named_versions():
    pins = pyproject_pins()
    assert pins["tensorflow"] == "2.21.0"
    assert pins["keras"].startswith("3.")


def test_torch_is_the_cpu_build_version():
    assert "torch==2.13.0" in _toml_list("backends"), "another torch version downloads several GB"
