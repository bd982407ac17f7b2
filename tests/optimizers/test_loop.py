"""The fit loop's one error policy: every evaluation, batch or monitoring, alike."""

import math

import numpy as np
import pytest

from blackbox_opt import SPSA, Status
from blackbox_opt.exceptions import EvaluationError
from blackbox_opt.testing import quadratic_problem

# SPSA's calls to the problem: 1 monitors x0, then each iteration makes a batch call
# and a monitoring call, so call 2k is iteration k's batch and 2k + 1 its monitoring.


def test_a_raising_monitoring_evaluation_goes_to_on_error():
    problem = quadratic_problem(fail_at=5, fail_with=RuntimeError("render farm down"))
    res = SPSA(random_state=0, max_iter=20, on_error="stop", verbose=False).fit(problem).result_
    assert res.status == Status.ERROR and "render farm down" in res.message
    assert res.nit == 2 and math.isfinite(res.fun)
    problem = quadratic_problem(fail_at=5, fail_with=RuntimeError("render farm down"))
    with pytest.raises(EvaluationError, match="raised at iteration 3") as info:
        SPSA(random_state=0, max_iter=20, verbose=False).fit(problem)
    assert info.value.result.fun == res.fun


def test_a_nan_at_the_monitored_iterate_is_reported_after_the_next_tell():
    problem = quadratic_problem(fail_at=5, fail_with=math.nan)
    res = SPSA(random_state=0, max_iter=20, on_error="stop", verbose=False).fit(problem).result_
    assert res.status == Status.ERROR
    assert "non-finite loss (nan) at the method's iterate after iteration 2" in res.message
    # checked once the device has caught up: after iteration 3's tell, not before
    assert res.nit == 3
    assert math.isfinite(res.fun) and not math.isnan(res.history["best"][-1])


def test_the_methods_own_error_is_not_taken_for_the_forward_models():
    class Broken(SPSA):
        def _tell(self, X, y, grads):
            raise RuntimeError("a bug in the method")

    with pytest.raises(RuntimeError, match="a bug in the method"):
        Broken(random_state=0, max_iter=5, on_error="stop", verbose=False).fit(quadratic_problem())


def test_without_monitoring_the_final_iterate_is_evaluated_once():
    problem = quadratic_problem()
    opt = SPSA(random_state=0, max_iter=6, monitor=False, verbose=False).fit(problem)
    assert opt.nfev_monitor_ == 2  # the start and the final iterate
    assert problem.n_evaluations == opt.nfev_ + 2
    assert math.isfinite(opt.result_.history["loss"][-1])


class _BrokenTell(SPSA):
    """SPSA whose tell raises inside the method at its fourth batch."""

    name = "broken-tell"

    def _tell(self, X, y, grads):
        if self._state.nit == 3:
            raise ValueError("the wrapped library lost its state")
        return super()._tell(X, y, grads)


def test_an_exception_inside_the_method_ends_the_run_and_keeps_the_best(tmp_path):
    from blackbox_opt import MethodError

    problem = quadratic_problem()
    checkpoint = tmp_path / "run.pt"
    opt = _BrokenTell(max_iter=10, random_state=0, verbose=False)
    with pytest.raises(
        MethodError, match="raised at iteration 4: ValueError: the wrapped"
    ) as info:
        opt.fit(problem, checkpoint=checkpoint)
    assert isinstance(info.value.__cause__, ValueError)
    result = info.value.result
    assert result.status == Status.ERROR and result.nit == 3 and result.nfev == 8
    assert math.isfinite(result.fun) and result.fun <= float(problem(problem.x0[None])[0])
    assert opt.result_ is result and checkpoint.exists()  # the state before the failure


