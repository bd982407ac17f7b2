"""Renderers run as external commands: small Python scripts, and real POV-Ray 3.7.

The POV-Ray tests need ``povray`` on PATH. Run alone they skip without it, saying so;
under ``make test`` (which installs it first with ``make povray`` where it can, and
sets ``BLACKBOX_OPT_REQUIRE_POVRAY=1``) they fail instead.
"""

import json
import math
import os
import pickle
import shutil
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import blackbox_opt
from blackbox_opt import PointsFailedError, minimize
from blackbox_opt.evaluators import ProcessPoolEvaluator
from blackbox_opt.exceptions import (
    EvaluationError,
    InvalidParameterError,
    MissingDependencyError,
)
from blackbox_opt.registry import PROBLEMS
from blackbox_opt.space import Array, Categorical, Fixed, Integer, Real
from problems.external import ExternalCommandProblem
from problems.povray import PovraySpheres

ROOT = Path(__file__).resolve().parents[2]

# A stand-in renderer: draws a 4 x 4 grey image of brightness `level`, or misbehaves
# as `mode` says. It records what it was given when RECORD_DIR is set.
RENDERER = textwrap.dedent(
    """
    import json, os, subprocess, sys, time
    params_file, output = sys.argv[1], sys.argv[2]
    p = json.load(open(params_file))
    if os.environ.get("RECORD_DIR"):
        record = dict(argv=sys.argv[1:], cwd=os.getcwd(), params=p,
                      listing=sorted(os.listdir(".")))
        name = os.path.join(os.environ["RECORD_DIR"], "point-%s.json" % sys.argv[3])
        json.dump(record, open(name, "w"))
    mode = p.get("mode", "ok")
    if mode == "crash" or p["level"] > 0.8:
        print("tile 3: out of memory", file=sys.stderr)
        sys.exit(3)
    if mode == "abort":
        os.abort()
    if mode == "silent":
        print("rendered nothing", flush=True)
        sys.exit(0)
    if mode == "garbage":
        open(output, "w").write("not an image")
        sys.exit(0)
    if mode == "hang":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        open(os.environ["PID_FILE"], "w").write("%d %d" % (os.getpid(), child.pid))
        time.sleep(30)
    import numpy as np
    np.save(open(output, "wb"), np.full((4, 4), p["level"], dtype=np.float32))
    """
)
MODES = ["ok", "crash", "abort", "silent", "garbage", "hang"]


@pytest.fixture(scope="module")
def renderer(tmp_path_factory):
    path = tmp_path_factory.mktemp("renderer") / "render.py"
    path.write_text(RENDERER)
    return path


def script_problem(renderer, mode=None, **kw):
    """A problem over (level, mode) rendered by the stand-in renderer."""
    parameters = {
        "level": Real(0.0, 1.0, init=0.2),
        "mode": mode or Categorical(MODES, encoding="index"),
    }
    kw.setdefault("target_params", {"level": 0.5, "mode": "ok"})
    command = [sys.executable, str(renderer), "{params}", "{output}", "{index}"]
    return ExternalCommandProblem(command, parameters, output="image.npy", **kw)


def points(problem, *rows):
    return torch.stack([problem.space.to_vector(dict(r), dtype=problem.dtype) for r in rows])


