"""The checks of the ask/tell contract an external renderer relies on.

Tells in any order and in pieces, wrong tells refused with the state unchanged, a
``fit`` that resumes from its checkpoint bit-for-bit, and the failure policies.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import is_library_pickle
from ..evaluation import evaluate
from ..exceptions import (
    BlackboxOptError,
    CallbackError,
    EvaluationError,
    InvalidParameterError,
)
from ..optimizers.base import BaseOptimizer
from ..result import Status
from ._helpers import _assert, _make, _raises, _same
from .problems import quadratic_problem

__all__ = [
    "check_failure_policies",
    "check_fit_resumes_from_a_checkpoint",
    "check_tell_in_any_order",
    "check_wrong_tells_are_refused",
]

Order = Callable[[int, torch.Generator], list[torch.Tensor]]


def _in_order(n: int, g: torch.Generator) -> list[torch.Tensor]:
    return [torch.arange(n)]


def _shuffled(n: int, g: torch.Generator) -> list[torch.Tensor]:
    return [torch.randperm(n, generator=g)]


def _three_pieces(n: int, g: torch.Generator) -> list[torch.Tensor]:
    return [p for p in torch.randperm(n, generator=g).tensor_split(3) if p.numel()]


def _run_told(method: Any, order: Order, n_iter: int = 5) -> tuple[list, BaseOptimizer]:
    problem = quadratic_problem()
    optimizer = _make(method, random_state=3, max_iter=20).start(problem)
    g = torch.Generator().manual_seed(0)
    asked = []
    for _ in range(n_iter):
        X = optimizer.ask()
        asked.append(X.clone())
        y, grads = evaluate(problem, X, gradients=optimizer.needs_gradient)
        for rows in order(X.shape[0], g):
            optimizer.tell(X[rows], y[rows], None if grads is None else grads[rows])
    return asked, optimizer


def check_tell_in_any_order(method: Any) -> None:
    """A batch told shuffled, or in three shuffled pieces, gives the in-order run."""
    reference, ref = _run_told(method, _in_order)
    for name, order in (("shuffled", _shuffled), ("in three pieces", _three_pieces)):
        asked, optimizer = _run_told(method, order)
        _assert(
            all(torch.equal(a, b) for a, b in zip(reference, asked, strict=True)),
            f"a batch told {name} changed the points asked next",
        )
        _assert(
            torch.equal(optimizer.recommend(), ref.recommend()),
            f"a batch told {name} ended elsewhere than one told in order",
        )
        a, b = optimizer.result(), ref.result()
        _assert(torch.equal(a.x, b.x) and a.fun == b.fun, f"told {name}: another best point")
        _assert(a.nit == b.nit == 5 and a.nfev == b.nfev, f"told {name}: other counts")


def _comparable(optimizer: BaseOptimizer) -> dict:
    saved = optimizer.state_dict()
    method = {k: v for k, v in saved["method"].items() if not is_library_pickle(v)}
    return {"run": saved["run"], "method": method}


def check_wrong_tells_are_refused(method: Any) -> None:
    """Wrong tells raise a clear error, change nothing, and the run goes on unharmed.

    Refused: a tell before any ask, a point that was not asked, a point told twice,
    fewer losses than points, losses that are not numbers, a NaN under
    ``on_error="raise"``, and ``ask(n)`` where the method cannot honour it. A second
    ``ask`` while a batch is pending returns the points still waiting.
    """
    problem = quadratic_problem()
    reference = _make(method, random_state=4, max_iter=20).start(problem)
    optimizer = _make(method, random_state=4, max_iter=20).start(problem)
    _raises(
        InvalidParameterError,
        lambda: optimizer.tell(problem.x0[None], [1.0]),
        "a tell before any ask",
        match="No batch is pending",
    )
    for _ in range(3):
        X_ref = reference.ask()
        reference.tell(X_ref, *evaluate(problem, X_ref, gradients=reference.needs_gradient))
        X = optimizer.ask()
        _assert(torch.equal(X, X_ref), "a refused tell changed the points asked next")
        _refuse_wrong_tells(optimizer, problem, X)
    _assert(
        torch.equal(optimizer.recommend(), reference.recommend()),
        "after refused tells the run ended elsewhere than the undisturbed one",
    )
    _assert(optimizer.result().nit == reference.result().nit == 3, "iteration counts differ")


def _refuse_wrong_tells(optimizer: BaseOptimizer, problem: Any, X: torch.Tensor) -> None:
    """Try every wrong tell on the pending batch ``X``, then tell it right, in pieces."""
    y, grads = evaluate(problem, X, gradients=optimizer.needs_gradient)
    first = None if grads is None else grads[:1]
    B = X.shape[0]
    before = _comparable(optimizer)
    wrong = [
        (
            "a point that was not asked",
            lambda: optimizer.tell(X[:1] + 0.123, y[:1], first),
            "not a point of the pending batch",
        ),
        ("fewer losses than points", lambda: optimizer.tell(X, y[: B - 1], grads), "per point"),
        ("losses that are not numbers", lambda: optimizer.tell(X[:1], ["0.1"], first), "number"),
    ]
    for what, tell, match in wrong:
        _raises(InvalidParameterError, tell, what, match=match)
        _assert(_same(_comparable(optimizer), before), f"{what}: the refused tell changed it")
    _raises(
        EvaluationError,
        lambda: optimizer.tell(X[:1], [math.nan], first),
        "a NaN loss under on_error='raise'",
        match="non-finite",
    )
    _assert(_same(_comparable(optimizer), before), "a refused NaN tell changed the state")
    if optimizer._batch_range() is None:
        _raises(InvalidParameterError, lambda: optimizer.ask(2), "ask(n)", match="without n")
    else:
        _raises(InvalidParameterError, lambda: optimizer.ask(1), "ask(n)", match="pending")
    _assert(torch.equal(optimizer.ask(), X), "a second ask did not return the waiting points")
    optimizer.tell(X[:1], y[:1], first)
    if B > 1:
        _raises(
            InvalidParameterError,
            lambda: optimizer.tell(X[:1], y[:1], first),
            "a point told twice",
            match="told already",
        )
        _assert(torch.equal(optimizer.ask(), X[1:]), "ask() did not return the points left")
        optimizer.tell(X[1:], y[1:], None if grads is None else grads[1:])


def check_fit_resumes_from_a_checkpoint(method: Any) -> None:
    """An interrupted ``fit`` resumes from its checkpoint and ends as the whole run.

    Also through ``load_state_dict`` before ``fit`` (no ``start``), and a checkpoint
    of other parameters is refused, naming them.
    """
    full = _make(method, random_state=6, max_iter=8).fit(quadratic_problem()).result_
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.pt"
        stopped = _make(method, random_state=6, max_iter=8).fit(
            quadratic_problem(fail_at=6, fail_with=KeyboardInterrupt()),
            checkpoint=path,
            checkpoint_every=2,
        )
        _assert(stopped.result_.status == Status.INTERRUPTED, "the interruption was not reported")
        _assert(path.exists(), "fit wrote no checkpoint on interruption")
        copy = Path(folder) / "copy.pt"
        shutil.copy(path, copy)
        resumed = _make(method, random_state=6, max_iter=8).fit(
            quadratic_problem(), checkpoint=path
        )
        loaded = _make(method, random_state=99, max_iter=8)
        loaded.load_state_dict(torch.load(copy, weights_only=True))
        loaded.fit(quadratic_problem())
        for how, run in (("from its checkpoint", resumed), ("by load_state_dict", loaded)):
            res = run.result_
            _assert(
                torch.equal(res.x, full.x) and torch.equal(res.x_last, full.x_last),
                f"the run resumed {how} ended elsewhere than the uninterrupted one",
            )
            _assert(
                (res.nit, res.nfev, res.nfev_monitor) == (full.nit, full.nfev, full.nfev_monitor),
                f"the run resumed {how} counts differently: {res.nit, res.nfev, res.nfev_monitor}"
                f" vs {full.nit, full.nfev, full.nfev_monitor}",
            )
            for column in ("nit", "nfev", "nfev_monitor", "best", "loss"):
                _assert(
                    np.array_equal(res.history[column], full.history[column], equal_nan=True),
                    f"the run resumed {how} has another history column {column!r}",
                )
        _raises(
            InvalidParameterError,
            lambda: _make(method, random_state=6, max_iter=8, record_x=True).fit(
                quadratic_problem(), checkpoint=copy
            ),
            "a checkpoint of other parameters",
            match="record_x=False",
        )


def check_failure_policies(method: Any) -> None:
    """Failed points cost one evaluation under penalize/reask; a raising callback keeps
    the result; a budget that cannot pay one iteration is an error before any
    evaluation."""
    optimizer = _make(method)
    if optimizer.needs_gradient:
        _raises(
            InvalidParameterError,
            lambda: _make(method, on_error="penalize", max_iter=3).fit(quadratic_problem()),
            "on_error='penalize' for a gradient method",
            match="penalize",
        )
    else:
        for fail_with in (RuntimeError("frame 4 crashed"), math.nan):
            problem = quadratic_problem(fail_at=4, fail_with=fail_with)
            res = _make(method, random_state=0, max_iter=6, on_error="penalize").fit(problem)
            res = res.result_
            _assert(res.status == Status.MAX_ITER and res.success, "a failed point ended the run")
            _assert(res.nit == 6 and math.isfinite(res.fun), "penalize: the run did not go on")
            if isinstance(fail_with, float):
                _assert(res.nfail > 0, "penalize: the failed points were not counted")
    if type(optimizer)._reask is BaseOptimizer._reask:
        _raises(
            InvalidParameterError,
            lambda: _make(method, on_error="reask", max_iter=3).fit(quadratic_problem()),
            "on_error='reask' for a method that cannot redraw a point",
            match="reask",
        )
    else:
        problem = quadratic_problem(fail_at=4, fail_with=math.nan)
        run = _make(method, random_state=0, max_iter=6, on_error="reask").fit(problem)
        res = run.result_
        _assert(res.status == Status.MAX_ITER and res.nit == 6, "reask: the run did not go on")
        _assert(res.nfail > 0 and math.isfinite(res.fun), "reask: failures not counted")

    def broken(result):
        if result.nit == 2:
            raise ValueError("a bug in the callback")

    try:
        _make(method, random_state=0, max_iter=6).fit(quadratic_problem(), callback=broken)
    except CallbackError as exc:
        _assert(
            exc.result is not None and exc.result.nit == 2 and math.isfinite(exc.result.fun),
            "a raising callback lost the result",
        )
        _assert(isinstance(exc.__cause__, ValueError), "the callback's exception is not chained")
    else:
        raise AssertionError("a raising callback did not raise CallbackError")
    problem = quadratic_problem()
    X = _make(method, random_state=0).start(problem, budget=100).ask()
    if X.shape[0] > 1:
        _raises(
            BlackboxOptError,
            lambda: _make(method, random_state=0).fit(problem, budget=X.shape[0] - 1),
            "a budget below one iteration",
            match="cannot pay for one iteration",
        )
        _assert(problem.n_evaluations == 0, "a budget below one iteration evaluated points")
