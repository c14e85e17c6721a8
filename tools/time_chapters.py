"""Run chapters under nbval in one profile, one at a time, and print a table of wall times.

    python tools/time_chapters.py --profile cpu                       # every chapter
    python tools/time_chapters.py --profile cpu chapters/07_evaluation.ipynb

Each notebook runs in its own pytest process (``--nbval-lax``: every assertion in the
notebook must hold; outputs are not compared), with ``GENLIB_PROFILE`` set, so the
table shows what a learner waits for. Exits 1 when any chapter fails.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="default: every chapters/*.ipynb")
    parser.add_argument("--profile", default="cpu", choices=["smoke", "cpu", "gpu"])
    args = parser.parse_args()
    notebooks = [Path(n) for n in args.notebooks] or sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
    env = {**os.environ, "GENLIB_PROFILE": args.profile}
    rows = []
    for notebook in notebooks:
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "--nbval-lax", str(notebook)],
                                cwd=ROOT, env=env)
        rows.append((notebook.name, time.perf_counter() - start, result.returncode == 0))
    backend = env.get("KERAS_BACKEND", "tensorflow")
    print(f"\nprofile {args.profile}, backend {backend}, {os.cpu_count()} CPUs")
    print(f"| chapter | wall time | result |\n| --- | ---: | --- |")
    for name, seconds, ok in rows:
        print(f"| {name} | {seconds / 60:.1f} min | {'pass' if ok else 'FAIL'} |")
    sys.exit(0 if all(ok for _, _, ok in rows) else 1)


if __name__ == "__main__":
    main()
