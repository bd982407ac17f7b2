"""minimize(): dispatch, problem resolution, options, errors and the result."""

import math

import numpy as np
import pytest
import torch

import problems
from blackbox_opt import (
    SPSA,
    EvaluationError,
    FunctionProblem,
    InvalidParameterError,
    NotFittedError,
    Status,
    UnknownNameError,
    get_method,
    list_methods,
    minimize,
    register_method,
)
from blackbox_opt.registry import METHODS
from blackbox_opt.testing import quadratic_problem


def test_method_by_name_class_and_instance_give_the_same_run():
    kwargs = dict(budget=200, random_state=0, verbose=False)
    by_name = minimize("rosenbrock", method="spsa", **kwargs)
    by_class = minimize("rosenbrock", method=SPSA, **kwargs)
    instance = SPSA(n_perturbations=1)  # the default, given explicitly
    by_instance = minimize("rosenbrock", method=instance, **kwargs)
    assert by_name.fun == by_class.fun == by_instance.fun
    with pytest.raises(NotFittedError):
        instance.x_  # minimize works on a clone


def test_problem_options_go_to_the_problem():
    res = minimize("rosenbrock", method="random", dim=5, budget=64, verbose=False)
    assert res.x.shape == (5,)
    res = minimize(
        "rosenbrock", method="random", problem_options={"dim": 4}, budget=64, verbose=False
    )
    assert res.x.shape == (4,)


def test_an_option_both_take_is_an_error_naming_both_and_the_explicit_way():
    with pytest.raises(InvalidParameterError) as info:
        minimize("rect", method="prdpt", target=(0.2, 0.2))
    message = str(info.value)
    assert "'target' is a parameter of both method 'prdpt' and problem 'rect'" in message
    assert "method_options={'target': ...} or problem_options={'target': ...}" in message
    kwargs = dict(method="random", max_iter=3, random_state=0, verbose=False)
    to_problem = minimize("rect", problem_options={"target": (0.5, 0.5)}, **kwargs)
    to_method = minimize("rect", method_options={"target": 1e9}, **kwargs)
    assert to_method.status == Status.TARGET and to_problem.status == Status.MAX_ITER
    with pytest.raises(InvalidParameterError, match="given twice"):
        minimize("rect", method_options={"lr": 0.1}, lr=0.2, method="prdpt")


def test_function_problem_arguments_are_options_of_minimize():
    res = minimize(
        lambda x: float(np.sum((x - 0.3) ** 2)),
        method="random",
        x0=np.zeros(2),
        bounds=[[-1, -1], [1, 1]],
        budget=200,
        random_state=0,
        verbose=False,
    )
    assert np.all(np.abs(res.x) <= 1)
    with pytest.raises(UnknownNameError, match="FunctionProblem"):
        minimize(lambda x: 0.0, method="random", x0=np.zeros(2), vectorised=True)


def test_problem_options_with_a_built_problem_are_refused():
    with pytest.raises(InvalidParameterError, match="pass them to its constructor"):
        minimize(quadratic_problem(), method="random", problem_options={"dim": 2})
    with pytest.raises(UnknownNameError, match="for method 'random'"):
        minimize(quadratic_problem(), method="random", dim=2)


def test_plain_callable_with_numpy_start_returns_numpy():
    res = minimize(
        lambda x: float(np.sum((x - 2.0) ** 2)),
        method="spsa",
        x0=np.zeros(3),
        budget=3000,
        random_state=0,
        verbose=False,
    )
    # every point of the result in the start's type: x, the last iterate and the start
    for point in (res.x, res.x_last, res.x0):
        assert isinstance(point, np.ndarray)
    np.testing.assert_array_equal(res.x0, np.zeros(3))
    np.testing.assert_allclose(res.x, 2.0, atol=0.05)
    with pytest.raises(InvalidParameterError, match="x0"):
        minimize(lambda x: 0.0, method="spsa")


