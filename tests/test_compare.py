"""compare: methods x problems x seeds at an equal budget."""

import math

import numpy as np
import pytest

from blackbox_opt import InvalidParameterError, compare
from blackbox_opt.compare import median_curve


def test_a_run_that_ends_early_keeps_its_last_value_in_the_median():
    # three seeds; one stops at 20 evaluations with 1.0, the others go on to 40
    runs = [
        (np.array([0, 20]), np.array([4.0, 1.0])),
        (np.array([0, 20, 40]), np.array([4.0, 3.0, 2.0])),
        (np.array([0, 20, 40]), np.array([4.0, 3.5, 3.0])),
    ]
    curve = median_curve(runs, np.array([0, 20, 40, 60]))
    # at 40: median of (1.0 kept, 2.0, 3.0) = 2.0; dropping the ended run would say 2.5
    assert curve.tolist() == [4.0, 3.0, 2.0, 2.0]
    assert math.isnan(median_curve([(np.array([10]), np.array([1.0]))], np.array([5]))[0])


def test_every_method_problem_and_seed_runs_at_the_same_budget():
    result = compare(
        ["sphere", "rosenbrock"],
        {"random": {}, "local": {"method": "random", "sampling": "gaussian", "sigma": 0.05}},
        seeds=2,
        budget=160,
    )
    assert len(result.runs) == 2 * 2 * 2
    assert {r["nfev"] for r in result.runs} == {160}
    assert all(not r["error"] and math.isfinite(r["fun"]) for r in result.runs)
    summary = result.summary()
    assert [r["rank"] for r in summary if r["problem"] == "sphere"] == [1, 2]

    def funs(problem, method):
        return [r["fun"] for r in result.runs if (r["problem"], r["method"]) == (problem, method)]

    for row in summary:
        median = float(np.median(funs(row["problem"], row["method"])))
        assert row["median_loss"] == pytest.approx(median)
    curve = result.curve("sphere", "random", np.array([0, 80, 160]))
    assert curve[-1] == pytest.approx(float(np.median(funs("sphere", "random"))))


def test_a_failing_run_is_recorded_and_the_rest_go_on():
    result = compare("occlusion", ["adam", "random"], seeds=1, budget=32)
    adam, random = sorted(result.runs, key=lambda r: r["method"])
    assert "NotDifferentiableError" in adam["error"] and math.isnan(adam["fun"])
    assert random["error"] == "" and math.isfinite(random["fun"])
    assert [r["failed"] for r in result.summary()] == [0, 1]


def test_it_needs_a_budget_and_draws_one_panel_per_problem():
    with pytest.raises(InvalidParameterError, match="budget"):
        compare("sphere", "random")
    figure = compare(["sphere", "rosenbrock"], "random", seeds=2, budget=64).plot()
    assert len(figure.axes) == 2 and figure.axes[0].get_xlabel() == "evaluations"
