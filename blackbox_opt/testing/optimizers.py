"""The checks of the optimiser contract: parameters, runs, results, saved states, errors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from sklearn.base import clone

from ..api import get_method
from ..checkpoint import is_library_pickle
from ..exceptions import (
    EvaluationError,
    InvalidParameterError,
    NotFittedError,
    UnknownNameError,
)
from ..result import HISTORY_COLUMNS, Status
from ._helpers import _assert, _drive, _make, _raises, _run_attributes, _same
from .problems import mixed_problem, quadratic_problem


def check_clone(method: Any) -> None:
    """``clone`` rebuilds an equal, unfitted optimiser from ``get_params``."""
    optimizer = _make(method, random_state=3)
    twin = clone(optimizer)
    _assert(type(twin) is type(optimizer), "clone changed the class")
    _assert(
        repr(twin.get_params()) == repr(optimizer.get_params()),
        "clone changed the parameters: __init__ must store every argument unchanged under "
        "its own name (self.sigma = sigma) and validate nothing; validation happens in fit",
    )
    _assert(repr(twin) == repr(optimizer), "repr differs after clone")
    _raises(NotFittedError, lambda: twin.x_, "x_ before fit")


def check_same_seed_same_run(method: Any) -> None:
    """Two runs with the same seed give the same points and the same history."""
    runs = []
    for _ in range(2):
        optimizer = _make(method, random_state=7, max_iter=8)
        runs.append(optimizer.fit(quadratic_problem()).result_)
    a, b = runs
    _assert(
        torch.equal(a.x, b.x),
        f"same seed, different x: {a.x} vs {b.x}; draw every random number from "
        "state.generator (a wrapped library: seed it from self._library_seed(state)), "
        "never from a global generator",
    )
    _assert(torch.equal(a.x_last, b.x_last), "same seed, different final iterate")
    for column in ("best", "loss", "nfev"):
        _assert(
            np.array_equal(a.history[column], b.history[column], equal_nan=True),
            f"same seed, different history column {column!r}",
        )


def check_budget_respected(method: Any) -> None:
    """Charged evaluations never exceed the budget; monitoring is counted apart.

    A budget below one iteration's points is an error before anything is evaluated
    (see :func:`check_failure_policies`); the budgets here pay at least one.
    """
    batch = _make(method, random_state=0).start(quadratic_problem(), budget=100).ask().shape[0]
    for budget in sorted({batch, batch + 1, 7 * batch, max(60, batch)}):
        problem = quadratic_problem()
        optimizer = _make(method, random_state=0).fit(problem, budget=budget)
        _assert(optimizer.nfev_ <= budget, f"nfev {optimizer.nfev_} > budget {budget}")
        _assert(
            problem.n_evaluations == optimizer.nfev_ + optimizer.nfev_monitor_,
            "the problem's evaluation count differs from nfev + nfev_monitor: a method must "
            "not call the problem itself; it asks for points and is told their losses",
        )
        _assert(optimizer.result_.status == Status.BUDGET, "budget stop not reported")


def check_callback(method: Any) -> None:
    """The callback sees every iteration, and StopIteration ends the run."""
    seen: list[int] = []
    _make(method, random_state=0, max_iter=6).fit(
        quadratic_problem(), callback=lambda r: seen.append(r.nit)
    )
    _assert(seen == list(range(1, 7)), f"callback saw iterations {seen}, expected 1..6")

    def stop_after_three(result):
        if result.nit == 3:
            raise StopIteration

    optimizer = _make(method, random_state=0, max_iter=50).fit(
        quadratic_problem(), callback=stop_after_three
    )
    _assert(optimizer.n_iter_ == 3, f"StopIteration ignored: {optimizer.n_iter_} iterations")
    _assert(optimizer.result_.status == Status.CALLBACK, "callback stop not reported")
    _assert(optimizer.result_.success, "a callback stop is a normal end")


def check_ask_tell_equals_fit(method: Any) -> None:
    """Driving ask/tell by hand reproduces ``fit`` with the same seed."""
    n_iter = 6
    fitted = _make(method, random_state=11, max_iter=n_iter).fit(quadratic_problem())
    problem = quadratic_problem()
    optimizer = _make(method, random_state=11, max_iter=n_iter).start(problem)
    _drive(optimizer, problem, n_iter)
    _assert(
        torch.allclose(optimizer.recommend(), fitted.result_.x_last, rtol=0, atol=0),
        f"ask/tell ended at {optimizer.recommend()}, fit at {fitted.result_.x_last}: the "
        "method may depend only on what ask and tell give it, not on fit",
    )
    _assert(optimizer.result().nit == n_iter, "ask/tell iteration count is wrong")


def check_state_is_complete(method: Any) -> None:
    """Every attribute a run sets is saved by ``state_dict`` or declared derived.

    A method keeps its run state in attributes that ``_start``, ``_ask`` and ``_tell``
    set. Each must be either saved by ``_get_state`` (under its name without the
    leading underscore) or listed in ``_derived_state`` (computed by ``_start`` from
    the parameters and the problem alone) or in ``_scratch_state`` (work buffers
    overwritten before every use). A field that is none of these would be lost on
    resume and make the resumed run drift: this check names it. The derived ones must
    come out equal from a fresh ``start``, and the saved ones equal after a reload.
    """
    problem = quadratic_problem()
    first = _make(method, random_state=5, max_iter=12).start(problem)
    _drive(first, problem, 3)
    first.ask()  # a batch pending: its bookkeeping must be saved too
    saved = first._get_state()
    covered = (
        {f"_{key}" for key in saved} | set(saved) | first._derived_state | first._scratch_state
    )
    missing = sorted(_run_attributes(first) - covered)
    _assert(
        not missing,
        f"{type(first).__name__} sets {missing} during a run, but neither saves them in "
        "_get_state() (under the name without the leading underscore) nor lists them in "
        "_derived_state: a resumed run would lose them.",
    )
    second = _make(method, random_state=99, max_iter=12).start(problem)
    for name in sorted(first._derived_state & set(vars(first))):
        _assert(
            _same(getattr(first, name), getattr(second, name)),
            f"{name} is declared in _derived_state but differs between two starts with "
            "the same parameters: it is run state, save it in _get_state().",
        )
    second.load_state_dict(first.state_dict())
    for key, value in second._get_state().items():
        if is_library_pickle(value):
            continue  # a library's object: the resumed points are compared elsewhere
        _assert(_same(value, saved[key]), f"the saved field {key!r} differs after a reload")


def check_state_dict_resumes_exactly(method: Any) -> None:
    """A saved and reloaded state continues exactly like the uninterrupted run."""
    import io

    drive = _drive
    problem = quadratic_problem()
    first = _make(method, random_state=5, max_iter=12).start(problem)
    drive(first, problem, 4)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    expected = drive(first, problem, 4)
    second = _make(method, random_state=99, max_iter=12).start(problem)
    second.load_state_dict(saved)
    resumed = drive(second, problem, 4)
    _assert(
        all(torch.equal(a, b) for a, b in zip(expected, resumed, strict=True)),
        "the resumed run asked for different points: some run state is not saved by "
        "_get_state() or not restored by _set_state() (check_state_is_complete names "
        "attributes that are neither saved nor declared in _derived_state)",
    )
    _assert(torch.equal(first.recommend(), second.recommend()), "the resumed run ended elsewhere")
    _assert(second.result().nit == first.result().nit == 8, "iteration counts differ")
    other_dim = _make(method, max_iter=12).start(quadratic_problem(2))
    _raises(
        InvalidParameterError,
        lambda: other_dim.load_state_dict(saved),
        "a state of another dimension",
        match="dimensions",
    )
    other_params = _make(method, max_iter=12, record_x=True).start(quadratic_problem())
    _raises(
        InvalidParameterError,
        lambda: other_params.load_state_dict(saved),
        "a state saved with other parameters",
        match="record_x=False",
    )
    longer = _make(method, max_iter=14).start(quadratic_problem())
    longer.load_state_dict(saved)  # a longer limit is not another run: it resumes
    _assert(longer.result().nit == 4, "a state loaded under a larger max_iter lost its count")


def check_result_fields(method: Any) -> None:
    """The result has scipy's fields, a consistent history and fitted attributes."""
    problem = quadratic_problem()
    optimizer = _make(method, random_state=0, max_iter=5).fit(problem)
    res = optimizer.result_
    for key in ("x", "fun", "success", "status", "message", "nfev", "nit", "history"):
        _assert(key in res, f"result lacks {key!r}")
    _assert(tuple(res.x.shape) == (problem.dim,), f"x has shape {tuple(res.x.shape)}")
    _assert(math.isfinite(res.fun), "fun is not finite")
    _assert(
        abs(float(problem(res.x)) - res.fun) <= 1e-12 * max(1.0, abs(res.fun)),
        "fun is not the loss at x",
    )
    _assert(res.nit == 5 and res.status == Status.MAX_ITER, "max_iter not honoured")
    _assert(
        len(res.history) == res.nit + 1,
        "history needs one row per iteration + start: return a dict (or None) from _tell; "
        "the base class appends the row",
    )
    _assert(
        tuple(res.history.columns[: len(HISTORY_COLUMNS)]) == HISTORY_COLUMNS,
        f"the history's columns must start with {HISTORY_COLUMNS}; a method's own columns "
        "(other keys that _tell returns) come after them",
    )
    best = res.history["best"]
    _assert(
        bool(np.all(np.diff(best) <= 0)),
        "the best loss increased: report the best point through the base class (tell), "
        "never by editing the run state",
    )
    _assert(best[-1] == res.fun, "the last best differs from fun")
    _assert(
        optimizer.x_ is res.x and optimizer.fun_ == res.fun and optimizer.n_iter_ == res.nit,
        "fitted attributes disagree with result_",
    )
    err = res.history["param_error"]
    _assert(bool(np.isfinite(err).all()), "param_error missing although x_opt is known")


