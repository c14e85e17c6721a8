"""The benchmarks' shared helper (bench/common.py) and each script's command line.

No training here: the goal logic runs on made-up values, and each script is only asked
for its ``--help`` and its goals. One tiny real run of the fastest script (metrics.py)
checks that a run prints its table and that ``--check`` fails a goal it cannot judge.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

SCRIPTS = ["vae", "gan", "gru", "gpt", "finetune", "metrics"]
GOAL = common.Goal("test −ELBO ≤ 140 nats at 300 s", "<=", 140, unit="nats", stated_at=("seconds",))


def script(name):
    """Import bench/<name>.py as a module (its main() does not run)."""
    spec = importlib.util.spec_from_file_location(f"bench_script_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parsed(*argv):
    parser = common.parser("A benchmark.\n\nMore.", seconds=300)
    return parser, parser.parse_args(list(argv))


def test_shared_flags_and_their_defaults():
    parser, args = parsed()
    assert (args.seconds, args.seed, args.check) == (300, 0, False)
    assert parser.description == "A benchmark."
    _, args = parsed("--seconds", "2.5", "--seed", "3", "--check")
    assert (args.seconds, args.seed, args.check) == (2.5, 3, True)
    bare = common.parser("No budget.", seed=None)
    assert not hasattr(bare.parse_args([]), "seconds") and not hasattr(bare.parse_args([]), "seed")


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "inf", "five"])
def test_seconds_must_be_a_positive_number(bad, capsys):
    with pytest.raises(SystemExit) as exit_:
        parsed("--seconds", bad)
    assert exit_.value.code == 2
    assert "--seconds" in capsys.readouterr().err


def test_a_list_of_names_is_checked(capsys):
    p = common.parser("Models.")
    p.add_argument("--models", type=common.names("dcgan", "mlp"), default="dcgan,mlp")
    assert p.parse_args([]).models == ["dcgan", "mlp"]
    assert p.parse_args(["--models", "mlp"]).models == ["mlp"]
    with pytest.raises(SystemExit) as exit_:
        p.parse_args(["--models", "dcgan,vae"])
    assert exit_.value.code == 2 and "unknown 'vae'" in capsys.readouterr().err


def test_goal_met_missed_and_not_judged():
    parser, args = parsed()
    assert GOAL.judge(98.1, args, parser)[0] == "met"
    assert GOAL.judge(140.0, args, parser)[0] == "met", "<= includes the threshold"
    verdict, why = GOAL.judge(152.8, args, parser)
    assert verdict == "MISSED" and "152.8 nats" in why and "<= 140" in why
    for value in (None, float("nan")):
        assert GOAL.judge(value, args, parser) == ("not judged", "this run did not measure it")
    parser, short = parsed("--seconds", "20")
    verdict, why = GOAL.judge(98.1, short, parser)
    assert verdict == "not judged", "a goal stated at 300 s says nothing of a 20-second run"
    assert why == "stated at --seconds 300; this run: --seconds 20"
    strict = common.Goal("under 10 s", "<", 10)
    assert strict.judge(10.0, args, parser)[0] == "MISSED" and strict.judge(9.99, args, parser)[0] == "met"
    with pytest.raises(ValueError, match="op"):
        common.Goal("x", "=<", 1)


def test_check_exits_1_unless_every_goal_is_met(capsys):
    parser, args = parsed()
    assert common.check_goals([(GOAL, 98.1)], args, parser) is True
    assert common.check_goals([(GOAL, 98.1), (GOAL, 152.8)], args, parser) is False, "without --check: no exit"
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("goal met: test −ELBO ≤ 140 nats at 300 s (this run: 98.1 nats")
    assert out[2].startswith("goal MISSED: test −ELBO")

    parser, checking = parsed("--check")
    assert common.check_goals([(GOAL, 98.1)], checking, parser) is True, "all met: --check does not exit"
    with pytest.raises(SystemExit) as exit_:
        common.check_goals([(GOAL, 98.1), (GOAL, 152.8)], checking, parser)
    assert exit_.value.code == 1
    assert "1 of 2 goals not met" in capsys.readouterr().out
    parser, short = parsed("--check", "--seconds", "5")
    with pytest.raises(SystemExit) as exit_:
        common.check_goals([(GOAL, 98.1)], short, parser)
    assert exit_.value.code == 1, "under --check a goal that is not judged is not met"
    assert "goal not judged" in capsys.readouterr().out


def test_table_is_markdown_in_the_readme_shape(capsys):
    text = common.table(["model", "steps", "FID"], [["dcgan", "7,505", "5.87"], ["mlp", "8,480", "11.56"]])
    assert text.splitlines() == ["| model | steps | FID |", "| --- | ---: | ---: |",
                                 "| dcgan | 7,505 | 5.87 |", "| mlp | 8,480 | 11.56 |"]
    assert capsys.readouterr().out.strip() == text
    assert common.table(["a", "b"], [], align="ll").splitlines()[1] == "| --- | --- |"
    with pytest.raises(ValueError, match="align"):
        common.table(["a", "b"], [], align="l")
    with pytest.raises(ValueError, match="2 columns"):
        common.table(["a", "b"], [["only one"]])


def test_command_line_names_the_backend_when_set(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert common.command_line(["bench/gpt.py", "--iters", "200"]) == "python bench/gpt.py --iters 200"
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert common.command_line(["bench/vae.py", "--preset", "keras io"]) == \
        "KERAS_BACKEND=jax python bench/vae.py --preset 'keras io'"


def test_environment_line():
    line = common.environment()
    assert "keras " in line and "cores" in line and "load average" in line


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_script_has_help_check_and_the_readme_goals(name, capsys):
    module = script(name)
    with pytest.raises(SystemExit) as exit_:
        module.main(["--help"])
    assert exit_.value.code == 0
    assert "--check" in capsys.readouterr().out
    parser, args = module.parse([])
    assert args.check is False
    if hasattr(args, "models"):
        assert isinstance(args.models, list) and len(args.models) == 2
    # the goals are the README's, word for word, in the script's own section
    readme = (ROOT / "bench" / "README.md").read_text()
    section = re.search(rf"\n## [^\n]*`bench/{name}\.py`[^\n]*\n(.*?)(?=\n## |\Z)", readme, re.S).group(1)
    assert module.GOALS, f"bench/{name}.py states no goal"
    for goal in module.GOALS:
        assert goal.text in " ".join(section.split()), f"{goal.text!r} is not what bench/README.md says"
        for flag in goal.stated_at:
            assert hasattr(args, flag), f"{goal.text!r} is stated at a flag the script lacks: {flag}"
        assert goal.judge(None, args, parser)[0] == "not judged"


def test_make_bench_runs_every_script_with_check():
    recipe = re.search(r"^bench:.*\n\t(.*)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    scripts = {p.stem for p in (ROOT / "bench").glob("*.py")} - {"common"}
    assert scripts == set(SCRIPTS)
    listed = re.search(r"for b in ([\w ]+); do", recipe).group(1).split()
    assert sorted(listed) == sorted(SCRIPTS)
    assert "--check" in recipe and "exit $$status" in recipe, "make bench must fail when a goal is missed"


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
                    reason="a whole script on the default backend is enough")
def test_a_tiny_metrics_run_prints_its_tables_and_check_fails_an_unjudged_goal():
    run = subprocess.run([sys.executable, "bench/metrics.py", "--n", "300", "--sizes", "100", "--repeats", "1",
                          "--check"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = run.stdout
    assert out.startswith("command: python bench/metrics.py --n 300") or "KERAS_BACKEND" in out.splitlines()[0]
    assert "\nenvironment: " in out
    assert "| score | seconds | peak MB |" in out and "| all four |" in out
    assert "| n per set | FID mean | FID std | KID mean | KID std |" in out and "\n| 100 | " in out
    assert "goal not judged: all four scores on 10,000 × 10,000 features" in out
    assert run.returncode == 1 and "1 of 1 goals not met" in out, run.stderr[-2000:]
