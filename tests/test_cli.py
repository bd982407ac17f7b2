"""The ``blackbox-opt`` command line."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
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


# -- the user's own problem, the files of --out, families, the progress bar ------------------

MODEL = """
import numpy as np
import torch

import blackbox_opt

TRUTH = np.linspace(0.1, 0.9, 5)


def loss(x):
    return float(np.sum((x - TRUTH) ** 2))


def batch_loss(X):
    return np.sum((X - TRUTH) ** 2, axis=1)


class Quad(blackbox_opt.Problem):
    def __init__(self, dim=18):
        target = torch.linspace(0, 1, dim, dtype=torch.float64)
        super().__init__(torch.full((dim,), 0.5, dtype=torch.float64), (0.0, 1.0), x_opt=target)

    def _evaluate(self, X):
        return ((X - self.x_opt) ** 2).sum(-1)


def make(dim=4):
    return Quad(dim)


def not_a_problem():
    return 3.0


instance = Quad(3)
"""


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "my_model.py"
    path.write_text(MODEL, encoding="utf-8")
    return path


def _read_points(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_run_an_objective_function_from_a_file_writes_the_full_x(model, tmp_path, capsys):
    out = tmp_path / "fit"
    argv = ["run", f"{model}:loss", "--x0", "0.5,0.5,0.5,0.5,0.5", "--bounds", "0,1"]
    assert main([*argv, "-m", "cmaes", "-b", "600", "-s", "0", "-q", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "..." not in printed
    record = json.loads((tmp_path / "fit.json").read_text(encoding="utf-8"))
    assert record["problem"] == "loss" and record["method"] == "cmaes"
    assert len(record["x"]) == 5 and record["x0"] == [0.5] * 5
    assert np.allclose(record["x"], np.linspace(0.1, 0.9, 5), atol=1e-3)
    assert record["fun"] == pytest.approx(np.sum((np.array(record["x"]) - TRUTH5) ** 2))
    rows = _read_points(tmp_path / "fit.x.csv")
    assert rows[0] == ["point", "x_0", "x_1", "x_2", "x_3", "x_4"]
    assert [r[0] for r in rows[1:]] == ["best", "last", "start"]
    assert [float(v) for v in rows[1][1:]] == record["x"]  # full precision
    history = _read_points(tmp_path / "fit.csv")
    assert tuple(history[0]) == HISTORY_COLUMNS and len(history) == record["nit"] + 2

    # the same run as minimize with the same function, start, bounds and seed
    expected = blackbox_opt.minimize(
        lambda x: float(np.sum((x - TRUTH5) ** 2)),
        method="cmaes",
        x0=np.full(5, 0.5),
        bounds=(0.0, 1.0),
        budget=600,
        random_state=0,
        verbose=False,
    )
    assert record["x"] == expected.x.tolist()


TRUTH5 = np.linspace(0.1, 0.9, 5)


def test_bounds_as_pairs_and_a_vectorised_objective(model, tmp_path):
    pairs = "[(0, 1), (0, 1), (0, 0.2), (0, 1), (0, 1)]"
    argv = ["run", f"{model}:batch_loss", "--x0", "[0.5, 0.5, 0.1, 0.5, 0.5]", "--bounds", pairs]
    argv += ["-m", "cmaes", "-b", "600", "-s", "0", "-q", "-o", "vectorized=True"]
    assert main([*argv, "--out", str(tmp_path / "fit")]) == 0
    x = np.array(json.loads((tmp_path / "fit.json").read_text(encoding="utf-8"))["x"])
    # the third coordinate is held at its upper bound 0.2, below the truth 0.3
    assert x[2] == pytest.approx(0.2, abs=1e-6)
    assert np.allclose(x[[0, 1, 3, 4]], TRUTH5[[0, 1, 3, 4]], atol=1e-3)


def test_run_a_problem_class_a_factory_and_an_instance_from_a_file(model, capsys):
    assert (
        main(["run", f"{model}:Quad", "-o", "dim=18", "-m", "spsa", "-b", "2000", "-s", "0", "-q"])
        == 0
    )
    out = capsys.readouterr().out
    expected = blackbox_opt.minimize(
        _load(model).Quad(dim=18), method="spsa", budget=2000, random_state=0, verbose=False
    )
    assert f"fun: {expected.fun:.6g}" in out and "..." not in out
    assert "x: [" in out and out.count(".") > 18  # all 18 values
    assert main(["run", f"{model}:make", "-m", "random", "-b", "50", "-s", "0", "-q"]) == 0
    assert "problem: " + f"{model}:make" in capsys.readouterr().out
    assert main(["run", f"{model}:instance", "-m", "random", "-b", "50", "-s", "0", "-q"]) == 0
    assert "problem: Quad" in capsys.readouterr().out
    assert f"{model}:make" not in blackbox_opt.registry.PROBLEMS  # nothing stays registered


def _load(path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("my_model_for_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_module_attr_from_an_importable_module(model, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(model.parent))
    argv = ["run", "my_model:loss", "--x0", "0.5,0.5,0.5,0.5,0.5", "-m", "spsa", "-b", "400"]
    assert main([*argv, "-s", "1", "-q"]) == 0
    assert "problem: loss" in capsys.readouterr().out
    assert main(["run", "my_model:Quad", "-o", "dimm=3", "-b", "10", "-q"]) == 2
    assert "Did you mean 'dim'?" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{model}:loss"], "is an objective function of a point: give its start with --x0"),
        (["{model}:lose"], "has no attribute 'lose'. Did you mean 'loss'?"),
        (["{dir}/missing.py:loss"], "there is no file"),
        (["no_such_module_here:loss"], "no module named 'no_such_module_here'"),
        (["{model}:TRUTH"], "is a ndarray, not a Problem, a factory of one or an objective"),
        (["{model}:not_a_problem"], "returned a float, not a blackbox_opt.Problem"),
        (
            ["{model}:loss", "--x0", "0.5,0.5", "--bounds", "[(0, 1), (0, 1), (0, 1)]"],
            "--bounds gives 3 (lo, hi) pairs but --x0 has 2 values",
        ),
    ],
)
def test_errors_about_the_users_problem_name_the_argument(model, capsys, argv, message):
    argv = [a.format(model=model, dir=model.parent) for a in argv]
    assert main(["run", *argv, "-m", "random", "-b", "20", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_bad_x0_and_bounds_are_usage_errors(capsys):
    assert main(["run", "rosenbrock", "--x0", "a,b"]) == 2
    assert "a point is comma-separated numbers" in capsys.readouterr().err
    assert main(["run", "rosenbrock", "--bounds", "1,0"]) == 2
    assert "each lower bound must be at most its upper bound" in capsys.readouterr().err
    assert main(["run", "rosenbrock", "--bounds", "[(0, 1, 2)]"]) == 2
    assert "one (lo, hi) pair per parameter" in capsys.readouterr().err


def test_x0_replaces_a_registered_problems_start(tmp_path):
    out = tmp_path / "h.csv"
    argv = ["run", "rosenbrock", "--x0", "0.9,0.8", "-m", "spsa", "-b", "20", "-s", "0", "-q"]
    assert main([*argv, "--out", str(out)]) == 0
    header, first, *_ = _read_points(out)
    start = 100 * (0.8 - 0.9**2) ** 2 + (1 - 0.9) ** 2
    assert float(first[header.index("loss")]) == pytest.approx(start)
    record = json.loads((tmp_path / "h.json").read_text(encoding="utf-8"))
    assert record["x0"] == [0.9, 0.8]


def test_a_negative_start_and_bounds_may_follow_their_option(tmp_path):
    # "--x0 -0.5,0.8": argparse alone would take "-0.5,0.8" for an option
    out = tmp_path / "h.csv"
    argv = ["run", "rosenbrock", "--x0", "-0.5,0.8", "--bounds", "-2,2", "-m", "spsa", "-b", "20"]
    assert main([*argv, "-s", "0", "-q", "--out", str(out)]) == 0
    record = json.loads((tmp_path / "h.json").read_text(encoding="utf-8"))
    assert record["x0"] == [-0.5, 0.8]


def test_out_keeps_the_iterates_with_record_x(tmp_path, capsys):
    out = tmp_path / "run.csv"
    argv = ["run", "rosenbrock", "-m", "spsa", "-b", "40", "-s", "0", "-q", "-o", "record_x=True"]
    assert main([*argv, "--out", str(out)]) == 0
    header, *body = _read_points(out)
    assert header[-2:] == ["x_0", "x_1"] and [float(v) for v in body[0][-2:]] == [-1.2, 1.0]
    points = _read_points(tmp_path / "run.x.csv")
    assert [r[0] for r in points[1:]] == ["best", "last", "start"]
    assert [float(v) for v in points[3][1:]] == [-1.2, 1.0]


def test_out_has_the_start_of_a_registered_problem_without_record_x(tmp_path):
    out = tmp_path / "run.csv"
    argv = ["run", "rosenbrock", "-m", "spsa", "-b", "40", "-s", "0", "-q"]
    assert main([*argv, "--out", str(out)]) == 0
    points = _read_points(tmp_path / "run.x.csv")
    assert [r[0] for r in points[1:]] == ["best", "last", "start"]
    assert [float(v) for v in points[3][1:]] == [-1.2, 1.0]  # rosenbrock's own start
    record = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert record["x0"] == [-1.2, 1.0]


SPACED = """
import numpy as np
from blackbox_opt import FunctionProblem
from blackbox_opt.space import Array, Categorical, Integer, Real, Space