def check_bad_inputs(method: Any) -> None:
    """Wrong x0 shapes, NaN, bad budgets and unknown options raise clear errors."""
    problem = quadratic_problem()
    optimizer = _make(method, max_iter=2)
    _raises(
        InvalidParameterError,
        lambda: optimizer.fit(problem, x0=[0.0, 0.0]),
        "short x0",
        match="shape",
    )
    _raises(
        InvalidParameterError,
        lambda: optimizer.fit(problem, x0=[[0.0] * 3]),
        "2-D x0",
        match="shape",
    )
    _raises(
        InvalidParameterError,
        lambda: optimizer.fit(problem, x0=[0.0, math.nan, 0.0]),
        "NaN in x0",
        match="NaN",
    )
    _raises(
        InvalidParameterError,
        lambda: optimizer.fit(problem, x0=[0.0, 0.0, 9.0]),
        "x0 outside bounds",
        match="bounds",
    )
    for budget in (0, -5, 2.5):
        _raises(
            InvalidParameterError,
            lambda b=budget: optimizer.fit(problem, budget=b),
            f"budget={budget}",
            match="budget",
        )
    _raises(
        InvalidParameterError,
        lambda: _make(method, budget=0).fit(problem),
        "budget=0 parameter",
        match="budget",
    )
    _raises(
        UnknownNameError,
        lambda: get_method(method, budgett=10),
        "unknown option",
        match="Did you mean 'budget'",
    )
    _raises(
        InvalidParameterError,
        lambda: _make(method, random_state="x").fit(problem),
        "bad random_state",
        match="random_state",
    )


