"""The fit loop's one error policy: every evaluation, batch or monitoring, alike."""

import math

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
