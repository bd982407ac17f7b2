"""Evaluating a batch of points on a problem: the one path every method's points take.

The data path of a run is problem -> evaluation -> method -> result. A method asks for
points and is told their losses; it never calls the problem itself. :func:`evaluate`
is that middle step, used by the fit loop, by :class:`~blackbox_opt.MetaInitializer`'s
inner runs and by anyone who drives ``ask``/``tell`` by hand on a
:class:`~blackbox_opt.Problem`.
"""

from __future__ import annotations

import torch

from .exceptions import BlackboxOptError, EvaluationError
from .problem import Problem

__all__ = ["evaluate", "is_forward_model_failure"]


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