def check_keyboard_interrupt(method: Any) -> None:
    """Ctrl-C returns the result so far, best point included."""
    problem = quadratic_problem(fail_at=4, fail_with=KeyboardInterrupt())
    optimizer = _make(method, random_state=0, max_iter=50).fit(problem)
    res = optimizer.result_
    _assert(res.status == Status.INTERRUPTED and not res.success, "interrupt not reported")
    _assert(math.isfinite(res.fun), "the best point was lost on interrupt")


def check_forward_model_errors(method: Any) -> None:
    """A raising forward model or NaN losses keep the best point (raise or stop)."""
    for fail_with in (RuntimeError("renderer crashed"), math.nan):
        problem = quadratic_problem(fail_at=4, fail_with=fail_with)
        optimizer = _make(method, random_state=0, max_iter=50)
        try:
            optimizer.fit(problem)
        except EvaluationError as exc:
            _assert(
                exc.result is not None and math.isfinite(exc.result.fun),
                "EvaluationError lost the best point",
            )
            _assert(optimizer.result_.status == Status.ERROR, "error status not set")
        else:
            raise AssertionError(f"on_error='raise' did not raise for {fail_with!r}")
        problem = quadratic_problem(fail_at=4, fail_with=fail_with)
        res = _make(method, random_state=0, max_iter=50, on_error="stop").fit(problem).result_
        _assert(res.status == Status.ERROR and not res.success, "on_error='stop' not honoured")
        _assert(math.isfinite(res.fun), "on_error='stop' lost the best point")


