"""The course's tools: the chapter timer (``make test-cpu``) and the GPU check script."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The tools start their own processes and pick their own backend: one run is enough.
pytestmark = pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
                                reason="backend-independent; runs with the default backend")


def notebook(path, *sources):
    """A minimal notebook whose code cells are ``sources``."""
    cells = [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
              "source": source} for i, source in enumerate(sources)]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


# The chapters these tools run (other backends, other profiles) must not replace the
# executed copies that `make test` keeps for the book (tools/nbval_capture.py).
ENV = {k: v for k, v in os.environ.items() if k != "GENLIB_EXECUTED"}

def timer(*args, env=None):
    return subprocess.run([sys.executable, str(ROOT / "tools" / "time_chapters.py"), *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, env={**ENV, **(env or {})})


def test_timer_tables_pass_and_fail(tmp_path):
    good = notebook(tmp_path / "good.ipynb", "import genlib\nassert genlib.profile() == 'smoke'")
    bad = notebook(tmp_path / "bad.ipynb", "assert 1 + 1 == 3, 'a claim that fails'")
    result = timer("--profile", "smoke", "--table", tmp_path / "t.md", "--logs", tmp_path / "logs", good, bad)
    assert result.returncode == 1
    table = (tmp_path / "t.md").read_text()
    assert "| good.ipynb |" in table and "| pass |" in table.split("good.ipynb")[1].splitlines()[0]
    assert "| FAIL |" in table.split("bad.ipynb")[1].splitlines()[0]
    assert "a claim that fails" in (tmp_path / "logs" / "bad.log").read_text()


def kernel_pids(marker):
    """Processes whose command line holds ``marker`` (the kernel of the notebook that sleeps)."""
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if marker in (entry / "environ").read_bytes().decode(errors="ignore"):
                pids.append(int(entry.name))
        except OSError:
            pass
    return pids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_timer_kills_a_chapter_past_its_timeout_with_its_kernel(tmp_path):
    marker = f"GENLIB_TIMEOUT_TEST={os.getpid()}"
    slow = notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(600)")
    start = time.perf_counter()
    result = timer("--profile", "smoke", "--timeout", "20", "--logs", tmp_path, slow,
                   env={"GENLIB_TIMEOUT_TEST": str(os.getpid())})
    assert result.returncode == 1 and "| TIMEOUT |" in result.stdout
    assert time.perf_counter() - start < 120
    time.sleep(1)
    assert not kernel_pids(marker), "the notebook's kernel outlived the timeout"


def test_timer_rejects_bad_arguments(tmp_path):
    assert timer("--jobs", "0").returncode == 2
    missing = timer(tmp_path / "nope.ipynb")
    assert missing.returncode == 2 and "no such notebook" in missing.stderr


def test_gpu_check_cpu_path_runs_a_chapter_in_the_gpu_profile(tmp_path):
    """What tools/gpu_check.sh does on a GPU machine, on this CPU: JAX, the forced gpu profile."""
    script = ROOT / "tools" / "gpu_check.sh"
    env = {**ENV, "PYTHON": sys.executable}
    refused = subprocess.run([str(script), "--backend", "jax", "--out", tmp_path, "chapters/00_getting_started.ipynb"],
                             cwd=ROOT, env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "sees no accelerator" in refused.stderr + refused.stdout
    result = subprocess.run([str(script), "--backend", "jax", "--cpu-ok", "--timeout", "600", "--out", tmp_path,
                             "chapters/00_getting_started.ipynb"],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = (tmp_path / "gpu_check.md").read_text()
    assert table.startswith("profile gpu, jax ") and "| 00_getting_started.ipynb |" in table and "| pass |" in table
    wrong = subprocess.run([str(script), "--backend", "tensorflow"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert wrong.returncode == 2 and "must be jax or torch" in wrong.stderr