def test_unknown_names_list_the_valid_ones_and_the_closest():
    with pytest.raises(UnknownNameError, match="Unknown method 'spas'. Did you mean 'spsa'"):
        minimize("rosenbrock", method="spas")
    with pytest.raises(UnknownNameError, match="Unknown problem 'rosenbruck'.*'rosenbrock'"):
        minimize("rosenbruck", method="spsa")
    with pytest.raises(UnknownNameError, match="Unknown option 'n_perturbation'.*Valid options"):
        minimize("rosenbrock", method="spsa", n_perturbation=2)
    with pytest.raises(InvalidParameterError, match="must be a float in the range"):
        minimize("rosenbrock", method="spsa", c=-1.0)


def test_history_rows_and_pandas_frame():
    res = minimize("rect", method="spsa", max_iter=10, random_state=0, verbose=False)
    frame = res.history.to_pandas()
    assert list(frame.columns) == [
        "nit",
        "nfev",
        "nfev_monitor",
        "time",
        "loss",
        "best",
        "grad_norm",
        "sigma",
        "param_error",
    ]
    assert frame["nit"].tolist() == list(range(11))
    assert frame["nfev"].tolist() == [2 * i for i in range(11)]
    assert frame["nfev_monitor"].tolist() == list(range(1, 12))
    assert frame["param_error"].notna().all() and frame["sigma"].iloc[1:].notna().all()
    assert (frame["best"].diff().dropna() <= 0).all()
    assert res.nfev_monitor == 11


def test_max_time_and_target_stop_the_run():
    res = minimize("rosenbrock", method="random", max_time=0.2, verbose=False)
    assert res.status == Status.MAX_TIME and res.time < 2.0
    res = minimize(quadratic_problem(), method="adam", lr=0.1, target=1e-6, verbose=False)
    assert res.status == Status.TARGET and res.fun <= 1e-6


def test_default_budget_applies_without_limits():
    res = minimize(quadratic_problem(), method="random", verbose=False)
    assert res.nfev == 10_000 and res.status == Status.BUDGET


def test_on_error_stop_keeps_the_best_and_raise_attaches_it():
    p = quadratic_problem(fail_at=10, fail_with=ValueError("boom"))
    res = minimize(p, method="spsa", on_error="stop", budget=100, random_state=0, verbose=False)
    assert not res.success and "ValueError: boom" in res.message
    # call 1 monitors x0, each iteration makes two (batch + monitor): call 10 is the
    # batch of iteration 5, so 4 iterations completed
    assert math.isfinite(res.fun) and res.nit == 4
    p = quadratic_problem(fail_at=10, fail_with=ValueError("boom"))
    with pytest.raises(EvaluationError, match="raised at iteration") as info:
        minimize(p, method="spsa", budget=100, random_state=0, verbose=False)
    assert info.value.result.fun == res.fun
    assert isinstance(info.value.__cause__, ValueError)


def test_non_finite_losses_are_an_error_with_the_point_named():
    p = quadratic_problem(fail_at=4, fail_with=float("inf"))  # the batch of iteration 2
    with pytest.raises(EvaluationError, match=r"non-finite losses .* point\(s\) \[0, 1\]"):
        minimize(p, method="spsa", budget=100, random_state=0, verbose=False)


def test_ask_tell_with_outside_evaluation_and_no_problem():
    opt = SPSA(random_state=0).start(x0=[1.0, 1.0])
    for _ in range(300):
        X = opt.ask()
        opt.tell(X, (X**2).sum(1).numpy())  # numpy losses are accepted
    assert float((opt.recommend() ** 2).sum()) < 1e-2
    assert opt.result().nit == 300
    with pytest.raises(InvalidParameterError, match=r"shape \(2,\)"):
        opt.tell(opt.ask(), [1.0, 2.0, 3.0])


def test_ask_before_start_is_a_not_fitted_error():
    with pytest.raises(NotFittedError, match="start"):
        SPSA().ask()


