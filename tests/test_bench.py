"""The benchmark: experiments as data, the resumable runner, figures and summary."""

import dataclasses
import importlib
import json

import numpy as np
import pandas as pd
import pytest
import torch

# bench/ runs from the repository root (pytest's pythonpath setting puts it on the path)
from bench import figures, runner, summary
from bench.__main__ import HANDLERS
from bench.__main__ import main as bench_main
from bench.experiments import EXPERIMENTS, Experiment, ProblemSpec, get_experiment, prdpt_paper

TINY = Experiment(
    name="tiny",
    title="two methods, one problem, two seeds",
    problems=("rosenbrock",),
    methods=("prdpt", "spsa"),
    budgets={"quick": {"default": 40}, "full": {"default": 80}},
    seeds={"quick": 2, "full": 1},
    hyperparams={"prdpt": {"default": {"sigma": 0.2, "n_samples": 2}}},
)


def _files(root, pattern):
    return sorted(p for p in root.rglob(pattern) if p.is_file())


def test_runner_writes_the_tidy_table_and_resumes(tmp_path):
    result = runner.run([TINY], out=tmp_path, progress=False)
    assert len(result["ran"]) == 4 and result["skipped_existing"] == 0
    assert {r["status"] for r in result["ran"]} == {"done"}

    history = pd.read_parquet(result["history"])
    assert list(history.columns) == list(runner.TABLE_COLUMNS)
    runs = history.groupby(["experiment", "problem", "method", "seed"]).size()
    assert len(runs) == 4
    assert set(history["method"]) == {"prdpt", "spsa"} and set(history["seed"]) == {0, 1}
    # prdpt: 2 pairs = 4 evaluations per iteration: 10 iterations fit in 40 evaluations
    assert (history.groupby(["method", "seed"])["nfev"].max() <= 40).all()
    prdpt = history[(history["method"] == "prdpt") & (history["seed"] == 0)]
    assert prdpt["nit"].max() == 10
    sigma = prdpt["sigma"].dropna()  # annealed from 0.2 over the run
    assert sigma.iloc[0] == 0.2 and sigma.iloc[-1] < 0.01 and sigma.is_monotonic_decreasing
    records = pd.read_csv(result["records"])
    assert len(records) == 4 and (records["nfev"] <= 40).all()
    assert (records["fun"] == history.groupby(["method", "seed"])["best"].min().min()).any()

    mtimes = {p: p.stat().st_mtime_ns for p in _files(tmp_path, "seed*.json")}
    again = runner.run([TINY], out=tmp_path, progress=False)
    assert again["ran"] == [] and again["skipped_existing"] == 4
    assert {p: p.stat().st_mtime_ns for p in _files(tmp_path, "seed*.json")} == mtimes

    # the same seed gives the same run
    seed0 = json.loads((tmp_path / "quick/runs/tiny/rosenbrock/spsa/seed0.json").read_text())
    rerun = runner.run_task(runner.plan([TINY])[2], tmp_path / "again")
    assert rerun["method"] == "spsa" and rerun["seed"] == 0 and rerun["fun"] == seed0["fun"]

    # a changed budget makes the runs stale: they run again
    longer = dataclasses.replace(TINY, budgets={"quick": {"default": 60}})
    assert len(runner.run([longer], out=tmp_path, progress=False)["ran"]) == 4
    assert (pd.read_csv(runner.gather(tmp_path)["records"])["budget"] == 60).all()


def test_a_changed_problem_version_makes_its_records_stale(tmp_path, monkeypatch):
    from blackbox_opt.registry import PROBLEMS

    rosenbrock = PROBLEMS.entry("rosenbrock").load()
    version = getattr(rosenbrock, "version", 1)
    first = runner.run([TINY], out=tmp_path, progress=False, methods=["spsa"])
    assert [r["problem_version"] for r in first["ran"]] == [version, version]
    assert runner.run([TINY], out=tmp_path, progress=False, methods=["spsa"])["ran"] == []

    # a record written before records carried the version counts as version 1
    if version == 1:
        path = tmp_path / "quick/runs/tiny/rosenbrock/spsa/seed0.json"
        record = json.loads(path.read_text())
        del record["problem_version"]
        path.write_text(json.dumps(record))
        assert runner.run([TINY], out=tmp_path, progress=False, methods=["spsa"])["ran"] == []

    # a new version of the problem: its runs are stale and run again, once
    monkeypatch.setattr(rosenbrock, "version", version + 1, raising=False)
    assert runner.problem_version("rosenbrock") == version + 1
    again = runner.run([TINY], out=tmp_path, progress=False, methods=["spsa"])
    assert [r["problem_version"] for r in again["ran"]] == [version + 1, version + 1]
    assert runner.run([TINY], out=tmp_path, progress=False, methods=["spsa"])["ran"] == []
    records = pd.read_csv(runner.gather(tmp_path)["records"])
    assert (records["problem_version"] == version + 1).all()


def test_a_changed_method_version_makes_its_records_stale(tmp_path, monkeypatch):
    from blackbox_opt.registry import METHODS

    spsa = METHODS.entry("spsa").load()
    version = getattr(spsa, "version", 1)
    first = runner.run([TINY], out=tmp_path, progress=False, methods=["spsa"])
    assert [r["method_version"] for r in first["ran"]] == [version, version]
    assert runner.run([TINY], out=tmp_path, progress=False, methods=["spsa"])["ran"] == []

    # a record written before records carried the method's version counts as version 1
    if version == 1:
        path = tmp_path / "quick/runs/tiny/rosenbrock/spsa/seed0.json"
        record = json.loads(path.read_text())
        del record["method_version"]
        path.write_text(json.dumps(record))
        assert runner.run([TINY], out=tmp_path, progress=False, methods=["spsa"])["ran"] == []

    # a new version of the method: its runs are stale and run again, once
    monkeypatch.setattr(spsa, "version", version + 1, raising=False)
    assert runner.method_version("spsa") == version + 1
    again = runner.run([TINY], out=tmp_path, progress=False, methods=["spsa"])
    assert [r["method_version"] for r in again["ran"]] == [version + 1, version + 1]
    assert runner.run([TINY], out=tmp_path, progress=False, methods=["spsa"])["ran"] == []
    records = pd.read_csv(runner.gather(tmp_path)["records"])
    assert (records["method_version"] == version + 1).all()
    assert runner.method_version("no-such-method") == 1