def alive(pid):
    """Whether a process runs (a zombie, left for init to reap, does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def assert_dead_soon(*pids, within=5.0):
    """Every process is gone within a few seconds (a SIGKILL takes effect asynchronously)."""
    deadline = time.monotonic() + within
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in pids), [pid for pid in pids if alive(pid)]


# -- the stand-in renderer: losses, placeholders, failures -----------------------------------


def test_losses_from_the_images_the_program_writes(renderer):
    p = script_problem(renderer, f_opt=0.0)
    assert p.image_shape == (4, 4, 1) and p.dim == 2 and p.cost == "expensive"
    assert p.requires == (Path(sys.executable).name,) and "external" in p.tags
    X = points(p, {"level": 0.5}, {"level": 0.2}, {"level": 0.75})
    # the images are exactly the levels, float32: the MSE to 0.5 is the squared offset
    want = [(np.float32(v) - np.float32(0.5)) ** 2 for v in (0.5, 0.2, 0.75)]
    np.testing.assert_allclose(p(X).numpy(), want, rtol=1e-6)
    assert float(p(p.x_opt)) == 0.0 == p.f_opt
    assert p.render(X).shape == (3, 4, 4, 1)
    # several at once in this process: the same losses
    assert torch.equal(script_problem(renderer, jobs=3)(X), p(X))


def test_placeholders_the_params_file_the_index_and_the_workdir(renderer, tmp_path):
    p = script_problem(renderer, env={"RECORD_DIR": str(tmp_path)})
    X = points(p, {"level": 0.1}, {"level": 0.3}, {"level": 1 / 3})
    p(X)
    records = [json.loads((tmp_path / f"point-{i}.json").read_text()) for i in range(3)]
    for i, (record, x) in enumerate(zip(records, X)):
        params_file, output, index = record["argv"]
        assert index == str(i)
        # the JSON file holds the point's values by name, as the space decodes them
        assert record["params"] == p.space.from_vector(x)
        assert Path(params_file) == Path(record["cwd"]) / "params.json"
        # {output} is absolute, inside the point's own working directory, also its cwd
        assert Path(output).is_absolute() and Path(output).parent == Path(record["cwd"])
        assert record["listing"] == ["params.json", "stderr.log", "stdout.log"]
        # and the working directory is gone once the image is read
        assert not Path(record["cwd"]).exists()
    assert len({r["cwd"] for r in records}) == 3


def test_scalar_placeholders_are_exact_and_take_format_specs(tmp_path):
    space = {
        "level": Real(0.0, 1.0),
        "n": Integer(1, 9, init=4),
        "colour": Categorical(["red", "blue"], init="blue"),
        "scale": Fixed(2.5),
        "field": Array((2,), 0.0, 1.0, init=0.5),
    }
    script = tmp_path / "echo.py"
    script.write_text(
        "import json, sys, numpy as np\n"
        "json.dump(sys.argv[2:], open(sys.argv[1], 'w'))\n"
        "np.save(open('image.npy', 'wb'), np.zeros((2, 2)))\n"
    )
    record = tmp_path / "argv.json"
    command = f"{sys.executable} {script} {record} {{level}} {{n}} {{colour}} {{scale}} "
    command += "L={level:.3f} {{literal}} {workdir}"
    p = ExternalCommandProblem(command, space, output="image.npy", target=np.zeros((2, 2)))
    x = p.space.to_vector({"level": 0.1, "n": 7, "colour": "red"}, dtype=p.dtype)
    p(x)
    level, n, colour, scale, formatted, literal, workdir = json.loads(record.read_text())
    # a float32 0.1 is written as repr writes the Python float: it reads back exactly
    assert level == repr(float(x[0])) and float(level) == float(x[0])
    assert (n, colour, scale, formatted, literal) == ("7", "red", "2.5", "L=0.100", "{literal}")
    assert Path(workdir).is_absolute()


def test_a_crash_names_its_status_and_stderr_and_keeps_the_other_losses(renderer):
    p = script_problem(renderer)
    X = points(p, {"level": 0.5}, {"mode": "crash"}, {"level": 0.2}, {"mode": "abort"})
    with pytest.raises(PointsFailedError, match="2 of 4 point") as info:
        p(X)
    error = info.value
    assert sorted(error.errors) == [1, 3]
    assert "exited with status 3" in error.errors[1]
    assert "tile 3: out of memory" in error.errors[1] and "stderr" in error.errors[1]
    assert "was killed by SIGABRT" in error.errors[3]
    assert "keep_failed=True" in error.errors[1]
    # the message names the first failure with its stderr
    assert "status 3" in str(error) and "out of memory" in str(error)
    assert torch.equal(error.losses[[0, 2]], p(X[[0, 2]]))
    assert bool(error.losses[[1, 3]].isnan().all())


def test_no_image_or_an_unreadable_one_fails_the_point(renderer):
    p = script_problem(renderer)
    with pytest.raises(PointsFailedError) as info:
        p(points(p, {"mode": "silent"}, {"mode": "garbage"}, {"level": 0.4}))
    silent, garbage = info.value.errors[0], info.value.errors[1]
    assert "exited with status 0 but wrote no image at" in silent
    assert "image.npy" in silent
    # nothing on stderr: the end of stdout is shown instead
    assert "stdout" in silent and "rendered nothing" in silent
    assert "exited with status 0 but its image is unreadable" in garbage
    assert list(info.value.errors) == [0, 1]


def test_a_stderr_tail_is_bounded(tmp_path):
    script = tmp_path / "chatty.py"
    script.write_text("import sys\nsys.stderr.write('x' * 100000 + 'THE END')\nsys.exit(1)\n")
    p = ExternalCommandProblem(
        [sys.executable, str(script)], {"a": Real(0, 1)}, target=np.zeros((2, 2))
    )
    with pytest.raises(PointsFailedError) as info:
        p(p.x0)
    reason = info.value.errors[0]
    assert reason.endswith(
        "THE END\n(keep_failed=True keeps the working directory of a failed point.)"
    )
    assert 2000 < len(reason) < 3000


def test_keep_failed_keeps_the_directory_and_says_where(renderer):
    p = script_problem(renderer, keep_failed=True)
    with pytest.raises(PointsFailedError) as info:
        p(points(p, {"mode": "crash"}, {"level": 0.3}))
    reason = info.value.errors[0]
    kept = Path(reason.rsplit("\nIts working directory is kept: ", 1)[1])
    try:
        assert "tile 3: out of memory" in (kept / "stderr.log").read_text()
        assert json.loads((kept / "params.json").read_text())["mode"] == "crash"
    finally:
        shutil.rmtree(kept)


def test_a_timeout_kills_the_program_and_its_children(renderer, tmp_path):
    pid_file = tmp_path / "pids"
    # 5 s: long enough for the normal point's Python start-up on a loaded machine
    p = script_problem(renderer, timeout=5, env={"PID_FILE": str(pid_file)})
    t0 = time.perf_counter()
    with pytest.raises(PointsFailedError) as info:
        p(points(p, {"mode": "hang"}, {"level": 0.4}))
    assert time.perf_counter() - t0 < 25  # not the program's 30 s
    assert "timed out after 5 s" in info.value.errors[0]
    assert list(info.value.errors) == [0] and math.isfinite(float(info.value.losses[1]))
    assert_dead_soon(*map(int, pid_file.read_text().split()))


@pytest.mark.parametrize("on_error", ["penalize", "reask"])
def test_a_run_goes_on_past_crashing_points(renderer, on_error):
    # the renderer crashes for every level above 0.8: a fifth of the random points
    p = script_problem(renderer, mode=Fixed("ok"), jobs=8)
    policy = {"on_error": on_error, "penalty": 1.0 if on_error == "penalize" else None}
    res = minimize(p, "random", budget=24, batch_size=8, random_state=0, verbose=False,
                   **policy)  # fmt: skip
    assert res.nfail > 0 and res.nfev <= 24
    assert math.isfinite(res.fun) and res.fun < float(p(p.x0))
    assert float(p(res.x)) == res.fun and float(res.x[0]) <= 0.8
    # under "raise" the same run ends with the first crash, and its best point so far
    with pytest.raises(EvaluationError, match="out of memory") as info:
        minimize(p, "random", budget=24, batch_size=8, random_state=0, verbose=False)
    assert info.value.result is not None


def test_it_pickles_and_renders_the_same_after(renderer):
    p = script_problem(renderer)
    X = points(p, {"level": 0.1}, {"level": 0.7})
    picklers = [pickle]
    try:
        import cloudpickle  # the evaluators' pickler, with the distributed extra

        picklers.append(cloudpickle)
    except ImportError:
        pass
    for pickler in picklers:
        q = pickle.loads(pickler.dumps(p))
        assert torch.equal(p(X), q(X)) and torch.equal(p.target, q.target)


def test_a_copy_looks_for_the_program_again_where_it_is_unpickled(tmp_path, monkeypatch):
    # another machine: the program is installed elsewhere there, or not at all
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir(), there.mkdir()
    program = here / "fake-render"
    program.write_text(
        f"#!{sys.executable}\nimport sys, numpy as np\n"
        "np.save(open(sys.argv[1], 'wb'), np.full((2, 2), float(sys.argv[2])))\n"
    )
    program.chmod(0o755)
    monkeypatch.setenv("PATH", str(here))
    p = ExternalCommandProblem(
        "fake-render {output} {a}", {"a": Real(0, 1)}, output="i.npy", target=np.zeros((2, 2))
    )
    assert p.program == str(program) and p.command[0] == str(program)
    data = pickle.dumps(p)
    program.rename(there / "fake-render")
    monkeypatch.setenv("PATH", str(there))
    q = pickle.loads(data)
    assert q.program == str(there / "fake-render")
    assert torch.equal(q(q.x0[None]), p.x0.square())
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingDependencyError, match="'fake-render', which was not found"):
        pickle.loads(data)


def test_an_interrupt_kills_the_batch_s_running_programs(renderer, tmp_path, monkeypatch):
    import problems.external

    pid_file = tmp_path / "pids"
    p = script_problem(renderer, jobs=2, env={"PID_FILE": str(pid_file)})

    def interrupted(path):
        while not pid_file.exists():  # the other point's program is running
            time.sleep(0.01)
        raise KeyboardInterrupt

    monkeypatch.setattr(problems.external, "read_image", interrupted)
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        p.render_points([{"level": 0.3, "mode": "ok"}, {"level": 0.3, "mode": "hang"}])
    assert time.perf_counter() - t0 < 10  # not the hanging program's 30 s
    assert_dead_soon(*map(int, pid_file.read_text().split()))


# -- errors when it is made ----------------------------------------------------------------


def test_placeholder_errors_are_raised_when_it_is_made(renderer):
    space = {"level": Real(0.0, 1.0), "field": Array((2,), 0.0, 1.0, init=0.5)}
    make = lambda *cmd, **kw: ExternalCommandProblem(  # noqa: E731
        [sys.executable, *cmd], space, target=np.zeros((2, 2)), **kw
    )
    with pytest.raises(InvalidParameterError, match=r"unknown placeholder \{levl\}") as info:
        make("--level={levl}")
    assert "Did you mean 'level'?" in str(info.value)
    assert "{level}, {params}, {output}, {workdir}, {index}" in str(info.value)
    with pytest.raises(InvalidParameterError, match="an array parameter"):
        make("{field}")
    with pytest.raises(InvalidParameterError, match="empty"):
        make("{}")
    with pytest.raises(InvalidParameterError, match="not a valid template"):
        make("{level")
    with pytest.raises(InvalidParameterError, match=r"\{level\} cannot be formatted"):
        make("{level:d}")
    with pytest.raises(InvalidParameterError, match="placeholders of the command"):
        ExternalCommandProblem([sys.executable], {"output": Real(0, 1)}, target=np.zeros(2))
    with pytest.raises(InvalidParameterError, match="inside each point's working directory"):
        make("{output}", output="/tmp/image.png")
    with pytest.raises(InvalidParameterError, match="timeout must be a positive"):
        make("{output}", timeout=0)
    with pytest.raises(InvalidParameterError, match="command is empty"):
        ExternalCommandProblem("", space, target=np.zeros((2, 2)))
    with pytest.raises(InvalidParameterError, match="jobs must be"):
        make("{output}", jobs=0)


def test_a_missing_program_is_an_error_when_it_is_made(tmp_path, monkeypatch):
    with pytest.raises(MissingDependencyError, match="'no-such-renderer', which was not found"):
        ExternalCommandProblem(
            "no-such-renderer {output}", {"a": Real(0, 1)}, target=np.zeros((2, 2)),
            install_hint="Install it with: apt-get install no-such-renderer",
        )  # fmt: skip
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing there: no povray
    for make in (PovraySpheres, lambda: blackbox_opt.make_problem("povray-spheres")):
        with pytest.raises(MissingDependencyError, match="'povray', which was not found") as e:
            make()
        assert "make povray" in str(e.value) and "apt-get install povray" in str(e.value)


def test_a_failed_target_render_is_an_error_when_it_is_made(renderer):
    with pytest.raises(EvaluationError, match="could not render the target: exited with"):
        script_problem(renderer, target_params={"level": 0.5, "mode": "crash"})


# -- POV-Ray ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True, scope="module")
def _registered():
    """povray-spheres by id, as the entry point of pyproject.toml registers it once the
    package is installed again (an installed package that predates it lacks it)."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '\npovray-spheres = "problems.povray:PovraySpheres"\n' in pyproject
    added = "povray-spheres" not in PROBLEMS
    if added:
        blackbox_opt.register_problem("povray-spheres", "problems.povray:PovraySpheres")
    yield
    if added:
        PROBLEMS.unregister("povray-spheres")


