"""Write the lock files: every package the course installs, at one version each.

    make lock                 # after changing a pin in pyproject.toml

pyproject.toml pins the direct dependencies by role; the packages they pull in (numpy's
and protobuf's versions for TensorFlow, scipy's for scikit-learn ...) would otherwise be
whatever is newest on the day of the install, so two fresh machines could differ. This
asks pip's own resolver (``pip install --dry-run --ignore-installed --report``, the one
`make` installs with; it also finds the torch 2.13.0 CPU wheel that pip is configured to
read from local disk, which uv and pip-compile's uv mode do not) what it would install
for a fresh environment, and writes:

- requirements/lock.txt: the library and the ``course`` extra (what `make lab` and
  `make test` install);
- requirements/backends.txt: what the ``backends`` extra (torch) adds on top, resolved
  with lock.txt as constraints (what `make test-backends` installs).

Like pip-compile, it keeps the versions already locked where it can: the previous lock,
less the packages pyproject.toml pins directly, is a constraint of the new resolve, so a
changed pin moves only what it must. ``python tools/lock.py --upgrade`` (or a resolve
that the old versions make impossible) takes the newest versions allowed.

Resolved for the Python that runs this script on this platform (the course and CI use
CPython 3.11 on Linux x86_64); the header of each file records it.
"""

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
BACKENDS = ROOT / "requirements" / "backends.txt"


def resolve(target, constraints=None):
    """{name: version} of everything pip would install for ``target`` in an empty environment."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--report", str(report), target]
        if constraints:
            cmd[4:4] = ["-c", str(constraints)]
        subprocess.run(cmd, cwd=ROOT, check=True, timeout=900)
        items = json.loads(report.read_text())["install"]
    return {item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"]
            for item in items if item["metadata"]["name"].lower() != "genlib"}


def direct_pins():
    """Names of the packages pyproject.toml pins (dependencies and every extra)."""
    text = (ROOT / "pyproject.toml").read_text()
    return {m.group(1).lower().replace("_", "-") for m in re.finditer(r'"([A-Za-z0-9_.\-]+)==[^"]+"', text)}


def kept_versions(path, folder):
    """A constraints file: the lock at ``path`` without the direct pins (None if no lock)."""
    if not path.exists():
        return None
    direct = direct_pins()
    lines = [line for line in path.read_text().splitlines()
             if line and not line.startswith("#") and line.split("==")[0] not in direct]
    kept = Path(folder) / path.name
    kept.write_text("\n".join(lines) + "\n")
    return kept


def resolve_keeping(target, previous, folder, constraints=None):
    """``resolve``, preferring the versions of the lock ``previous`` (a Path or None)."""
    kept = kept_versions(previous, folder) if previous else None
    if kept is not None:
        merged = Path(folder) / f"merged-{previous.name}"
        merged.write_text(kept.read_text() + (Path(constraints).read_text() if constraints else ""))
        try:
            return resolve(target, merged)
        except subprocess.CalledProcessError:
            print(f"the versions of {previous.name} no longer fit together: resolving afresh")
    return resolve(target, constraints)


def write(path, pins, what):
    header = [f"# {path.relative_to(ROOT)}: {what}",
              "# Written by `make lock` (tools/lock.py) with pip's resolver; do not edit by hand.",
              f"# Python {platform.python_version()}, {platform.system()} {platform.machine()}.",
              ]
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(header + [f"{name}=={version}" for name, version in sorted(pins.items())]) + "\n")
    print(f"{path.relative_to(ROOT)}: {len(pins)} packages")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upgrade", action="store_true", help="newest allowed versions, not the locked ones")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        course = resolve_keeping(".[course]", None if args.upgrade else LOCK, folder)
        write(LOCK, course, "every package of genlib and its `course` extra, at one version each")
        with_torch = resolve_keeping(".[course,backends]", None if args.upgrade else BACKENDS, folder,
                                     constraints=LOCK)
        extra = {name: version for name, version in with_torch.items() if name not in course}
        write(BACKENDS, extra, "what the `backends` extra (torch) adds to lock.txt")


if __name__ == "__main__":
    main()