space = Space(
    colour=Categorical(["green, light", "red", "blue"]),
    n=Integer(1, 5),
    t=Real(0.01, 10, log=True),
    w=Array((2,), low=0.0, high=1.0, init=0.5),
)


def loss(colour, n, t, w):
    return (colour != "blue") + (n - 3) ** 2 + (np.log(t) - 0.2) ** 2 + float(np.sum(w**2))


problem = FunctionProblem(loss, space=space)
"""


def test_out_writes_the_named_parameters_of_a_space_decoded(tmp_path, monkeypatch):
    # a log-scaled real in its own units and a category as its text, not the encoded
    # vector a reader of the files cannot interpret
    (tmp_path / "spaced.py").write_text(SPACED, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    argv = ["run", "spaced.py:problem", "-m", "cmaes", "-b", "400", "-s", "0", "-q"]
    assert main([*argv, "--out", "fit"]) == 0
    record = json.loads((tmp_path / "fit.json").read_text(encoding="utf-8"))
    best, start = record["params"], record["params0"]
    assert best["colour"] == "blue" and best["n"] == 3 and abs(np.log(best["t"]) - 0.2) < 0.1
    assert start["colour"] == "green, light" and start["n"] == 3 and start["w"] == [0.5, 0.5]
    assert start["t"] == pytest.approx(10**-0.5)  # the log scale's middle
    assert set(record["params_last"]) == {"colour", "n", "t", "w"}
    points = _read_points(tmp_path / "fit.x.csv")
    assert points[0] == ["point", "colour", "n", "t", "w[0]", "w[1]"]
    rows = {r[0]: r[1:] for r in points[1:]}
    assert list(rows) == ["best", "last", "start"]
    assert rows["best"][:2] == ["blue", "3"] and float(rows["best"][2]) == best["t"]
    # a category holding a comma is quoted, and reads back whole
    assert rows["start"][0] == "green, light" and [float(v) for v in rows["start"][3:]] == [
        0.5,
        0.5,
    ]
    result = blackbox_opt.minimize(
        blackbox_opt.cli.load_problem("spaced.py:problem"),
        method="cmaes",
        budget=400,
        random_state=0,
        verbose=False,
    )
    assert result.params_last.keys() == result.params0.keys() == result.params.keys()


FLAKY = """
import numpy as np