@pytest.fixture(scope="module")
def povray():
    if shutil.which("povray") is None:
        reason = "POV-Ray is not installed: make povray, or apt-get install povray"
        if os.environ.get("BLACKBOX_OPT_REQUIRE_POVRAY"):
            pytest.fail(f"{reason} (make test needs it)")
        pytest.skip(reason)
    return blackbox_opt.make_problem("povray-spheres")


def test_povray_registry_contract(povray):
    p = povray
    assert p.id == "povray-spheres" and isinstance(p, PovraySpheres)
    assert p.dim == 3 and list(p.space) == ["x", "z", "radius"]
    assert p.x0.tolist() == pytest.approx([-1.0, 1.6, 0.3])
    assert p.x_opt.tolist() == pytest.approx([0.35, 0.2, 0.55])
    assert p.bounds[0].tolist() == pytest.approx([-1.5, -1.0, 0.2])
    assert p.bounds[1].tolist() == pytest.approx([1.5, 2.0, 0.8])
    assert p.requires == ("povray",) and p.cost == "expensive" and p.version == 1
    assert {"image", "external", "plateau"} <= set(p.tags)
    row = {r["id"]: r for r in blackbox_opt.list_problems()}["povray-spheres"]
    assert row["dim"] == 3 and row["requires"] == "povray"
    X = torch.stack([p.x_opt, p.x0, p.x_opt, p.x0 + 0.01])
    losses = p(X)
    # POV-Ray renders the target again pixel for pixel: the loss there is exactly 0
    assert float(losses[0]) == float(losses[2]) == p.f_opt == 0.0
    assert float(losses[1]) > 0.005  # the start is clearly worse
    images = p.render(X[:2])
    assert images.shape == (2, 32, 32, 3) and p.image_shape == (32, 32, 3)
    assert 0 <= float(images.min()) and float(images.max()) <= 1
    # the red sphere: more red pixels at the target (larger, nearer) than at the start
    red = ((images[..., 0] - images[..., 2]) > 0.3).sum((1, 2))
    assert int(red[1]) > 0 and int(red[0]) > 2 * int(red[1])