def check_converges_on_quadratic(method: Any) -> None:
    """The method improves on the start of a 3-D quadratic within 600 evaluations."""
    problem = quadratic_problem()
    start = float(problem(problem.x0))
    res = _make(method, random_state=0, budget=600).fit(problem).result_
    _assert(
        res.fun < 0.5 * start,
        f"no progress on a quadratic: {res.fun} vs start {start} in 600 evaluations; check "
        "the default step sizes against the bounds [-2, 2] and the sign of the update",
    )


def check_mixed_space(method: Any) -> None:
    """The method runs on a mixed space and reports its point by name, in its types.

    The problem (:func:`~blackbox_opt.testing.mixed_problem`) has a real, a log-scale
    real, an integer, a categorical, a 2 x 2 array and a fixed parameter. Within 300
    evaluations the method must improve on the start; ``result.params`` must be the
    decoded ``result.x`` with an int in range, one of the choices, reals and the array
    in their bounds; the history must carry the scalar parameters as named columns;
    and the same seed must give the same run.
    """
    runs = []
    for _ in range(2):
        problem = mixed_problem()
        runs.append(_make(method, random_state=0, budget=300).fit(problem).result_)
    res = runs[0]
    _assert(bool(torch.equal(res.x, runs[1].x)), "the same seed gave another point")
    start = float(problem(problem.x0))
    _assert(res.fun < start, f"no progress on the mixed problem: {res.fun} vs start {start}")
    _assert(
        abs(float(problem(res.x)) - res.fun) <= 1e-12 * max(1.0, abs(res.fun)),
        "fun is not the loss at x",
    )
    params = res.params
    space = problem.space
    _assert(set(params) == set(space), f"params has keys {sorted(params)}, not the space's")
    _assert(_same(params, space.from_vector(res.x)), "params is not x decoded by the space")
    _assert(
        isinstance(params["n"], int) and 1 <= params["n"] <= 4,
        f"the integer came back as {params['n']!r}",
    )
    _assert(params["colour"] in ("red", "green", "blue"), f"colour is {params['colour']!r}")
    _assert(-1.0 <= params["offset"] <= 1.0, f"offset {params['offset']} is out of bounds")
    _assert(1e-3 <= params["lr"] <= 1.0, f"lr {params['lr']} is out of bounds")
    field = params["field"]
    _assert(
        tuple(field.shape) == (2, 2) and bool(((field >= 0) & (field <= 1)).all()),
        f"field is {field}",
    )
    _assert(params["weight"] == 2.0, f"the fixed parameter came back as {params['weight']!r}")
    history = res.history
    for name in ("offset", "lr", "n", "colour"):
        _assert(name in history.columns, f"the history has no column {name!r}")
    _assert(
        float(history["n"][-1]) in (1.0, 2.0, 3.0, 4.0),
        f"the history's integer column holds {history['n'][-1]}",
    )