def test_register_method_and_listing():
    class Still(SPSA):
        """Never moves: a test method."""

        name = "still-test"

        def _tell(self, X, y, grads):
            return None

    register_method("still-test", Still)
    try:
        assert "still-test" in [r["name"] for r in list_methods()]
        res = minimize(quadratic_problem(), method="still-test", budget=20, verbose=False)
        assert torch.equal(res.x_last, quadratic_problem().x0)
        register_method("still-test", Still)  # the same class again: no collision

        class Other(Still):
            pass

        with pytest.raises(ValueError, match="already registered"):
            register_method("still-test", Other)  # another class under the name
    finally:
        METHODS.unregister("still-test")
    assert get_method("spsa", c=0.3).c == 0.3


def test_every_built_in_method_is_exported_from_the_package_root():
    import blackbox_opt
    from blackbox_opt.optimizers import _BUILTIN

    for name, entry_point in _BUILTIN.items():
        cls = type(get_method(name))
        assert entry_point.endswith(":" + cls.__name__)
        assert getattr(blackbox_opt, cls.__name__, None) is cls, name
        assert cls.__name__ in blackbox_opt.__all__, name


def test_fitted_attributes_and_minimize_method():
    opt = SPSA(max_iter=5, verbose=False)
    res = opt.minimize(problems.make("rosenbrock"))
    assert opt.result_ is res and opt.n_iter_ == 5 and opt.nfev_ == 10


def test_points_probed_outside_the_bounds_never_become_the_best():
    # the loss decreases without limit below 0, but the box is [0, 1]: SPSA probes
    # theta -+ c Delta beyond the edge, and those probes must not be reported
    p = FunctionProblem(
        lambda X: X.sum(1), torch.full((2,), 0.5), bounds=(0.0, 1.0), vectorized=True
    )
    res = minimize(p, method="spsa", c=0.3, budget=400, random_state=0, verbose=False)
    assert bool(((res.x >= 0) & (res.x <= 1)).all()) and res.fun >= 0.0
    assert res.fun < 0.05  # it still went to the corner


def test_evaluation_error_result_is_numpy_for_numpy_callables():
    def fails_later(x, calls=[0]):  # noqa: B006 - a call counter
        calls[0] += 1
        if calls[0] > 5:
            raise RuntimeError("crash")
        return float(np.sum(x**2))

    with pytest.raises(EvaluationError) as info:
        minimize(fails_later, method="spsa", x0=np.ones(2), budget=100, verbose=False)
    assert isinstance(info.value.result.x, np.ndarray)
    assert isinstance(info.value.result.x0, np.ndarray)


def test_a_run_interrupted_with_a_checkpoint_resumes_to_the_uninterrupted_result(tmp_path):
    path = tmp_path / "run.ckpt"
    kw = dict(method="prdpt", budget=80, random_state=3, verbose=False, sigma=0.2)
    full = minimize("rosenbrock", **kw)

    def ctrl_c_at_7(result):
        if result.nit == 7:
            raise KeyboardInterrupt

    stopped = minimize("rosenbrock", **kw, callback=ctrl_c_at_7, checkpoint=path)
    assert stopped.status == Status.INTERRUPTED and stopped.nit == 7 and path.exists()
    resumed = minimize("rosenbrock", **kw, checkpoint=path)
    assert resumed.nit == full.nit == 20 and resumed.nfev == full.nfev == 80
    assert torch.equal(resumed.x, full.x) and resumed.fun == full.fun
    assert np.array_equal(resumed.history["best"], full.history["best"])
    with pytest.raises(InvalidParameterError, match="sigma"):  # other settings: refused
        minimize("rosenbrock", **{**kw, "sigma": 0.3}, checkpoint=path)


def test_a_finished_run_goes_on_to_a_larger_max_iter_or_budget_from_its_checkpoint(tmp_path):
    path = tmp_path / "run.ckpt"
    kw = dict(method="cmaes", random_state=0, verbose=False, cma_options={"tolfun": 0})
    straight = minimize("rosenbrock", **kw, max_iter=30)
    first = minimize("rosenbrock", **kw, max_iter=12, checkpoint=path)
    assert first.status == Status.MAX_ITER and first.nit == 12
    longer = minimize("rosenbrock", **kw, max_iter=30, checkpoint=path)
    # CMA-ES has no schedule tied to the run's length: the same run as one made in one go
    assert longer.status == Status.MAX_ITER and longer.nit == 30
    assert (longer.nfev, longer.fun) == (straight.nfev, straight.fun)
    assert torch.equal(longer.x, straight.x)
    assert np.array_equal(longer.history["best"], straight.history["best"])
    again = minimize("rosenbrock", **kw, budget=300, checkpoint=path)  # no max_iter now
    assert again.status == Status.BUDGET and again.nfev == 300 and again.nit == 50
    with pytest.raises(InvalidParameterError, match="popsize"):  # still refused
        minimize("rosenbrock", **kw, max_iter=60, popsize=12, checkpoint=path)


