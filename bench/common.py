"""What the benchmarks in ``bench/`` share: their flags, the lines that say how a run
was made, the result table and the goals of ``bench/README.md``.

A script builds its parser with :func:`parser` and adds its own flags, prints
:func:`header` first (the command line and the machine), prints its results with
:func:`table` in the shape of its table in ``bench/README.md``, and ends with
:func:`check_goals`, which says ``goal met`` or ``goal MISSED`` for each goal and,
under ``--check``, exits with status 1 unless every goal is met. Training time
budgets come from ``genlib.training`` (``TimeLimit``, ``CosineOverTime``,
``StepTimer``), not from here.
"""

import argparse
import datetime
import io
import math
import operator
import os
import shlex
import sys
from dataclasses import dataclass

# goal comparisons: measured value <op> threshold
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def positive_seconds(text):
    """argparse type of ``--seconds``: a finite number of seconds > 0."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0 (a finite number of seconds), got {text!r}")
    return seconds


def names(*choices):
    """argparse type of a comma-separated list of some of ``choices``, such as
    ``--models dcgan,mlp``: gives the list, or a usage error naming the choices."""
    def parse(text):
        chosen = text.split(",")
        unknown = sorted(set(chosen) - set(choices))
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(map(repr, unknown))}: "
                                             f"a comma-separated list of {', '.join(choices)}")
        return chosen
    return parse


def parser(doc, seconds=None, seed=0):
    """An ``argparse`` parser with the flags every benchmark shares.

    ``doc`` is the script's docstring (its first paragraph is the description).
    ``--seconds`` (the wall-clock training budget, checked > 0) is added when the
    script has one, with the default ``seconds``; ``--seed`` with the default
    ``seed`` unless that is ``None``; ``--check`` always.
    """
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    if seconds is not None:
        p.add_argument("--seconds", type=positive_seconds, default=seconds,
                       help=f"wall-clock training budget in seconds (default {seconds:g})")
    if seed is not None:
        p.add_argument("--seed", type=int, default=seed, help=f"random seed (default {seed})")
    p.add_argument("--check", action="store_true",
                   help="exit with status 1 unless every goal in bench/README.md is met")
    return p


def command_line(argv=None):
    """The command that ran this script, as ``bench/README.md`` quotes it:
    ``KERAS_BACKEND=jax python bench/gpt.py --iters 200`` (the variable only when set)."""
    argv = sys.argv if argv is None else argv
    backend = os.environ.get("KERAS_BACKEND")
    return (f"KERAS_BACKEND={backend} " if backend else "") + shlex.join(["python", *argv])


def environment():
    """One line: versions (``genlib.env_report``), devices, cores and the load average."""
    import genlib

    report = genlib.env_report(file=io.StringIO())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{report['backend']} {report['backend_version']}, keras {report['keras']}, "
            f"numpy {report['numpy']}, python {report['python']}; accelerators: {report['accelerators']}; "
            f"{os.cpu_count()} cores, load average {load:.1f} at the start; {report['platform']}")


def header():
    """Print the command line and the environment line that open every benchmark's output."""
    print(f"command: {command_line()}")
    print(f"environment: {environment()}", flush=True)


def today():
    """The date column of a result row: ``2026-11-30``."""
    return datetime.date.today().isoformat()


def table(columns, rows, align=None):
    """Print a markdown table, one row per run, and return it.

    ``rows`` are sequences of cells (formatted by the caller, as ``bench/README.md``
    shows them); ``align`` is one letter per column, ``l`` or ``r`` (default: the
    first column left, the others right).
    """
    align = align or "l" + "r" * (len(columns) - 1)
    if len(align) != len(columns) or set(align) - set("lr"):
        raise ValueError(f"align needs one 'l' or 'r' per column ({len(columns)}), got {align!r}")
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"a row has {len(row)} cells for {len(columns)} columns: {row!r}")
    lines = ["| " + " | ".join(columns) + " |",
             "| " + " | ".join("---:" if a == "r" else "---" for a in align) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    text = "\n".join(lines)
    print(text, flush=True)
    return text


@dataclass(frozen=True)
class Goal:
    """A goal of ``bench/README.md``: met when ``value <op> threshold``.

    ``text`` is the goal in the README's own words (``tests/test_bench.py`` checks that
    the README says exactly this). ``stated_at`` names the flags (``args``
    attributes) at whose defaults the README states the goal: a run with any other
    value does not judge it (a 20-second run says nothing of a goal at 300 s).
    """

    text: str
    op: str
    threshold: float
    unit: str = ""
    stated_at: tuple = ()

    def __post_init__(self):
        if self.op not in _OPS:
            raise ValueError(f"op must be one of {', '.join(_OPS)}, got {self.op!r}")

    def judge(self, value, args, parser):
        """``("met" | "MISSED" | "not judged", why)`` for the measured ``value`` (``None``:
        this run did not measure it)."""
        changed = [name for name in self.stated_at if getattr(args, name) != parser.get_default(name)]
        if changed:
            stated = ", ".join(f"{_flag(n)} {_shown(parser.get_default(n))}" for n in changed)
            ran = ", ".join(f"{_flag(n)} {_shown(getattr(args, n))}" for n in changed)
            return "not judged", f"stated at {stated}; this run: {ran}"
        if value is None or not math.isfinite(value):
            return "not judged", "this run did not measure it"
        unit = f" {self.unit}" if self.unit else ""
        verdict = "met" if _OPS[self.op](value, self.threshold) else "MISSED"
        return verdict, f"this run: {value:.4g}{unit}; needed {self.op} {self.threshold:g}{unit}"


def _flag(name):
    return "--" + name.replace("_", "-")


def _shown(value):
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    if isinstance(value, bool):
        return "(on)" if value else "(off)"
    return f"{value:g}" if isinstance(value, float) else str(value)


def check_goals(results, args, parser):
    """Print ``goal met`` / ``goal MISSED`` / ``goal not judged`` for each ``(Goal, value)``.

    Returns True when every goal is met. Under ``--check`` (``args.check``) a goal
    that is missed or not judged ends the script with exit status 1, so that
    ``make bench`` fails.
    """
    verdicts = []
    for goal, value in results:
        verdict, why = goal.judge(value, args, parser)
        verdicts.append(verdict)
        print(f"goal {verdict}: {goal.text} ({why})")
    all_met = all(v == "met" for v in verdicts)
    sys.stdout.flush()
    if args.check and not all_met:
        print(f"--check: {sum(v != 'met' for v in verdicts)} of {len(verdicts)} goals not met; exit status 1")
        sys.exit(1)
    return all_met
