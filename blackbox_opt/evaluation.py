"""Evaluating a batch of points on a problem: the one path every method's points take.

The data path of a run is problem -> evaluation -> method -> result. A method asks for
points and is told their losses; it never calls the problem itself. :func:`evaluate`
is that middle step, used by the fit loop, by :class:`~blackbox_opt.MetaInitializer`'s
inner runs and by anyone who drives ``ask``/``tell`` by hand on a
:class:`~blackbox_opt.Problem`.
"""

from __future__ import annotations

import math

import torch

from .exceptions import BlackboxOptError, EvaluationError, PointsFailedError
from .problem import Problem

__all__ = ["evaluate", "evaluate_rest", "is_forward_model_failure"]


def evaluate(
    problem: Problem, X: torch.Tensor, *, gradients: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Evaluate the losses of a batch, and their gradients if asked.

    Black-box evaluation runs under :func:`torch.no_grad`; with ``gradients`` the
    problem's own gradient is taken (:meth:`~blackbox_opt.Problem.value_and_grad`).

    Parameters
    ----------
    problem : Problem
    X : torch.Tensor of shape (B, D)
        Points on the problem's device and dtype, e.g. from an optimiser's ``ask``.
    gradients : bool, default=False
        Also return the gradients ``(B, D)``; pass the optimiser's ``needs_gradient``.

    Returns
    -------
    y : torch.Tensor of shape (B,)
    grads : torch.Tensor of shape (B, D) or None

    Examples
    --------
    >>> from blackbox_opt import SPSA
    >>> from blackbox_opt.testing import quadratic_problem
    >>> problem = quadratic_problem()
    >>> optimizer = SPSA(random_state=0).start(problem)
    >>> X = optimizer.ask()
    >>> optimizer.tell(X, *evaluate(problem, X, gradients=optimizer.needs_gradient))
    """
    if gradients:
        return problem.value_and_grad(X)
    with torch.no_grad():
        return problem.evaluate(X), None


def evaluate_rest(
    problem: Problem, X: torch.Tensor, failure: Exception
) -> tuple[torch.Tensor, dict[int, str]]:
    """Every point's loss after the batch call raised ``failure``, each point tried once.

    A :class:`~blackbox_opt.PointsFailedError` already holds the losses of the points
    it evaluated and says which it did not: only those are evaluated, as a batch (and
    so on, should that batch fail in turn). After any other failure nothing is known
    of the batch, and its points are evaluated one by one. Failures of the forward
    model give NaN and a reason; the library's own errors propagate.

    Parameters
    ----------
    problem : Problem
    X : torch.Tensor of shape (B, D)
        The batch whose evaluation raised.
    failure : Exception
        What it raised.

    Returns
    -------
    y : torch.Tensor of shape (B,)
        The losses, NaN at the points that failed.
    errors : dict of int to str
        Why each failed point failed, by its row in ``X``.

    Examples
    --------
    >>> from blackbox_opt import FunctionProblem
    >>> def f(x):
    ...     if x[0] > 0.5:
    ...         raise RuntimeError("the renderer crashed")
    ...     return float(x[0])
    >>> problem = FunctionProblem(f, x0=[0.0])
    >>> X = torch.tensor([[0.25], [0.75], [0.125]], dtype=problem.dtype)
    >>> try:
    ...     problem.evaluate(X)
    ... except Exception as exc:
    ...     y, errors = evaluate_rest(problem, X, exc)
    >>> y.tolist(), errors
    ([0.25, nan, 0.125], {1: 'RuntimeError: the renderer crashed'})
    """
    B = X.shape[0]
    y = torch.full((B,), math.nan, dtype=X.dtype, device=X.device)
    errors: dict[int, str] = {}
    rows = list(range(B))  # the rows of X that ``failure`` is about
    while isinstance(failure, PointsFailedError) and failure.losses is not None:
        index = torch.tensor(rows, device=X.device)
        y[index] = failure.losses.detach().to(device=X.device, dtype=X.dtype)
        errors.update({rows[i]: reason for i, reason in failure.errors.items()})
        rows = [rows[i] for i in failure.unevaluated]
        if not rows:
            return y, errors
        index = torch.tensor(rows, device=X.device)
        try:
            with torch.no_grad():
                y[index] = problem.evaluate(X[index])
            return y, errors
        except Exception as exc:
            if not is_forward_model_failure(exc):
                raise
            failure = exc
    for i in rows:  # nothing is known of these rows: one by one
        try:
            with torch.no_grad():
                y[i] = problem.evaluate(X[i : i + 1])[0]
        except PointsFailedError as exc:
            errors[i] = exc.errors.get(0, f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            if not is_forward_model_failure(exc):
                raise
            errors[i] = f"{type(exc).__name__}: {exc}"
    return y, errors


def is_forward_model_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of the forward model, which ``on_error`` handles.

    The library's own errors (a bad parameter, a problem without gradients...) are
    mistakes in the set-up and are raised as they are; anything else an evaluation
    raises, and non-finite losses (:class:`~blackbox_opt.EvaluationError`), count as a
    failure of the user's model. ``KeyboardInterrupt`` and ``SystemExit`` never do.

    Parameters
    ----------
    exc : BaseException

    Returns
    -------
    bool

    Examples
    --------
    >>> is_forward_model_failure(RuntimeError("renderer crashed"))
    True
    >>> from blackbox_opt.exceptions import InvalidParameterError
    >>> is_forward_model_failure(InvalidParameterError("bad sigma"))
    False
    """
    if not isinstance(exc, Exception):
        return False
    return isinstance(exc, EvaluationError) or not isinstance(exc, BlackboxOptError)