def test_methods_the_experiments_do_not_run_are_an_error_unless_added(tmp_path, capsys):
    from blackbox_opt import UnknownNameError

    with pytest.raises(ValueError, match="not a method of the experiments 'tiny'"):
        runner.plan([TINY], methods=["cmaes"])
    with pytest.raises(ValueError, match="names no method"):
        runner.plan([TINY], methods=[])
    with pytest.raises(UnknownNameError, match="nope"):
        runner.plan([TINY], add_methods=["nope"])

    # an added method runs on every problem with every seed, at its default settings
    added = runner.plan([TINY], add_methods=["random", "spsa"])
    assert [t.method for t in added] == ["prdpt", "prdpt", "spsa", "spsa", "random", "random"]
    random = [t for t in added if t.method == "random"]
    assert [t.seed for t in random] == [0, 1]
    assert all(t.params == {} and t.budget == 40 for t in random)
    assert TINY.methods == ("prdpt", "spsa")  # the experiment itself is left as it was
    only = runner.plan([TINY], methods=["spsa"], add_methods=["random"])
    assert {t.method for t in only} == {"spsa", "random"}

    out = ["--out", str(tmp_path), "--no-progress"]
    assert bench_main(["run", "toys", "--methods", "cmaes,nope", *out]) == 2
    err = capsys.readouterr().err
    assert "unknown methods ['nope']" in err and "--add-methods" in err
    assert bench_main(["run", "rastrigin", "--methods", "adam", *out]) == 2
    assert "not a method of the experiments 'rastrigin'" in capsys.readouterr().err
    assert bench_main(["run", "rastrigin", "--add-methods", "nope", *out]) == 2
    assert "nope" in capsys.readouterr().err


def test_failed_runs_run_again_only_with_retry_failed(tmp_path, capsys, monkeypatch):

    e = Experiment(
        name="retry",
        title="",
        problems=("occlusion",),
        methods=("adam", "spsa"),
        budgets={"quick": {"default": 20}, "full": {"default": 20}},
        seeds={"quick": 1},
    )
    monkeypatch.setitem(EXPERIMENTS, "retry", e)
    comparing = importlib.import_module("blackbox_opt.compare")
    run_one = comparing.run_one  # every benchmark run goes through it

    def crashing(problem, method, **kwargs):
        if method == "spsa":
            raise RuntimeError("a crash")
        return run_one(problem, method, **kwargs)

    monkeypatch.setattr(comparing, "run_one", crashing)
    first = runner.run([e], out=tmp_path, progress=False)["ran"]
    assert {r["method"]: r["status"] for r in first} == {"adam": "skipped", "spsa": "failed"}
    assert "RuntimeError: a crash" in next(r["reason"] for r in first if r["method"] == "spsa")
    monkeypatch.setattr(comparing, "run_one", run_one)
    # a failed run counts as finished ...
    assert runner.run([e], out=tmp_path, progress=False)["ran"] == []
    # ... unless asked: then it runs again; the skipped one stays skipped
    out = ["--out", str(tmp_path), "--no-progress"]
    assert bench_main(["run", "retry", "--retry-failed", *out]) == 0
    assert "1 run(s) made, 1 already finished" in capsys.readouterr().out
    records = runner.load_records(tmp_path).set_index("method")
    assert records.loc["spsa", "status"] == "done" and records.loc["adam", "status"] == "skipped"
    assert runner.run([e], out=tmp_path, progress=False, retry_failed=True)["ran"] == []


def test_an_interrupted_run_leaves_no_partial_file(tmp_path, monkeypatch):
    def interrupted(self, path, **kwargs):
        path.write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_parquet", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run([TINY], out=tmp_path, progress=False, methods=["spsa"])
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".started"]
    assert leftovers == []
    monkeypatch.undo()
    result = runner.run([TINY], out=tmp_path, progress=False, methods=["spsa"])
    assert len(result["ran"]) == 2  # nothing was marked finished
    assert len(_files(tmp_path, "seed*.parquet")) == 2


def test_runs_that_cannot_happen_are_recorded_with_the_reason(tmp_path):
    e = Experiment(
        name="skips",
        title="",
        problems=("occlusion",),
        methods=("adam", "spsa"),
        budgets={"quick": {"default": 20}, "full": {"default": 20}},
        seeds={"quick": 1},
    )
    result = runner.run([e], out=tmp_path, progress=False)
    status = {r["method"]: (r["status"], r["reason"]) for r in result["ran"]}
    assert status["spsa"] == ("done", "")
    assert status["adam"][0] == "skipped" and "NotDifferentiableError" in status["adam"][1]
    # a skipped run counts as finished: a re-run does not retry it
    assert runner.run([e], out=tmp_path, progress=False)["ran"] == []
    text = summary.summary_markdown(runner.load_records(tmp_path), "quick")
    assert "adam on occlusion (skipped): NotDifferentiableError" in text


def test_parallel_jobs_give_the_same_results_as_one_process(tmp_path):
    one = runner.run([TINY], out=tmp_path / "one", progress=False)
    two = runner.run([TINY], out=tmp_path / "two", progress=False, jobs=2)
    key = ["method", "seed"]
    a = pd.DataFrame(one["ran"]).sort_values(key)[["method", "seed", "fun", "nfev"]]
    b = pd.DataFrame(two["ran"]).sort_values(key)[["method", "seed", "fun", "nfev"]]
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


UNGUARDED = """
from bench import runner
from bench.experiments import Experiment

tiny = Experiment(
    name="tiny", title="", problems=("rosenbrock",), methods=("spsa",),
    budgets={"quick": {"default": 20}, "full": {"default": 20}}, seeds={"quick": 2},
)
runner.run([tiny], out=OUT, jobs=2, progress=False)  # no main guard
"""


def test_a_script_without_main_guard_fails_fast_with_jobs(tmp_path):
    import os
    import pathlib
    import subprocess
    import sys
    import time

    root = pathlib.Path(runner.__file__).resolve().parents[1]
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED.replace("OUT", repr(str(tmp_path / "results"))))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,  # it used to start pools for ever
    )
    assert done.returncode != 0
    assert 'if __name__ == "__main__":' in done.stderr and "RuntimeError" in done.stderr
    assert time.perf_counter() - t0 < 180
    assert not list((tmp_path / "results").rglob("seed*.json"))