calls = []


def render(x):
    calls.append(1)
    if len(calls) == 30:
        raise RuntimeError("frame 30 was lost")
    return float(np.sum((np.asarray(x) - 1.0) ** 2))
"""


def test_a_crash_of_the_forward_model_still_prints_and_writes_the_result(tmp_path, capsys):
    path = tmp_path / "flaky.py"
    path.write_text(FLAKY, encoding="utf-8")
    out = tmp_path / "crash"
    argv = ["run", f"{path}:render", "--x0", "0,0", "-m", "cmaes", "-b", "200", "-s", "0"]
    assert main([*argv, "-q", "--out", str(out)]) == 1  # a run that ended abnormally
    captured = capsys.readouterr()
    assert captured.err.startswith("error: The forward model of render failed at iteration")
    assert "frame 30 was lost" in captured.err and "on_error=penalize" in captured.err
    assert "Traceback" not in captured.err and ".result" not in captured.err
    record = json.loads((tmp_path / "crash.json").read_text(encoding="utf-8"))
    # every render is counted, the failed 30th included (monitoring renders apart), and
    # the best of the 29 before it is the result
    assert record["success"] is False and record["nfail"] == 1
    assert record["nfev"] + record["nfev_monitor"] == 30
    assert record["fun"] < 2.0  # below the start's loss (2.0)
    assert record["fun"] == pytest.approx(np.sum((np.array(record["x"]) - 1.0) ** 2))
    assert f"{record['fun']:.6g}" in captured.out
    history = _read_points(tmp_path / "crash.csv")
    assert len(history) == record["nit"] + 2
    assert [r[0] for r in _read_points(tmp_path / "crash.x.csv")[1:]] == ["best", "last", "start"]

    # the same policy as minimize: penalize goes on past the lost frame to the budget
    path.write_text(FLAKY, encoding="utf-8")
    argv += ["-q", "-o", "on_error=penalize"]
    assert main([*argv, "--out", str(tmp_path / "penalized")]) == 0
    record = json.loads((tmp_path / "penalized.json").read_text(encoding="utf-8"))
    assert record["success"] is True and record["nfail"] == 1 and record["nfev"] >= 195
    assert "nfail: 1" in capsys.readouterr().out  # the lost frames are printed


def test_checkpoint_resumes_and_goes_on_to_a_larger_max_iter(tmp_path, capsys):
    ckpt = tmp_path / "runs" / "fit.ckpt"  # its folder does not exist yet
    argv = ["run", "rosenbrock", "-m", "cmaes", "-s", "0", "-q", "-o", "cma_options={'tolfun': 0}"]
    assert main([*argv, "--max-iter", "30", "--out", str(tmp_path / "straight")]) == 0
    assert main([*argv, "--max-iter", "12", "--checkpoint", str(ckpt)]) == 0
    assert ckpt.exists()
    resume = ["--max-iter", "30", "--checkpoint", str(ckpt), "--out", str(tmp_path / "on")]
    assert main([*argv, *resume]) == 0
    straight, on = (
        json.loads((tmp_path / f"{name}.json").read_text(encoding="utf-8"))
        for name in ("straight", "on")
    )
    assert on["nit"] == 30 and (on["fun"], on["x"], on["nfev"]) == (
        straight["fun"],
        straight["x"],
        straight["nfev"],
    )
    capsys.readouterr()
    assert main(["run", "rosenbrock", "-o", f"checkpoint={ckpt}"]) == 2  # the flag's job
    assert "--checkpoint" in capsys.readouterr().err


def test_list_shows_the_problem_families(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "Problem families" in out
    families = out.split("Problem families")[1]
    assert "texture-family" in families and "brdf-family" in families


def test_the_progress_bar_only_on_a_terminal(monkeypatch, capsys):
    argv = ["run", "rosenbrock", "-m", "spsa", "-b", "100", "-s", "0"]
    bar = "spsa on rosenbrock"
    assert main(argv) == 0
    assert bar not in capsys.readouterr().err  # stderr is captured: not a terminal
    assert main([*argv, "--progress"]) == 0
    err = capsys.readouterr().err
    assert bar in err and "/100" in err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(argv) == 0
    assert bar in capsys.readouterr().err
    assert main([*argv, "--quiet"]) == 0
    assert bar not in capsys.readouterr().err


def test_no_progress_bar_when_stderr_is_a_file(tmp_path):
    err = tmp_path / "err.txt"
    with open(err, "w", encoding="utf-8") as fh:
        proc = subprocess.run(
            [sys.executable, "-m", "blackbox_opt", "run", "rosenbrock", "-m", "spsa", "-b", "200"],
            stdout=subprocess.PIPE,
            stderr=fh,
            text=True,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 0 and "fun:" in proc.stdout
    assert err.read_text(encoding="utf-8") == ""


def test_a_reader_that_goes_away_ends_the_command_quietly():
    # blackbox-opt list | head -1: the pipe closes before the listing is written
    proc = subprocess.Popen(
        [sys.executable, "-m", "blackbox_opt", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # gone before the program has written anything
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr
