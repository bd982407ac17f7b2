"""The demo benchmark (``python -m bench demo``) on a tiny setting."""

from typing import ClassVar

import pandas as pd
import pytest
import torch

# bench/ runs from the repository root (pytest's pythonpath setting puts it on the path)
from bench import demo
from bench.__main__ import main as bench_main
from blackbox_opt import BaseOptimizer, Problem, register_method, register_problem
from blackbox_opt.registry import METHODS, PROBLEMS
from blackbox_opt.utils import require

TINY = {"rosenbrock": 40, "spline1d": 20, "rect": 24}
RUN_COLUMNS = [
    "problem", "method", "seed", "budget", "fun", "param_error", "nfev", "nit", "time",
    "status",
]  # fmt: skip
SUMMARY_COLUMNS = ["problem", "method", "seeds", "fun", "param_error", "nfev", "time"]


def test_demo_writes_tables_and_figure(tmp_path):
    res = demo.run_demo(tmp_path, seeds=1, budgets=TINY, echo=False)

    methods, _ = demo.select_methods()
    assert {"spsa", "fd", "random", "adam"} <= set(methods)
    ran = set(zip(res.runs["problem"], res.runs["method"], res.runs["seed"]))
    skipped = {(s["problem"], s["method"]) for s in res.skipped}
    expected = {
        (p, m, 0)
        for p in demo.PROBLEMS
        for m in methods
        if (p, m) not in skipped and ("*", m) not in skipped
    }
    assert ran == expected

    runs = pd.read_csv(res.paths["runs"])
    assert list(runs.columns) == RUN_COLUMNS
    assert len(runs) == len(expected)
    assert (runs["nfev"] <= runs["problem"].map(TINY)).all()

    summary = pd.read_csv(tmp_path / "demo_summary.csv")
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert len(summary) == len(expected)  # one seed: one row per (problem, method, seed)
    assert set(zip(summary["problem"], summary["method"])) == {(p, m) for p, m, _ in ran}
    assert (summary["seeds"] == 1).all()
    # every toy problem knows its optimum
    assert summary["param_error"].notna().all()

    md = (tmp_path / "demo_summary.md").read_text(encoding="utf-8")
    assert "| problem" in md and "spsa" in md
    png = tmp_path / "demo_convergence.png"
    assert png.exists() and png.stat().st_size > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the curves start at the start point and never increase
    for _, curve in res.curves.groupby(["problem", "method", "seed"]):
        best = curve.sort_values("nfev")["best"].to_numpy()
        assert best[0] == best[0]  # the start row is evaluated (not NaN)
        assert (best[1:] <= best[:-1]).all()


def test_demo_restores_torch_threads(tmp_path):
    before = torch.get_num_threads()
    demo.run_demo(
        tmp_path, seeds=1, budgets={"spline1d": 8}, problems=["spline1d"], methods=["spsa"],
        threads=1, echo=False,
    )  # fmt: skip
    assert torch.get_num_threads() == before


def test_hyperparameters_lookup():
    assert demo.hyperparameters("adam", "rect") == {"lr": 1e-3}
    assert demo.hyperparameters("adam", "rosenbrock") == demo.HYPERPARAMS["adam"]["default"]
    assert demo.hyperparameters("not-a-method", "rect") == {}
    table = {"spsa": {"default": {"lr": 0.5}}}
    assert demo.hyperparameters("spsa", "rect", table) == {"lr": 0.5}


class _FlatProblem(Problem):
    """A non-differentiable toy: adam must be skipped on it."""

    differentiable = False

    def __init__(self):
        super().__init__([0.5, 0.5], (0.0, 1.0), x_opt=[0.2, 0.2])

    def _evaluate(self, X):
        return ((X - 0.2) ** 2).sum(-1)


class _NeedsMissingPackage(BaseOptimizer):
    """A method whose optional dependency is not installed."""

    name = "needs-missing"
    requires: ClassVar[tuple[str, ...]] = ("baselines",)

    def _start(self, state):
        require("blackbox_opt_no_such_module", "baselines")

    def _ask(self):  # pragma: no cover
        raise AssertionError

    def _tell(self, X, y, grads):  # pragma: no cover
        raise AssertionError

    def _recommend(self):  # pragma: no cover
        raise AssertionError


@pytest.fixture
def extra_entries():
    register_problem("demo-flat", _FlatProblem)
    register_method("needs-missing", _NeedsMissingPackage)
    try:
        yield
    finally:
        PROBLEMS.unregister("demo-flat")
        METHODS.unregister("needs-missing")


def test_demo_skips_and_reports(tmp_path, extra_entries, capsys):
    res = demo.run_demo(
        tmp_path,
        seeds=2,
        budgets={"demo-flat": 20, "spline1d": 12},
        problems=["demo-flat", "spline1d"],
        echo=True,
    )
    reasons = {(s["problem"], s["method"]): s["reason"] for s in res.skipped}
    assert "not differentiable" in reasons[("demo-flat", "adam")]
    assert "blackbox-opt[baselines]" in reasons[("*", "needs-missing")]
    assert set(res.runs["method"]) >= {"spsa", "adam"}
    assert not ((res.runs["method"] == "adam") & (res.runs["problem"] == "demo-flat")).any()
    assert "needs-missing" not in set(res.runs["method"])
    assert (res.summary["seeds"] == 2).all()
    out = capsys.readouterr().out
    assert "skip adam on demo-flat" in out
    assert "skip needs-missing" in out
    assert str(res.paths["figure"]) in out


def test_bench_main_quick_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "QUICK_BUDGETS", {"rosenbrock": 20, "spline1d": 10, "rect": 12})
    code = bench_main(
        ["demo", "--out", str(tmp_path), "--seeds", "1", "--quick", "--methods", "spsa,random"]
    )
    assert code == 0
    summary = pd.read_csv(tmp_path / "demo_summary.csv")
    assert set(summary["method"]) == {"spsa", "random"}
    assert len(summary) == 3 * 2
    assert "Demo wall time" in capsys.readouterr().out


def test_bench_main_errors(tmp_path, capsys):
    assert bench_main(["demo", "--out", str(tmp_path), "--seeds", "0"]) == 2
    assert bench_main(["demo", "--out", str(tmp_path), "--methods", "nope", "--quick"]) == 2
    assert "Unknown method 'nope'" in capsys.readouterr().err
