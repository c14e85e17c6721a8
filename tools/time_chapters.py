"""Run chapters under nbval in one profile and print a table of wall times (and GPU memory).

    python tools/time_chapters.py --profile cpu                       # every chapter, one at a time
    python tools/time_chapters.py --profile cpu chapters/07_evaluation.ipynb
    python tools/time_chapters.py --profile gpu --jobs 4 --timeout 900 --logs runs/gpu

Each notebook runs in its own pytest process (``--nbval-lax``: every assertion in the
notebook must hold; outputs are not compared) with ``GENLIB_PROFILE`` set, so the table
shows what a learner waits for. ``make test-cpu`` and ``tools/gpu_check.sh`` call it.

With ``--jobs N`` several chapters share the machine, so their times are longer than each
alone; the table says how many ran at once. ``--timeout`` kills a chapter (pytest, its
kernel and their children) that runs longer. Where ``nvidia-smi`` exists, a sampler reads
each chapter's GPU memory once a second and the table gives its peak. Exits 1 when
any chapter fails or times out.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parent_pids():
    """{pid: parent pid} of every process, read from /proc (Linux); {} elsewhere."""
    parents = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name in parentheses may hold spaces; the fields after it do not
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def owner(pid, roots, parents):
    """The pid among ``roots`` that ``pid`` descends from (itself included), or None."""
    while pid and pid not in roots:
        pid = parents.get(pid)
    return pid


def kill_tree(root):
    """Kill ``root`` and every process below it: pytest, the notebook's kernel (which
    Jupyter starts in a session of its own) and anything the kernel started."""
    parents = parent_pids()
    for pid in [p for p in parents if owner(p, {root}, parents) == root] or [root]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def gpu_memory(roots):
    """MiB of GPU memory used below each of ``roots`` (pids), read from ``nvidia-smi``."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    parents, used = parent_pids(), {}
    for line in out.splitlines():
        try:
            pid, mib = (int(field) for field in line.split(","))
        except ValueError:
            continue
        root = owner(pid, roots, parents)
        if root:
            used[root] = used.get(root, 0) + mib
    return used


def describe_backend(env):
    """'jax 0.10.2 on cuda:0' style line, from a short child process (the backend's own import)."""
    code = ("import os, genlib; r = genlib.env_report(file=open(os.devnull, 'w')); "
            "print(r['backend'], r['backend_version'], 'on', r['accelerators'])")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    return result.stdout.strip() or f"unknown ({result.stderr.strip().splitlines()[-1:]})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="default: every chapters/*.ipynb")
    parser.add_argument("--profile", default="cpu", choices=["smoke", "cpu", "gpu"])
    parser.add_argument("--jobs", type=int, default=1, help="chapters run at once (default 1)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds before a chapter is killed")
    parser.add_argument("--logs", type=Path, default=None,
                        help="write each chapter's output to LOGS/<chapter>.log (default: the terminal)")
    parser.add_argument("--table", type=Path, default=None, help="also write the Markdown table here")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.timeout is not None and args.timeout <= 0:
        parser.error("--timeout must be positive")
    notebooks = [Path(n) for n in args.notebooks] or sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
    missing = [str(n) for n in notebooks if not n.exists()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GENLIB_PROFILE": args.profile}
    has_gpu_tool = shutil.which("nvidia-smi") is not None
    backend = describe_backend(env)

    waiting, running, rows = list(notebooks), {}, {}
    while waiting or running:
        while waiting and len(running) < args.jobs:
            notebook = waiting.pop(0)
            log = open(args.logs / f"{notebook.stem}.log", "w") if args.logs else None
            process = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-c", str(ROOT / "pyproject.toml"),
                                        "--nbval-lax", str(notebook)],
                                       cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT if log else None)
            running[process.pid] = dict(notebook=notebook, process=process, log=log,
                                        start=time.perf_counter(), peak=0)
        time.sleep(1.0)
        used = gpu_memory(set(running)) if has_gpu_tool else {}
        for pid, job in list(running.items()):
            job["peak"] = max(job["peak"], used.get(pid, 0))
            seconds = time.perf_counter() - job["start"]
            code = job["process"].poll()
            if code is None and args.timeout and seconds > args.timeout:
                kill_tree(pid)
                job["process"].wait()
                code = "timeout"
            if code is None:
                continue
            if job["log"]:
                job["log"].close()
            result = "pass" if code == 0 else ("TIMEOUT" if code == "timeout" else "FAIL")
            rows[job["notebook"]] = (seconds, job["peak"], result)
            print(f"{job['notebook'].name}: {result} after {seconds / 60:.1f} min", flush=True)
            del running[pid]

    header = (f"profile {args.profile}, {backend}, {os.cpu_count()} CPUs, "
              f"{args.jobs} chapter{'s' if args.jobs > 1 else ''} at a time")
    memory = has_gpu_tool  # a peak-memory column only where nvidia-smi can read one
    lines = [header, "",
             "| chapter | wall time |" + (" peak GPU memory |" if memory else "") + " result |",
             "| --- | ---: |" + (" ---: |" if memory else "") + " --- |"]
    for notebook in notebooks:
        seconds, peak, result = rows[notebook]
        lines.append(f"| {notebook.name} | {seconds / 60:.1f} min |"
                     + (f" {peak / 1024:.1f} GiB |" if memory else "") + f" {result} |")
    table = "\n".join(lines)
    print("\n" + table)
    if args.table:
        args.table.write_text(table + "\n", encoding="utf-8")
    sys.exit(0 if all(result == "pass" for _, _, result in rows.values()) else 1)


if __name__ == "__main__":
    main()
