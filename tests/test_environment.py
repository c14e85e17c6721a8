"""The install paths agree: pyproject.toml's pins by role, the lock `make` installs
(requirements/lock.txt, backends.txt; tools/lock.py) and conda's environment.yml."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)\s*")


def _name(name):
    return name.lower().replace("_", "-")


def _toml_list(key):
    """The strings of a ``key = [ ... ]`` list in pyproject.toml (tomllib is 3.11+ only)."""
    text = (ROOT / "pyproject.toml").read_text()
    m = re.search(rf"^{re.escape(key)}\s*=\s*\[(.*?)^\]", text, re.S | re.M)
    assert m, f"no {key} list in pyproject.toml"
    return re.findall(r'"([^"]+)"', m.group(1))


def _pins(lines):
    return {_name(m.group(1)): m.group(2) for m in map(PIN.fullmatch, lines) if m}


def lock(name):
    lines = (ROOT / "requirements" / name).read_text().splitlines()
    return _pins(line for line in lines if not line.startswith("#"))


ROLES = ("dependencies", "apps", "course", "backends")


def test_every_direct_dependency_is_pinned_exactly():
    for role in ROLES:
        deps = [d for d in _toml_list(role) if not d.startswith("genlib[")]   # the extras' self-reference
        assert deps and len(_pins(deps)) == len(deps), f"every entry of {role} needs an exact == pin: {deps}"


def test_the_roles_do_not_overlap():
    seen = {}
    for role in ROLES:
        for name in _pins(_toml_list(role)):
            assert name not in seen, f"{name} is in both {seen[name]} and {role}"
            seen[name] = role


def test_the_lock_holds_every_pin_at_its_version():
    course = lock("lock.txt")
    for role in ("dependencies", "apps", "course"):
        for name, version in _pins(_toml_list(role)).items():
            assert course.get(name) == version, f"{name}=={version} ({role}) is {course.get(name)} in lock.txt; run make lock"
    backends = lock("backends.txt")
    for name, version in _pins(_toml_list("backends")).items():
        assert backends.get(name, "").split("+")[0] == version, f"{name}=={version} is {backends.get(name)} in backends.txt"
    assert not set(course) & set(backends), "backends.txt repeats packages of lock.txt"
    for name in ("numpy", "scipy", "protobuf", "h5py"):       # the transitive ones the issue names
        assert name in course, f"{name} is not locked"


def test_the_lock_is_for_the_python_conda_installs():
    header = (ROOT / "requirements" / "lock.txt").read_text().splitlines()[:5]
    python = re.search(r"Python (\d+\.\d+)", "\n".join(header)).group(1)
    assert f"python={python}" in (ROOT / "environment.yml").read_text()


def test_conda_installs_the_lock_then_the_course():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s+- -r requirements/lock\.txt$", text, re.M)
    assert re.search(r"^\s+- -e \.\[course\]$", text, re.M)


def test_make_installs_from_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert "-r $(LOCK)" in makefile and "--no-deps -e ." in makefile
    assert "-r requirements/backends.txt" in makefile


def test_issue_named_versions():
    pins = _pins(_toml_list("dependencies"))
    assert pins["tensorflow"] == "2.21.0"
    assert pins["keras"].startswith("3.")


def test_torch_is_the_cpu_build_version():
    assert "torch==2.13.0" in _toml_list("backends"), "another torch version downloads several GB"


def test_make_lock_keeps_the_locked_versions_but_not_the_direct_pins(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("lock_tool", ROOT / "tools" / "lock.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    previous = tmp_path / "lock.txt"
    previous.write_text("# header\nnumpy==1.0.0\ntensorflow==0.1\nzipp==3.0\n")
    kept = tool.kept_versions(previous, tmp_path / "")
    # tensorflow is pinned in pyproject.toml: a changed pin there must win over the old lock
    assert kept.read_text().split() == ["numpy==1.0.0", "zipp==3.0"] or "numpy" in tool.direct_pins()
    assert "tensorflow" in tool.direct_pins() and "tensorflow==0.1" not in kept.read_text()
    assert "zipp==3.0" in kept.read_text()