def test_povray_is_deterministic(povray):
    x = povray.x0 + torch.tensor([0.4, -0.3, 0.1])
    first = float(povray(x))
    assert float(povray(x)) == first
    assert float(PovraySpheres()(x)) == first  # another instance, another target render


def test_a_povray_error_reaches_the_failure_message(povray):
    scene = textwrap.dedent(
        """
        #version 3.7;
        #if (Size > 0.5) #error "the scene refuses a Size above 0.5" #end
        camera { location <0, 0, -3> look_at 0 }
        light_source { <2, 4, -3> color rgb 1 }
        sphere { 0, Size pigment { color rgb <1, 0, 0> } }
        """
    )
    p = ExternalCommandProblem(
        "povray +Iscene.pov +O{output} +W8 +H8 -A -D +FN -V Declare=Size={size}",
        {"size": Real(0.1, 1.0)},
        files={"scene.pov": scene},
        target_params={"size": 0.3},
        jobs=2,
    )
    with pytest.raises(PointsFailedError) as info:
        p(p.space.to_vector({"size": 0.9})[None].repeat(2, 1) * torch.tensor([[1.0], [0.4]]))
    (reason,) = info.value.errors.values()
    assert list(info.value.errors) == [0] and "exited with status" in reason
    # POV-Ray's own message (it wraps its lines at 80 columns), and the command as run
    assert "Parse halted by #error directive" in reason and "Size above 0.5" in reason
    assert f"Declare=Size={float(torch.tensor(0.9))!r}" in reason
    assert float(info.value.losses[1]) > 0


@pytest.mark.slow
def test_povray_on_two_worker_processes_gives_the_serial_losses(povray):
    g = torch.Generator().manual_seed(0)
    lo, hi = povray.bounds
    X = lo + (hi - lo) * torch.rand(6, 3, generator=g, dtype=povray.dtype)
    serial = povray(X)
    with ProcessPoolEvaluator(n_workers=2) as evaluator:
        assert torch.equal(evaluator.wrap(povray).evaluate(X), serial)


@pytest.mark.slow
def test_cmaes_recovers_the_povray_parameters(povray):
    # CMA-ES, 16 renders at a time for 10 iterations (about 10 s), from a start whose
    # red sphere overlaps the target's
    p = PovraySpheres(jobs=16, x0={"x": 0.0, "z": 0.7, "radius": 0.45})
    start = float(p(p.x0))
    t0 = time.perf_counter()
    res = minimize(p, "cmaes", popsize=16, sigma0=0.2, max_iter=10, monitor=False,
                   random_state=0, verbose=False)  # fmt: skip
    seconds = time.perf_counter() - t0
    assert res.nfev == 160
    assert res.fun < 0.1 * start
    assert float((res.x - p.x_opt).abs().max()) < 0.06, res.x
    assert seconds < 120