def test_a_checkpoint_of_a_converged_run_resumes_to_the_same_end(tmp_path):
    path = tmp_path / "run.ckpt"
    kw = dict(method="cmaes", budget=20_000, random_state=0, verbose=False)
    first = minimize("sphere", **kw, checkpoint=path)
    assert first.status == Status.CONVERGED and first.nfev < 20_000
    again = minimize("sphere", **kw, checkpoint=path)  # the same command, run again
    assert again.status == Status.CONVERGED
    assert (again.nfev, again.nit, again.fun) == (first.nfev, first.nit, first.fun)
    assert torch.equal(again.x, first.x)
    assert again.nfev_monitor == first.nfev_monitor  # not even the final iterate again


def test_the_same_command_on_a_finished_checkpoint_renders_nothing(tmp_path):
    path = tmp_path / "run.ckpt"
    calls = []

    def render(x):
        calls.append(1)
        return float(np.sum((x - 0.5) ** 2))

    kw = dict(x0=np.zeros(3), method="spsa", budget=60, random_state=0, verbose=False)
    first = minimize(render, **kw, checkpoint=path)
    n = len(calls)
    assert n == first.nfev + first.nfev_monitor and first.status == Status.BUDGET
    for _ in range(2):  # each run again returns the result without a render
        again = minimize(render, **kw, checkpoint=path)
        assert len(calls) == n and again.nfev_monitor == first.nfev_monitor
        assert (again.fun, again.nit, again.status) == (first.fun, first.nit, first.status)


@pytest.mark.parametrize("method", ["prdpt", "spsa", "zerograds", "fd", "cmaes", "random"])
def test_a_plain_function_is_never_called_outside_its_bounds(method):
    # a renderer that refuses a radius below its minimum: the smoothing methods' samples
    # beyond a bound are moved onto it, so the default on_error="raise" never fires
    seen = []

    def render_loss(x):
        seen.append(np.array(x, copy=True))
        cx, r = x
        if r < 0.1 or not 0 <= cx <= 5:
            raise ValueError(f"renderer: parameters {x} out of range")
        return float((cx - 3) ** 2 + (r - 0.2) ** 2)

    res = minimize(
        render_loss,
        method=method,
        x0=np.array([1.0, 0.12]),
        bounds=[(0, 5), (0.1, 2.0)],
        budget=400,
        random_state=0,
        verbose=False,
    )
    X = np.stack(seen)
    assert (X[:, 0] >= 0).all() and (X[:, 0] <= 5).all() and (X[:, 1] >= 0.1).all()
    assert res.nfail == 0 and res.fun < render_loss(np.array([1.0, 0.12]))


def test_soft_bounds_let_the_samples_out_and_keep_the_best_point_inside():
    # a loss defined everywhere whose bounds only frame the search (the registered
    # benchmark functions, or hard_bounds=False): samples may fall outside, as before
    seen = []

    def f(x):
        seen.append(np.array(x, copy=True))
        return float(-x.sum())

    res = minimize(
        f,
        method="spsa",
        x0=np.array([0.9, 0.9]),
        bounds=(0, 1),
        budget=200,
        random_state=0,
        verbose=False,
        hard_bounds=False,
    )
    assert np.max(seen) > 1.0  # probed beyond the bound
    assert (res.x <= 1.0).all() and res.fun >= -2.0
    assert problems.make("rosenbrock").hard_bounds is False
    assert problems.make("texture").hard_bounds is True  # its loss explodes outside