def _history(rows):
    columns = ["method", "seed", "nit", "nfev", "best", "param_error"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.assign(experiment="plateaus", problem="p", loss=frame["best"])


def test_figures_take_the_median_over_every_run_against_evaluations(tmp_path, monkeypatch):
    # two of three runs stop early (stuck at 1 and 2); the third goes on to 1e-12: the
    # median at the end is 1, as in the summary, not the one run left's 1e-12
    rows = [("cmaes", s, i, 10 * i, v, v) for s, v in ((0, 1.0), (1, 2.0)) for i in range(3)]
    rows += [("cmaes", 2, i, 10 * i, 10.0 ** -(3 * i), 10.0 ** -(3 * i)) for i in range(5)]
    rows += [("adam", 0, i, 5 * i, 0.5, 0.5) for i in range(3)]
    history = _history(rows)
    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.append(fig) or [])
    records = pd.DataFrame(columns=["problem", "method", "status", "reason"])

    grid = np.linspace(0, 40, 5)
    cmaes = history[history["method"] == "cmaes"]
    curves = figures.run_curves(cmaes, "param_error", grid)
    assert np.array_equal(curves[:, -1], [1.0, 2.0, 1e-12])  # carried to the longest's end
    final = pd.DataFrame({
        "experiment": "plateaus", "problem": "p", "method": "cmaes", "seed": [0, 1, 2],
        "status": "done", "fun": curves[:, -1], "param_error": curves[:, -1],
        "nfev": [20, 20, 40], "wall_time": 0.1,
    })  # fmt: skip
    assert np.median(curves, 0)[-1] == 1.0 == summary.summarize(final)["param_error"].item()

    figures.plot_plateaus(history, records, tmp_path / "plateaus")
    figures.plot_convergence(history, tmp_path / "convergence")
    for fig in drawn:
        ax = fig.axes[0]
        assert ax.get_xlabel() == "evaluations"
        lines = {line.get_label(): line for line in ax.get_lines()}
        x, y = lines["cmaes"].get_data()
        assert x[-1] == 40 and y[-1] == 1.0 and y[np.searchsorted(x, 20)] == 1.0
        x, y = lines["adam"].get_data()  # a method's curve ends with its longest run
        assert np.isnan(y[x > 10]).all() and y[x <= 10][-1] == 0.5

    drawn.clear()
    figures.plot_plateaus(history, records, tmp_path / "plateaus", x="nit")
    ax = drawn[0].axes[0]
    x, y = {line.get_label(): line for line in ax.get_lines()}["cmaes"].get_data()
    assert ax.get_xlabel() == "iteration" and x[-1] == 4 and y[-1] == 1.0
    with pytest.raises(ValueError, match="x must be one of"):
        figures.draw_all(tmp_path, x="time")


def test_figures_and_summary_write_files(tmp_path, monkeypatch):
    plateau = Experiment(
        name="plateaus",
        title="tiny plateaus",
        problems=("shadow",),
        methods=("prdpt", "spsa"),
        budgets={"quick": {"default": 48}},
        seeds={"quick": 2},
        hyperparams={"prdpt": {"default": {"sigma": 0.9, "n_samples": 2, "lr": 0.05}}},
        figures=("convergence", "grad_variance", "plateaus", "strips"),
    )
    scaling = Experiment(
        name="scaling",
        title="tiny scaling",
        methods=("prdpt",),
        problems=tuple(ProblemSpec("texture", {"res": r}) for r in (4, 8)),
        budgets={"quick": {"default": 10**9}},
        max_iter={"quick": 3},
        seeds={"quick": 1},
        figures=("scaling",),
    )
    monkeypatch.setitem(EXPERIMENTS, "plateaus", plateau)
    monkeypatch.setitem(EXPERIMENTS, "scaling", scaling)
    runner.run([plateau, scaling], out=tmp_path, progress=False)
    written = figures.draw_all(tmp_path, scales=["quick"])
    names = {p.name for p in written}
    for stem in ("convergence", "grad_variance", "plateaus", "strips"):
        assert f"quick_plateaus_{stem}.png" in names and f"quick_plateaus_{stem}.pdf" in names
    assert "quick_scaling_scaling.png" in names
    for path in written:
        assert path.stat().st_size > 0
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (tmp_path / "figures" / "quick_plateaus_plateaus.md").read_text()
    assert "| SHADOWS | shadow | prdpt |" in table

    path, text = summary.write_summary(tmp_path, "quick")
    assert path.read_text() == text
    assert "| shadow | prdpt | 2 |" in text and "Ranking by mean rank" in text


def test_summary_ranks_by_median_loss():
    records = pd.DataFrame({
        "experiment": "e", "problem": ["p"] * 4 + ["q"] * 2,
        "method": ["a", "a", "b", "b", "a", "b"], "seed": [0, 1, 0, 1, 0, 0],
        "status": "done", "fun": [1.0, 3.0, 0.5, 0.7, 0.1, 0.2], "param_error": 0.0,
        "nfev": 10, "wall_time": 0.1,
    })  # fmt: skip
    table = summary.summarize(records)
    ranks = {(r.problem, r.method): r.rank for r in table.itertuples()}
    assert ranks == {("p", "b"): 1, ("p", "a"): 2, ("q", "a"): 1, ("q", "b"): 2}
    assert table.loc[(table.problem == "p") & (table.method == "a"), "fun"].item() == 2.0


def test_experiments_are_well_formed():
    import blackbox_opt

    names = {row["name"] for row in blackbox_opt.list_methods()}
    for e in EXPERIMENTS.values():
        assert {e.method_id(m) for m in e.methods} <= names, e.name
        assert set(e.method_ids) <= set(e.methods), e.name  # no label left unused
        # the runner's experiments have both scales (and may add their own, after them);
        # the others (meta) their own
        assert e.command != "run" or e.scales[:2] == ("quick", "full"), e.name
        for scale in e.scales:
            assert e.seeds[scale] >= 1
            for spec in e.problem_specs(scale):
                assert e.budget(scale, spec.label) > 0
        # every hyperparameter is a parameter of its method
        for method, table in e.hyperparams.items():
            params = blackbox_opt.get_method(e.method_id(method)).get_params()
            for entry in table.values():
                assert set(entry) <= set(params), (e.name, method, set(entry) - set(params))
    plateaus = get_experiment("plateaus")  # a problem's own budget, else the default
    assert plateaus.budget("quick", "sort") == plateaus.budgets["quick"]["sort"]
    assert plateaus.budget("quick", "occlusion") == plateaus.budgets["quick"]["default"]
    assert "mi-shadows" in [s.label for s in plateaus.problem_specs("full")]
    assert "mi-shadows" not in [s.label for s in plateaus.problem_specs("quick")]
    with pytest.raises(KeyError, match="Did you mean 'toys'"):
        get_experiment("toy")
    with pytest.raises(ValueError, match="scale"):
        runner.plan(["toys"], scale="huge")