def test_a_state_slow_to_save_is_saved_less_often(tmp_path, monkeypatch):
    import torch

    import blackbox_opt.optimizers.loop as loop

    problem = quadratic_problem()
    opt = SPSA(random_state=0, max_iter=3, verbose=False).fit(problem)
    clock, saves, save = [1000.0], [], torch.save

    def slow_save(obj, path):  # a save that takes 2 s on the clock
        clock[0] += 2.0
        saves.append(clock[0])
        save(obj, path)

    monkeypatch.setattr(loop.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(loop.torch, "save", slow_save)
    run = loop.RunLoop(opt, problem, None, None, checkpoint=tmp_path / "run.pt")
    run.save_checkpoint(due=False)  # at the end of a run: always
    clock[0] += 35.0  # past 30 s, within 20 x 2 s
    run.save_checkpoint(due=True)
    assert len(saves) == 1
    clock[0] += 6.0
    run.save_checkpoint(due=True)
    assert len(saves) == 2
    # the checkpoint holds the run as state_dict() does
    assert torch.load(tmp_path / "run.pt", weights_only=True)["run"]["nit"] == 3


class _Renderer:
    """A point-by-point forward model that returns 0 at its ``best_at``-th call and
    raises at its ``fail_at``-th; it records every point it renders."""

    def __init__(self, fail_at=None, best_at=None):
        self.fail_at, self.best_at, self.points = fail_at, best_at, []

    def __call__(self, x):
        self.points.append(tuple(float(v) for v in x))
        if len(self.points) == self.fail_at:
            raise RuntimeError("the renderer crashed")
        if len(self.points) == self.best_at:
            return 0.0
        return 1.0 + sum(v * v for v in x)


def _cmaes_run(f, **options):
    from blackbox_opt import minimize

    options = {"max_iter": 1, "random_state": 0, "monitor": False, **options}
    return minimize(f, method="cmaes", x0=np.zeros(3), bounds=(-1, 1), verbose=False, **options)


@pytest.mark.parametrize("on_error", ["stop", "raise"])
def test_a_failure_that_ends_the_run_keeps_the_points_rendered_before_it(on_error):
    pytest.importorskip("cma")
    from blackbox_opt import PointsFailedError

    # call 1 monitors the start; calls 2-8 render the 7 points of the first batch
    f = _Renderer(fail_at=5, best_at=3)
    if on_error == "stop":
        res = _cmaes_run(f, on_error="stop")
    else:
        with pytest.raises(
            PointsFailedError, match="failed at iteration 1: _Renderer raised at point 3"
        ) as info:
            _cmaes_run(f, on_error="raise")
        res = info.value.result
    assert res.status == Status.ERROR
    assert res.fun == 0.0  # the batch's second point, rendered before the crash
    assert res.nfev == 4 and res.nfail == 1  # three losses and the failure
    assert len(f.points) == 5  # nothing rendered after the crash


@pytest.mark.parametrize("on_error", ["penalize", "reask"])
def test_a_failure_that_costs_one_point_renders_no_point_twice(on_error):
    pytest.importorskip("cma")
    f = _Renderer(fail_at=5)
    res = _cmaes_run(f, on_error=on_error)
    assert len(set(f.points)) == len(f.points)  # the batch's good points once each
    # the start, the batch (7, and the failed point's replacement under reask), the end
    assert len(f.points) == 1 + 7 + (on_error == "reask") + 1
    assert res.nfev == 7 + (on_error == "reask") and res.nfail == 1


def test_a_run_a_failure_stopped_resumes_by_rendering_only_the_rest_of_its_batch(tmp_path):
    pytest.importorskip("cma")
    checkpoint = tmp_path / "run.pt"
    crashing = _Renderer(fail_at=5)
    res = _cmaes_run(crashing, on_error="stop", max_iter=3, checkpoint=checkpoint)
    assert res.status == Status.ERROR and res.nit == 0
    fixed, never_failing = _Renderer(), _Renderer()
    resumed = _cmaes_run(fixed, on_error="stop", max_iter=3, checkpoint=checkpoint)
    whole = _cmaes_run(never_failing, on_error="stop", max_iter=3)
    # the first batch: 3 points told before the crash, the crashed one and the 3 after
    # it rendered on resuming, none twice; then the run is the one that never failed
    assert fixed.points[0] == crashing.points[4]
    assert crashing.points[1:4] + fixed.points[:4] == never_failing.points[1:8]
    assert fixed.points[4:] == never_failing.points[8:]
    assert resumed.fun == whole.fun and resumed.x.tolist() == whole.x.tolist()
    for column in ("loss", "best", "nit"):
        assert np.array_equal(resumed.history[column], whole.history[column], equal_nan=True)
    assert resumed.nfev == whole.nfev + 1 and resumed.nfail == 1


@pytest.mark.parametrize(
    ("method", "on_error", "extra"),
    [("cmaes", "reask", {}), ("spsa", "penalize", {"penalty": 1.0})],
)
def test_a_model_that_never_runs_ends_the_run_instead_of_spending_the_budget(
    method, on_error, extra
):
    from blackbox_opt import minimize
    from blackbox_opt.optimizers.loop import ALL_FAILED_LIMIT

    calls = []

    def broken(x):
        calls.append(1)
        raise FileNotFoundError("scene.blend")

    kw = dict(x0=np.zeros(3), method=method, budget=500, on_error=on_error, **extra)
    with pytest.raises(EvaluationError, match=r"so far failed \(the first: FileNotFoundError"):
        minimize(broken, **kw)
    # it stops at the first batch that reaches the limit, not at the budget (500)
    assert ALL_FAILED_LIMIT <= len(calls) <= 2 * ALL_FAILED_LIMIT  # monitoring included
    kw = dict(x0=np.zeros(3), method="cmaes", budget=200, on_error=on_error, **extra)

    # occasional lost frames are what the policies are for: the run goes on to the budget
    def flaky(x):
        calls.append(1)
        if len(calls) % 4 == 0:
            raise RuntimeError("frame lost")
        return float(np.sum((x - 0.5) ** 2))

    calls.clear()
    res = minimize(flaky, **kw)
    assert res.success and res.nfev >= 190 and res.nfail > 10 and res.fun < 0.01


def test_a_short_run_whose_every_evaluation_failed_is_not_a_success():
    from blackbox_opt import minimize

    # CMA-ES stops by itself after one batch of equal penalties, before the limit:
    # success would say the run ended normally, with nothing found
    with pytest.raises(EvaluationError, match="All 7 evaluations of <lambda> so far failed"):
        minimize(lambda x: None, x0=np.zeros(3), method="cmaes", on_error="penalize", penalty=1.0)
    res = minimize(lambda x: math.nan, x0=np.zeros(3), method="cmaes", budget=7, on_error="stop")
    assert res.success is False and res.nfail == 0  # "stop" ends at the first failure


def test_penalize_without_a_finite_loss_says_why_the_model_failed():
    from blackbox_opt import minimize

    with pytest.raises(EvaluationError, match="no finite loss has been seen yet") as info:
        minimize(lambda x: None, x0=np.zeros(3), method="cmaes", on_error="penalize")
    assert "failed before any evaluation succeeded" in str(info.value)
    assert "it returned None. Return a float" in str(info.value)


@pytest.mark.parametrize("method", ["spsa", "prdpt", "zerograds"])
def test_a_model_that_stops_working_mid_run_ends_it_with_the_result_so_far(method, tmp_path):
    # a render server that goes down for good after 30 calls: under penalize the run
    # ends after FAILED_STREAK_LIMIT failed evaluations, not at the budget, keeping
    # its best point; with a checkpoint, the same call goes on once the server is back
    from blackbox_opt import minimize
    from blackbox_opt.optimizers.loop import FAILED_STREAK_LIMIT

    calls, down = [], [True]

    def render(x):
        calls.append(1)
        if len(calls) > 30 and down[0]:
            raise ConnectionError("render server went down")
        return float(np.sum((x - 0.3) ** 2))

    kw = dict(
        x0=np.array([0.5, 0.5]),
        bounds=(0, 1),
        method=method,
        budget=1000,
        random_state=0,
        verbose=False,
        on_error="penalize",
        checkpoint=tmp_path / "run.ckpt",
    )
    with pytest.raises(
        EvaluationError,
        match=r"The last \d+ evaluations of render all failed "
        r"\(the latest: ConnectionError: render server went down\)",
    ) as info:
        minimize(render, **kw)
    result = info.value.result
    assert FAILED_STREAK_LIMIT <= len(calls) - 30 <= FAILED_STREAK_LIMIT + 25
    assert result.fun < 0.08 and np.isfinite(result.fun)  # the start's loss is 0.08
    down[0] = False
    again = minimize(render, **kw)
    assert again.nfev == 1000 and again.fun <= result.fun


def test_a_plateau_of_penalties_is_said_to_be_failures_not_a_plateau():
    from blackbox_opt import Status, minimize

    calls = []

    def render(x):
        calls.append(1)
        if len(calls) > 20:
            raise ConnectionError("render server went down")
        return float(np.sum((x - 0.3) ** 2))

    res = minimize(
        render,
        x0=np.array([0.5, 0.5]),
        bounds=(0, 1),
        method="cmaes",
        budget=300,
        random_state=0,
        verbose=False,
        on_error="penalize",
    )
    assert res.status == Status.STALLED and not res.success
    assert "evaluations all failed (the latest: ConnectionError" in res.message
