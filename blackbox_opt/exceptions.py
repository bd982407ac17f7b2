"""The exceptions and warnings raised by blackbox_opt.

Every error derives from :class:`BlackboxOptError`; each leaf also derives from the
builtin exception a caller would expect, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

__all__ = [
    "BlackboxOptError",
    "BlackboxOptWarning",
    "CallbackError",
    "ClusterError",
    "EvaluationError",
    "InsufficientMemoryError",
    "InvalidParameterError",
    "MethodError",
    "MissingDependencyError",
    "NotDifferentiableError",
    "NotFittedError",
    "PointsFailedError",
    "UnknownNameError",
    "UnsupportedProblemError",
    "did_you_mean",
]


class BlackboxOptError(Exception):
    """Base class of every error raised by blackbox_opt."""


class InvalidParameterError(BlackboxOptError, ValueError):
    """A parameter or an input has the wrong type, shape or value."""


class UnsupportedProblemError(InvalidParameterError):
    """A method cannot run on this problem (too few dimensions, no bounds...)."""


class UnknownNameError(BlackboxOptError, KeyError):
    """A method, problem or option name that is not registered.

    The message lists the valid names and the closest matches.
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class NotFittedError(BlackboxOptError, _SklearnNotFittedError):
    """A fitted attribute (``x_``, ``result_``...) was read before ``fit``."""


class NotDifferentiableError(BlackboxOptError, TypeError):
    """A gradient-based method was given a problem without a usable gradient."""


class MissingDependencyError(BlackboxOptError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


class EvaluationError(BlackboxOptError, RuntimeError):
    """The forward model raised or returned non-finite losses.

    Attributes
    ----------
    result : OptimizeResult or None
        The result up to the failing evaluation, best point included, so nothing
        found so far is lost.
    """

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


class PointsFailedError(EvaluationError):
    """Some points of a batch failed; the others have losses.

    Raised by an evaluator (:mod:`blackbox_opt.evaluators`) when an evaluation raised,
    timed out or lost its worker too often, by a function evaluated point by point
    (:class:`~blackbox_opt.FunctionProblem`) and by the external-program and Blender
    problems when some of their calls fail. The fit loop hands the failed points to
    ``on_error``, as when a forward model raises, without evaluating the others again:
    under ``"raise"`` and ``"stop"`` the points evaluated before the failure are kept
    (the best point among them is the result's if it is the best so far); under
    ``"penalize"`` and ``"reask"`` only the ``unevaluated`` points are evaluated next.

    Attributes
    ----------
    losses : torch.Tensor of shape (B,)
        The batch's losses, NaN at the failed points and at the unevaluated ones.
    errors : dict of int to str
        Why each failed point failed, by its row in the batch.
    unevaluated : list of int
        Rows that were not evaluated at all (a point-by-point function stops at its
        first failure); empty when every point was tried.
    """

    def __init__(self, message: str, losses=None, errors=None, result=None, unevaluated=()):
        super().__init__(message, result=result)
        self.losses = losses
        self.errors = dict(errors or {})
        self.unevaluated = [int(i) for i in unevaluated]


class ClusterError(BlackboxOptError, RuntimeError):
    """An evaluator cannot run: no scheduler at the address, no worker that can take
    the work, or workers that cannot build the problem. Raised before the run starts."""


class MethodError(BlackboxOptError, RuntimeError):
    """An optimiser broke its own contract (a malformed batch from ``_ask``...) or
    raised inside ``ask`` or ``tell`` (a wrapped library's own failure).

    A bug in the method, never handled as a failure of the forward model. Raised
    during ``fit``, it ends the run and carries the result so far; the method's
    exception is chained as ``__cause__``.

    Attributes
    ----------
    result : OptimizeResult or None
        The result up to the failure, best point included (None outside ``fit``).
    """

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


class CallbackError(BlackboxOptError, RuntimeError):
    """The user's callback raised (anything but ``StopIteration``) during ``fit``.

    The run ends; the exception is chained as ``__cause__``.

    Attributes
    ----------
    result : OptimizeResult or None
        The result up to the callback's failure, best point included.
    """

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


class InsufficientMemoryError(BlackboxOptError, MemoryError):
    """A method would need more memory than the machine has; raised before allocating."""


class BlackboxOptWarning(UserWarning):
    """Warnings issued by blackbox_opt."""


def did_you_mean(name: str, valid: Iterable[str], n: int = 3, cutoff: float = 0.5) -> str:
    """The " Did you mean ...?" hint for a misspelt ``name``, or "" when nothing is close.

    Parameters
    ----------
    name : str
        The name that was not found.
    valid : iterable of str
        The names that exist.
    n : int, default=3
        At most this many suggestions.
    cutoff : float, default=0.5
        The similarity (:func:`difflib.get_close_matches`) a suggestion needs.

    Returns
    -------
    str
        With a leading space, so it can follow a sentence.

    Examples
    --------
    >>> did_you_mean("budgett", ["budget", "target"])
    " Did you mean 'budget'?"
    >>> did_you_mean("xyz", ["budget"])
    ''
    """
    close = difflib.get_close_matches(str(name), list(valid), n=n, cutoff=cutoff)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"


def unknown_name_message(kind: str, name: str, valid: Iterable[str]) -> str:
    """Build the message for an unknown ``name`` among ``valid`` names.

    Parameters
    ----------
    kind : str
        What was looked up, e.g. ``"method"``.
    name : str
        The name that was not found.
    valid : iterable of str
        The names that exist.

    Returns
    -------
    str
        A message naming the closest matches and listing every valid name.

    Examples
    --------
    >>> unknown_name_message("method", "spas", ["spsa", "fd", "random"])
    "Unknown method 'spas'. Did you mean 'spsa'? Valid methods: fd, random, spsa."
    """
    valid = sorted(valid)
    hint = did_you_mean(name, valid)
    listing = ", ".join(valid) if valid else "(none registered)"
    return f"Unknown {kind} {name!r}.{hint} Valid {kind}s: {listing}."
