"""The ``blackbox-opt`` command line."""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import blackbox_opt
from blackbox_opt.cli import main, parse_option
from blackbox_opt.result import HISTORY_COLUMNS


def test_list_shows_methods_and_problems(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "Methods" in out and "Problems" in out
    assert "spsa" in out
    assert "rosenbrock" in out


def test_run_writes_history_matching_minimize(tmp_path, capsys):
    path = tmp_path / "tmp" / "h.csv"  # the parent directory does not exist yet
    argv = ["run", "rosenbrock", "--method", "spsa", "--budget", "200", "--seed", "0"]
    assert main([*argv, "--out", str(path), "--quiet"]) == 0
    out = capsys.readouterr().out

    expected = blackbox_opt.minimize(
        "rosenbrock", method="spsa", budget=200, random_state=0, verbose=False
    )
    assert "spsa" in out and "rosenbrock" in out
    assert f"{expected.fun:.6g}" in out

    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    assert tuple(header) == HISTORY_COLUMNS
    assert header[:2] == ["nit", "nfev"] and header[-1] == "param_error"
    assert len(body) == expected.nit + 1  # the start row, then one per iteration
    assert [int(r[0]) for r in body] == list(range(expected.nit + 1))
    assert int(body[-1][1]) == expected.nfev
    # same seed, same run: the final best loss is identical
    assert float(body[-1][header.index("best")]) == expected.fun


def test_run_options_are_parsed_as_literals(capsys):
    argv = ["run", "rosenbrock", "-m", "spsa", "-b", "100", "-s", "1", "-q"]
    options = ["-o", "update=optimizer", "-o", "lr=1e-2", "-o", "dim=3"]
    assert main(argv + options) == 0
    out = capsys.readouterr().out
    expected = blackbox_opt.minimize(
        "rosenbrock",
        method="spsa",
        budget=100,
        random_state=1,
        verbose=False,
        update="optimizer",
        lr=1e-2,
        dim=3,
    )
    assert f"{expected.fun:.6g}" in out


def test_run_max_iter(capsys):
    argv = ["run", "spline1d", "-m", "random", "--max-iter", "3", "-s", "0", "-q"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "nit: 3" in out
    assert "maximum number of iterations" in out


def test_unknown_method_exits_2(capsys):
    code = main(["run", "rosenbrock", "--method", "spas", "--budget", "10", "--quiet"])
    assert code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ")
    assert "Did you mean" in captured.err
    assert "Traceback" not in captured.err


def test_unknown_option_exits_2(capsys):
    argv = ["run", "rosenbrock", "-m", "spsa", "-b", "10", "-q", "--option", "lrr=0.1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error: Unknown option 'lrr'" in err
    assert "Traceback" not in err


def test_an_option_both_take_needs_the_explicit_flag(capsys):
    base = ["run", "rect", "-m", "random", "--max-iter", "3", "-s", "0", "-q"]
    assert main([*base, "--option", "target=0.5"]) == 2
    assert "a parameter of both method 'random' and problem 'rect'" in capsys.readouterr().err
    assert main([*base, "--problem-option", "target=(0.5, 0.5)"]) == 0
    assert "The maximum number of iterations" in capsys.readouterr().out
    assert main([*base, "--method-option", "target=1e9"]) == 0
    assert "The target loss was reached" in capsys.readouterr().out


def test_reserved_option_exits_2(capsys):
    assert main(["run", "rosenbrock", "-m", "spsa", "-q", "--option", "budget=5"]) == 2
    assert "--budget" in capsys.readouterr().err


def test_usage_error_exits_2(capsys):
    assert main(["run", "rosenbrock", "--option", "no-equals-sign"]) == 2
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lr=1e-2", ("lr", 0.01)),
        ("n_perturbations=4", ("n_perturbations", 4)),
        ("monitor=False", ("monitor", False)),
        ("target=None", ("target", None)),
        ("optimizer=sgd", ("optimizer", "sgd")),
        ("optimizer_options={'momentum': 0.9}", ("optimizer_options", {"momentum": 0.9})),
        ("x0=[0.5, 0.5]", ("x0", [0.5, 0.5])),
        ("name=a=b", ("name", "a=b")),
    ],
)
def test_parse_option(text, expected):
    assert parse_option(text) == expected


def test_entry_point_subprocess():
    # the console script installed next to this interpreter, else one on PATH
    script = Path(sys.executable).with_name("blackbox-opt")
    exe = str(script) if script.exists() else shutil.which("blackbox-opt")
    if exe is None:
        pytest.skip("the blackbox-opt console script is not installed")
    cmd = [exe, "list"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "spsa" in proc.stdout and "rosenbrock" in proc.stdout


def test_python_dash_m(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "blackbox_opt", "run", "rosenbrock", "-m", "nope", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: Unknown method 'nope'")
    assert "Traceback" not in proc.stderr