def test_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(EXPERIMENTS, "tiny", TINY)
    assert bench_main(["run", "tiny", "--out", str(tmp_path), "--no-progress"]) == 0
    assert "4 run(s) made, 0 already finished" in capsys.readouterr().out
    assert bench_main(["summary", "--out", str(tmp_path)]) == 0
    assert "| rosenbrock |" in capsys.readouterr().out
    assert bench_main(["run", "nope", "--out", str(tmp_path)]) == 2
    assert "Unknown experiment 'nope'" in capsys.readouterr().err
    assert bench_main(["run", "tiny", "--seeds", "0", "--out", str(tmp_path)]) == 2


def test_meta_figure_from_the_curves_table(tmp_path):
    rows = [
        {"family": "f", "regime": regime, "member": m, "step": s, "time": 0.01 * s, "loss": loss}
        for regime, losses in (("overfit", [1.0, 0.5, 0.1]), ("meta-learned", [0.3, 0.05, 0.01]))
        for m in range(2)
        for s, loss in zip((0, 5, 10), losses, strict=True)
    ]
    rows.append(
        {"family": "f", "regime": "general", "member": 0, "step": 0, "time": 0.0, "loss": 0.4}
    )
    csv = tmp_path / "curves.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    written = figures.plot_meta(csv, tmp_path / "meta")
    assert [p.suffix for p in written] == [".png", ".pdf"]
    assert all(p.stat().st_size > 0 for p in written)


def test_command_line_reports_known_errors_in_one_line(tmp_path, capsys, monkeypatch):
    from bench import mitsuba
    from blackbox_opt.exceptions import MissingDependencyError

    def missing(*args, **kwargs):
        raise MissingDependencyError(
            "mitsuba is not installed: pip install 'blackbox-opt[mitsuba]'"
        )

    out = ["--out", str(tmp_path)]
    cases = {
        ("run", "mitsuba", *out): "runs with 'python -m bench mitsuba'",
        ("run", "toys", "--methods", "nope", *out): "unknown methods ['nope']",
        ("run", "tiny", "--jobs", "0", *out): "--jobs must be at least 1",
        ("summary", "--out", str(tmp_path / "empty")): "no runs under",
        ("mitsuba", "--scenes", "mi-nope", *out): "unknown scenes ['mi-nope']",
        ("mitsuba", "--methods", "cmaes", *out): "unknown methods ['cmaes']",
        ("meta", "--families", "nope", *out): "unknown families ['nope']",
        ("batching", "nope"): "Unknown problem 'nope'",
    }
    for argv, message in cases.items():
        assert bench_main(list(argv)) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    monkeypatch.setattr(mitsuba, "run_mitsuba", missing)
    assert bench_main(["mitsuba", *out]) == 2
    assert capsys.readouterr().err == (
        "error: mitsuba is not installed: pip install 'blackbox-opt[mitsuba]'\n"
    )

    # any other exception is a bug: it propagates
    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setitem(HANDLERS, "list", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        bench_main(["list"])


def test_mitsuba_runs_the_mitsuba_experiment(tmp_path, monkeypatch):
    import problems
    from bench import mitsuba

    class Scene:  # stands in for a Mitsuba problem: nothing is rendered
        variant, width, height, spp, differentiable = "none", 8, 6, 1, True

        def __init__(self, name):
            self.name = name

    calls = []

    def run_one(problem, method, options, seed):
        calls.append((problem.name, method, seed, options))
        row = dict(scene=problem.name, method=method, seed=seed, nfev=0, x=[0.0])
        row.update(iterations=options["max_iter"], s_per_iter=0.1, image_mse=0.1, param_mse=0.1)
        return row, np.linspace(1.0, 0.1, options["max_iter"])

    monkeypatch.setattr(problems, "make", lambda scene, **options: Scene(scene))
    monkeypatch.setattr(mitsuba, "run_one", run_one)
    mitsuba.run_mitsuba(tmp_path, quick=True, scenes=["mi-shadows", "mi-occlusion"])

    experiment = get_experiment("mitsuba")
    assert [call[:3] for call in calls] == [
        *[("mi-shadows", "prdpt", seed) for seed in range(3)],
        ("mi-shadows", "adam", 0),  # deterministic: one run
        *[("mi-occlusion", "prdpt", seed) for seed in range(3)],
        ("mi-occlusion", "adam", 0),
    ]
    for scene, method, _, options in calls:
        iterations = experiment.iterations("quick", method, scene)
        assert options == {**experiment.params(method, scene), "max_iter": iterations}
    settings = {(scene, method): options for scene, method, _, options in calls}
    assert settings["mi-occlusion", "prdpt"]["sigma"] == 0.8
    assert settings["mi-occlusion", "prdpt"]["max_iter"] == 150
    assert settings["mi-occlusion", "adam"] == {"lr": 3e-2, "max_iter": 100}
    # the plateau experiment's Mitsuba runs use the same settings
    plateaus = get_experiment("plateaus")
    for scene in ("mi-shadows", "mi-occlusion"):
        for method in ("prdpt", "adam"):
            assert plateaus.params(method, scene) == experiment.params(method, scene)

    table = (tmp_path / "mitsuba_table.md").read_text()
    paper = prdpt_paper("mi-occlusion", "adam")
    assert f"| {paper.image_mse:.3g} | {paper.param_mse:.3g} | {paper.s_per_iter:.2f} |" in table
    assert len(pd.read_csv(tmp_path / "mitsuba_runs.csv")) == 8
    assert (tmp_path / "mitsuba_shadows.png").stat().st_size > 0


def test_meta_runs_the_meta_experiment_at_the_smoke_scale(tmp_path, capsys):
    out = str(tmp_path)
    argv = ["meta", "--scale", "smoke", "--families", "texture-family", "--no-blackbox"]
    assert bench_main([*argv, "--out", out]) == 0
    steps = get_experiment("meta").iterations("smoke", "adam", "texture-family")
    assert f"within {steps} steps" in capsys.readouterr().out
    factor = pd.read_csv(tmp_path / "factor.csv")
    assert set(factor["family"]) == {"texture-family"} and (factor["adam_budget"] == steps).all()
    for name in ("curves.csv", "regimes.csv", "summary.md", "regimes.png"):
        assert (tmp_path / name).stat().st_size > 0


USER_FILE = '''
from bench.experiments import Experiment
from blackbox_opt import RandomSearch, register_method


class Wide(RandomSearch):
    """Random search with a user's default."""

    name = "wide"


register_method("wide", Wide)

MINE = Experiment(
    name="mine",
    title="a user's experiment",
    problems=("sphere",),
    methods=("wide", "random"),
    budgets={"quick": {"default": 32}, "full": {"default": 32}},
    seeds={"quick": 2, "full": 2},
)
'''


def _bench_outside(cwd, experiments_file, *extra, **env):
    """``python -m bench run --experiments FILE --jobs 2`` in ``cwd``, as a user would
    run it from outside the repository; returns its standard output."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    argv = ["run", "--experiments", experiments_file, "--jobs", "2", "--out", "out"]
    done = subprocess.run(
        [sys.executable, "-m", "bench", *argv, *extra, "--no-progress"],
        cwd=cwd,
        env=dict(os.environ, PYTHONPATH=str(root), **env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_experiments_and_methods_from_a_file_outside_the_repository(tmp_path):
    (tmp_path / "my_experiments.py").write_text(USER_FILE)
    assert "4 run(s) made" in _bench_outside(tmp_path, "my_experiments.py")
    records = pd.read_csv(tmp_path / "out" / "quick" / "runs.csv")
    assert sorted(records["method"]) == ["random", "random", "wide", "wide"]
    assert set(records["status"]) == {"done"}


def test_add_methods_takes_module_paths_as_well_as_names():
    path = "blackbox_opt.optimizers.random_search:RandomSearch"
    tasks = runner.plan(["toys"], "quick", seeds=1, add_methods=[path])
    mine = [t for t in tasks if t.method == path]
    assert mine and all(t.method_version == 1 for t in mine)
    with pytest.raises(KeyError, match="Unknown method"):
        runner.plan(["toys"], "quick", seeds=1, add_methods=["randomm"])


METHOD_V1 = """
from blackbox_opt import RandomSearch


class Wider(RandomSearch):
    '''Random search over the bounds (a user's method, in its own module).'''
"""


def test_an_edit_of_a_methods_code_makes_its_records_stale(tmp_path, monkeypatch):
    import importlib

    (tmp_path / "my_method.py").write_text(METHOD_V1)
    monkeypatch.syspath_prepend(str(tmp_path))
    path = "my_method:Wider"
    first = runner.run([TINY], out=tmp_path / "out", progress=False, add_methods=[path])
    mine = [r for r in first["ran"] if r["method"] == path]
    assert len(mine) == 2 and all(r["method_code"] for r in mine)
    rerun = runner.run([TINY], out=tmp_path / "out", progress=False, add_methods=[path])
    assert rerun["ran"] == []

    # the user edits the method's code (not its version): only its runs are made again
    (tmp_path / "my_method.py").write_text(METHOD_V1 + "\n    batch_size = 3\n")
    importlib.reload(importlib.import_module("my_method"))
    again = runner.run([TINY], out=tmp_path / "out", progress=False, add_methods=[path])
    assert sorted({r["method"] for r in again["ran"]}) == [path]
    assert len(again["ran"]) == 2
    assert {r["method_code"] for r in again["ran"]}.isdisjoint(r["method_code"] for r in mine)


def test_code_fingerprints_cover_the_class_and_its_bases_in_the_same_module():
    from blackbox_opt.registry import METHODS

    spsa = METHODS.entry("spsa").load()
    assert runner.code_fingerprint(spsa) == runner.code_fingerprint(spsa)
    assert runner.code_fingerprint(spsa) != runner.code_fingerprint(METHODS.entry("cmaes").load())
    assert len(runner.code_fingerprint(spsa)) == 16
    assert runner.code_fingerprint(type("Dynamic", (), {})) is None
    assert runner.code_fingerprint(None) is None


DYING_FILE = '''
import os
import time

from bench.experiments import Experiment
from blackbox_opt import RandomSearch, register_method


class Dies(RandomSearch):
    """Random search whose worker process dies while the flag file exists."""

    name = "dies"

    def _tell(self, X, y, grads):
        if os.path.exists(os.environ["DIE_FLAG"]):
            time.sleep(2.0)  # the other run of the pool finishes first
            os._exit(3)  # as a crash in native code or the OOM killer would
        return super()._tell(X, y, grads)


register_method("dies", Dies)

CRASHY = Experiment(
    name="crashy",
    title="a worker that dies",
    problems=("sphere",),
    methods=("dies", "random"),
    budgets={"quick": {"default": 32}, "full": {"default": 32}},
    seeds={"quick": 1, "full": 1},
)
'''


def test_a_dead_worker_is_a_failed_run_that_retry_failed_runs_again(tmp_path):
    (tmp_path / "crashy.py").write_text(DYING_FILE)
    flag = tmp_path / "die"
    flag.touch()

    def bench(*extra):
        _bench_outside(tmp_path, "crashy.py", *extra, DIE_FLAG=str(flag))
        return pd.read_csv(tmp_path / "out" / "quick" / "runs.csv").set_index("method")

    records = bench()
    assert records.loc["dies", "status"] == "failed"
    assert "worker process died" in records.loc["dies", "reason"]
    assert records.loc["random", "status"] == "done"
    assert not list((tmp_path / "out").rglob("*.tmp"))  # no half-written file
    flag.unlink()
    assert bench().loc["dies", "status"] == "failed"  # a failed run counts as finished...
    records = bench("--retry-failed")  # ...until it is asked for again
    assert records.loc["dies", "status"] == "done"
    assert records.loc["random", "status"] == "done"


# -- out-of-the-box quality: the harness at a tiny budget ------------------------------------


@pytest.mark.parametrize("name", ["discs", "triangles", "threshold"])
def test_outofbox_image_problems_are_batched_and_hard_edged(name):
    import torch

    from bench.outofbox import IMAGE_PROBLEMS

    p = IMAGE_PROBLEMS[name]()
    assert p.image_shape == (32, 32, 3) and not p.differentiable
    assert p.bounds.tolist() == [[0.0] * p.dim, [1.0] * p.dim]
    assert float(p(p.x_opt)) == 0.0 and float(p(p.x0)) > 0.01
    X = torch.rand(7, p.dim, generator=torch.Generator().manual_seed(0))
    batch = p(X)
    assert torch.allclose(batch, torch.stack([p(x) for x in X]))
    # hard edges: a tiny step of the shapes (not their colours) leaves the loss exactly
    # as it was, a plateau
    per_shape = {"discs": (6, 3), "triangles": (9, 6), "threshold": (1, 1)}[name]
    shape = (torch.arange(p.dim) % per_shape[0]) < per_shape[1]
    assert torch.equal(p(X + 1e-6 * shape), batch)
    assert not torch.equal(p(X + 0.05 * shape), batch)
    images = p.render(X)
    assert images.shape == (7, 32, 32, 3) and images.min() >= 0 and images.max() <= 1


def test_outofbox_writes_medians_relative_to_the_start_and_resumes(tmp_path, capsys):
    from bench import outofbox

    kwargs = dict(problems=["discs", "sphere"], methods=["random", "spsa"], seeds=2, budget=40)
    result = outofbox.run_outofbox(tmp_path, progress=False, **kwargs)
    records = result["records"]
    assert len(records) == 8 and {r["status"] for r in records} == {"done"}
    for r in records:
        assert r["nfev"] <= 40
        assert r["relative"] == pytest.approx((r["best"] - r["f_opt"]) / (r["start"] - r["f_opt"]))
    discs = [r for r in records if r["problem"] == "discs" and r["method"] == "spsa"]
    assert discs[0]["start"] == pytest.approx(float(outofbox.Discs()(outofbox.Discs().x0)))
    expected = float(np.median([r["relative"] for r in discs]))
    assert result["medians"]["discs"]["spsa"] == pytest.approx(expected)
    medians = pd.read_csv(tmp_path / "medians.csv", index_col="problem")
    assert list(medians.columns) == ["random", "spsa"]
    assert medians.loc["discs", "spsa"] == pytest.approx(expected)
    assert "| discs |" in (tmp_path / "medians.md").read_text(encoding="utf-8")
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert len(runs) == 8 and set(runs["seed"]) == {0, 1}

    # the same call again runs nothing and gives the same table
    again = outofbox.run_outofbox(tmp_path, progress=False, **kwargs)
    assert again["medians"] == result["medians"]
    # the command line, with another budget: every run is made again
    code = bench_main(
        ["outofbox", "--out", str(tmp_path), "--problems", "sphere", "--methods", "random",
         "--seeds", "1", "--budget", "30", "--no-progress"]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "| sphere |" in out and "Shortfalls:" in out
    assert json.loads((tmp_path / "runs/sphere/random/seed0.json").read_text())["budget"] == 30


def test_outofbox_shortfalls_name_each_missed_goal():
    from bench.outofbox import shortfalls

    table = {
        "discs": {"cmaes": 0.1, "prdpt": 0.2, "zerograds": 0.05, "random": 0.5},
        "sphere": {"zerograds": 0.9, "random": 0.4},
        "rastrigin": {"zerograds": 0.3, "random": 0.4},
    }
    assert shortfalls(table) == [
        "discs: random at 0.5 of the start (goal < 0.3)",
        "discs: prdpt 0.2 worse than cmaes 0.1",
        "sphere: zerograds 0.9 worse than random 0.4",
    ]


def test_outofbox_in_worker_processes_gives_the_same_runs(tmp_path):
    from bench import outofbox

    kwargs = dict(problems=["threshold"], methods=["random", "prdpt"], seeds=2, budget=40)
    one = outofbox.run_outofbox(tmp_path / "one", progress=False, **kwargs)
    two = outofbox.run_outofbox(tmp_path / "two", progress=False, jobs=2, **kwargs)
    assert [r["best"] for r in one["records"]] == [r["best"] for r in two["records"]]


def test_asv_series_reads_asvs_result_files_in_commit_order(tmp_path):
    from bench.asvplot import asv_series, plot_asv

    machine = tmp_path / "vm"
    machine.mkdir()
    (machine / "machine.json").write_text("{}")
    for date, commit, values in ((2, "bbbbbbbb11", [3.0, None]), (1, "aaaaaaaa22", [1.0, 2.0])):
        record = {
            "commit_hash": commit,
            "date": date,
            "result_columns": ["result", "params"],
            "results": {"quality.Track.track_loss": [values, [["'spsa'"], ["'rect'", "'sort'"]]]},
        }
        (machine / f"{commit[:8]}-env.json").write_text(json.dumps(record))
    commits, series = asv_series(tmp_path, "quality.Track.track_loss")
    assert commits == ["aaaaaaaa", "bbbbbbbb"]  # by date, not by file name
    assert series["spsa, rect"] == [1.0, 3.0]
    assert series["spsa, sort"][0] == 2.0 and np.isnan(series["spsa, sort"][1])
    plot_asv("quality.Track.track_loss", tmp_path, tmp_path / "plot.png", only="rect")
    assert (tmp_path / "plot.png").stat().st_size > 0
    with pytest.raises(ValueError, match="no results of 'nope'"):
        asv_series(tmp_path, "nope")


def test_the_demo_says_which_experiments_ran_as_smoke_runs():
    import argparse

    from bench.__main__ import _smoke_notes
    from bench.experiments import get_experiment

    notes = _smoke_notes(argparse.Namespace(scale="quick"))
    highdim = get_experiment("highdim")
    quick, full = highdim.budget("quick", "mlp-digits"), highdim.budget("full", "mlp-digits")
    assert full >= 10 * quick
    line = next(n for n in notes if n.startswith("Note: highdim "))
    assert f"mlp-digits {quick:,} of {full:,}" in line and "smoke run" in line
    # the experiments run only by name are left out unless named
    assert not any(n.startswith("Note: fig7-caustic ") for n in notes)
    named = _smoke_notes(argparse.Namespace(scale="quick", experiments=["fig7-caustic"]))
    assert len(named) == 1 and "caustic 20,000 of 200,000" in named[0]
    assert _smoke_notes(argparse.Namespace(scale="full")) == []


def test_a_method_label_runs_its_registered_method_with_its_settings(tmp_path):
    e = Experiment(
        name="labels",
        title="one method under two labels",
        problems=(ProblemSpec("sphere", {"dim": 3}),),
        methods=("cmaes", "ipop"),
        method_ids={"ipop": "cmaes"},
        budgets={"quick": {"default": 3000}, "full": {"default": 3000}},
        seeds={"quick": 1, "full": 1},
        hyperparams={"ipop": {"default": {"restarts": 3, "cma_options": {"maxiter": 5}}}},
        default=False,
    )
    plain, ipop = runner.plan([e])
    assert (ipop.method, ipop.method_id, ipop.params["restarts"]) == ("ipop", "cmaes", 3)
    assert plain.method_id == "cmaes" and "restarts" not in plain.params
    record = runner.run_task(ipop, tmp_path)
    assert record["status"] == "done" and record["method"] == "ipop"
    # pycma stops after 5 iterations; the restarts (populations 7, 14, 28, 56) go on
    assert record["nit"] == 20 and record["nfev"] == 5 * (7 + 14 + 28 + 56)
    assert ipop.stem(tmp_path).parent.name == "ipop"
    # an experiment with default=False is left out when none is named
    assert "fig7-caustic" not in {t.experiment for t in runner.plan()}
    assert {t.method for t in runner.plan(["fig7-caustic"])} >= {"ipop-cmaes", "ga"}


def test_the_iterate_figure_draws_the_iterates_loss_not_its_running_minimum(tmp_path, monkeypatch):
    # the iterate's loss rises after its best sample: the best-loss curve stays down, the
    # iterate's goes back up; and the gradient variance is drawn against evaluations
    history = _history([("prdpt", 0, i, 8 * i, 0.0, 0.0) for i in range(30)])
    history["best"] = [1.0 / (i + 1) for i in range(30)]
    history["loss"] = [1.0 / (i + 1) if i < 10 else 0.5 for i in range(30)]
    history["grad_norm"] = np.linspace(1.0, 2.0, 30) ** 2
    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.append(fig) or [])
    figures.plot_convergence(history, tmp_path / "best")
    figures.plot_convergence(history, tmp_path / "iterate", y="loss")
    figures.plot_grad_variance(history, tmp_path / "variance", window=5)
    best, iterate, variance = (fig.axes[0] for fig in drawn)
    assert best.get_ylabel() == "best loss" and iterate.get_ylabel() == "loss of the iterate"
    assert best.get_lines()[0].get_data()[1][-1] == pytest.approx(1 / 30)
    assert iterate.get_lines()[0].get_data()[1][-1] == 0.5
    x, _ = variance.get_lines()[0].get_data()
    assert variance.get_xlabel() == "evaluations" and x[-1] == 8 * 29
    with pytest.raises(ValueError, match="y must be one of"):
        figures.plot_convergence(history, tmp_path / "bad", y="time")


def _interrupted_at(monkeypatch, nit):
    """Make every benchmark run stop with Ctrl-C at iteration ``nit``."""
    comparing = importlib.import_module("blackbox_opt.compare")
    run_one = comparing.run_one

    def ctrl_c(result):
        if result.nit == nit:
            raise KeyboardInterrupt

    monkeypatch.setattr(comparing, "run_one", lambda *a, **kw: run_one(*a, callback=ctrl_c, **kw))


def test_a_run_stopped_part_way_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        _interrupted_at(patch, 4)
        with pytest.raises(KeyboardInterrupt):
            runner.run([TINY], out=tmp_path, progress=False, methods=["prdpt"])
    # no record (the run is not finished), its state in a checkpoint named by its settings
    assert _files(tmp_path, "seed*.json") == []
    (checkpoint,) = _files(tmp_path, "seed0.*.ckpt")
    assert torch.load(checkpoint, weights_only=True)["run"]["nit"] == 4

    resumed = runner.run([TINY], out=tmp_path, progress=False, methods=["prdpt"])["ran"]
    assert [r["resumed"] for r in resumed] == [True, False] and not _files(tmp_path, "*.ckpt")
    fresh = runner.run([TINY], out=tmp_path / "fresh", progress=False, methods=["prdpt"])["ran"]
    assert [r["resumed"] for r in fresh] == [False, False]
    assert [(r["fun"], r["nfev"], r["nit"]) for r in resumed] == [
        (r["fun"], r["nfev"], r["nit"]) for r in fresh
    ]
    # the resumed history is the uninterrupted run's, row for row
    stem = "quick/runs/tiny/rosenbrock/prdpt/seed0.parquet"
    a, b = (
        pd.read_parquet(root / stem).drop(columns="time")
        for root in (tmp_path, tmp_path / "fresh")
    )
    pd.testing.assert_frame_equal(a, b)


def test_a_checkpoint_saved_under_other_settings_is_not_resumed(tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        _interrupted_at(patch, 4)
        with pytest.raises(KeyboardInterrupt):
            runner.run([TINY], out=tmp_path, progress=False, methods=["prdpt"])
    (old,) = _files(tmp_path, "seed0.*.ckpt")
    wider = dataclasses.replace(
        TINY, hyperparams={"prdpt": {"default": {"sigma": 0.3, "n_samples": 2}}}
    )
    ran = runner.run([wider], out=tmp_path, progress=False, methods=["prdpt"])["ran"]
    assert [r["resumed"] for r in ran] == [False, False] and not old.exists()
    assert all(r["status"] == "done" and r["nit"] == 10 for r in ran)


def test_the_paper_scale_runs_only_the_experiments_that_have_it():
    tasks = runner.plan(["fig7-caustic"], "paper", methods=["zerograds"])
    assert len(tasks) == 5 and {t.budget for t in tasks} == {2_000_000}
    assert "paper" in runner.runner_scales() and "paper" not in get_experiment("highdim").scales
    with pytest.raises(ValueError, match="'highdim' has the scales"):
        runner.plan(["highdim"], "paper")
    with pytest.raises(ValueError, match="name one of those that have it: fig7-caustic"):
        runner.plan(None, "paper")
    with pytest.raises(ValueError, match="scale must be one of"):
        runner.plan([TINY], "huge")


DYING_LATE_FILE = '''
import os

from bench.experiments import Experiment
from blackbox_opt import SPSA, register_method


class DiesLate(SPSA):
    """SPSA whose worker process dies at its 6th iteration while the flag file exists."""

    name = "dies-late"

    def _tell(self, X, y, grads):
        if os.path.exists(os.environ["DIE_FLAG"]) and self._state.nit == 5:
            os._exit(3)  # as the OOM killer or a machine switched off would
        return super()._tell(X, y, grads)


register_method("dies-late", DiesLate)

LATE = Experiment(
    name="late",
    title="a worker that dies part way through a run",
    problems=("rosenbrock",),
    methods=("dies-late", "random"),
    budgets={"quick": {"default": 40}, "full": {"default": 40}},
    seeds={"quick": 1, "full": 1},
)
'''


def test_a_run_whose_worker_died_goes_on_from_its_checkpoint(tmp_path):
    (tmp_path / "late.py").write_text(DYING_LATE_FILE)
    flag = tmp_path / "die"
    flag.touch()
    every = ("--checkpoint-every", "1")
    _bench_outside(tmp_path, "late.py", *every, DIE_FLAG=str(flag))
    run_dir = tmp_path / "out" / "quick" / "runs" / "late" / "rosenbrock" / "dies-late"
    (checkpoint,) = run_dir.glob("seed0.*.ckpt")  # saved after its 5th iteration
    assert torch.load(checkpoint, weights_only=True)["run"]["nit"] == 5
    flag.unlink()
    _bench_outside(tmp_path, "late.py", "--retry-failed", *every, DIE_FLAG=str(flag))
    resumed = json.loads((run_dir / "seed0.json").read_text())
    assert resumed["status"] == "done" and resumed["resumed"] and not checkpoint.exists()
    # the same run made in one go
    (tmp_path / "fresh").mkdir()
    (tmp_path / "fresh" / "late.py").write_text(DYING_LATE_FILE)
    _bench_outside(tmp_path / "fresh", "late.py", DIE_FLAG=str(flag))
    fresh = json.loads(
        (tmp_path / "fresh" / run_dir.relative_to(tmp_path) / "seed0.json").read_text()
    )
    assert not fresh["resumed"] and fresh["nit"] == resumed["nit"] == 20
    assert fresh["fun"] == resumed["fun"]
    a, b = (
        pd.read_parquet(d / "seed0.parquet").drop(columns="time")
        for d in (run_dir, tmp_path / "fresh" / run_dir.relative_to(tmp_path))
    )
    pd.testing.assert_frame_equal(a, b)


def test_a_seed_list_runs_those_seeds_alone_and_joins_the_others(tmp_path, capsys, monkeypatch):
    # split across two invocations (two machines sharing --out): seeds 0 and 1, then 2;
    # together they are the runs of --seeds 3, which then finds nothing left to run
    tiny = dataclasses.replace(TINY, deterministic=("spsa",))
    monkeypatch.setitem(EXPERIMENTS, "tiny", tiny)
    first = runner.run(["tiny"], seeds=[0, 1], out=tmp_path, progress=False)
    assert sorted((r["method"], r["seed"]) for r in first["ran"]) == [
        ("prdpt", 0),
        ("prdpt", 1),
        ("spsa", 0),
    ]
    second = runner.run(["tiny"], seeds=[2], out=tmp_path, progress=False)
    # the deterministic method's one run is seed 0's, made by the first
    assert [(r["method"], r["seed"]) for r in second["ran"]] == [("prdpt", 2)]
    assert (
        bench_main(["run", "tiny", "--seeds", "3", "--out", str(tmp_path), "--no-progress"]) == 0
    )
    assert "0 run(s) made, 4 already finished" in capsys.readouterr().out
    # the same seeds and the same results as one run of both
    together = runner.run(["tiny"], seeds=[2, 1], out=tmp_path / "b", progress=False)
    assert [(r["method"], r["seed"]) for r in together["ran"]] == [("prdpt", 2), ("prdpt", 1)]
    a = pd.read_parquet(first["history"]).query("method == 'prdpt' and seed == 1")
    b = pd.read_parquet(together["history"]).query("method == 'prdpt' and seed == 1")
    np.testing.assert_array_equal(a["loss"].to_numpy(), b["loss"].to_numpy())


@pytest.mark.parametrize(
    ("text", "seeds"), [("3,4", [3, 4]), ("2-4", [2, 3, 4]), ("0, 5-6", [0, 5, 6]), ("7", [7])]
)
def test_seed_list_on_the_command_line(text, seeds):
    from bench.__main__ import build_parser

    args = build_parser().parse_args(["run", "tiny", "--seed-list", text])
    assert args.seed_list == seeds and args.seeds is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seed-list", "4-2"], "range goes upwards"),
        (["--seed-list", "a"], "not a seed"),
        (["--seed-list", ","], "names no seed"),
        (["--seed-list", "-1"], "not a seed"),
        (["--seeds", "2", "--seed-list", "3"], "not allowed with"),
    ],
)
def test_bad_seed_lists_are_refused_on_the_command_line(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        bench_main(["run", "tiny", "--out", str(tmp_path), *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        ([], "non-empty"),
        ([1, 1], "repeats \\[1\\]"),
        ([-1], "non-negative"),
        ([1.5], "integers"),
        ("3", "number of seeds or a sequence"),
        (0, ">= 1"),
    ],
)
def test_bad_seeds_are_refused_by_the_runner(seeds, message):
    with pytest.raises(ValueError, match=message):
        runner.plan([TINY], seeds=seeds)


def test_the_runs_threads_reach_a_method_with_threads_of_its_own(tmp_path, monkeypatch):
    # --threads 2 sets ZeroGrads' n_threads (its surrogate fit) as well as torch's, unless
    # the experiment sets n_threads; a method without the parameter gets none
    compare = importlib.import_module("blackbox_opt.compare")  # not the function compare
    seen = []
    real = compare.run_one

    def spy(problem, method, **options):
        seen.append((method, options.get("n_threads"), torch.get_num_threads()))
        return real(problem, method, **options)

    monkeypatch.setattr(compare, "run_one", spy)
    before = torch.get_num_threads()
    try:
        e = dataclasses.replace(
            TINY,
            methods=("zerograds", "spsa"),
            seeds={"quick": 1},
            budgets={"quick": {"default": 24}},
            hyperparams={},
        )
        runner.run([e], out=tmp_path / "a", threads=2, progress=False)
        pinned = dataclasses.replace(e, hyperparams={"zerograds": {"default": {"n_threads": 1}}})
        runner.run([pinned], out=tmp_path / "b", threads=2, progress=False)
    finally:
        torch.set_num_threads(before)
    assert seen == [("zerograds", 2, 2), ("spsa", None, 2), ("zerograds", 1, 2), ("spsa", None, 2)]
