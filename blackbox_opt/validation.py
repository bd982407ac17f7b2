"""Declared parameter constraints and the one function that checks them.

Every estimator lists what each of its parameters may be in a ``_parameter_constraints``
table (``{"sigma": [Interval(Real, 0, None, closed="neither")], ...}``), and
:func:`validate_params` checks the table once, at the start of a run, with a message
that names the parameter, the estimator, what is allowed and what came:

    The 'sigma' parameter of PRDPT must be a float in the range (0, inf). Got -1 instead.

The format follows scikit-learn's, whose estimator contract the library keeps; the
constraint types are the library's own, so that no private scikit-learn module is
imported.

An entry of a table is a list of alternatives, each one of:

- a :class:`Constraint` (:class:`Interval`, :class:`Options`, :class:`PositiveVector`);
- ``"boolean"``: ``bool`` or ``numpy.bool_``;
- ``None``: the value None;
- the builtin :func:`callable`: any callable;
- a type (``dict``, ``str``, ``numbers.Real``, ``torch.Generator``...): an instance of it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .exceptions import InvalidParameterError

__all__ = ["Constraint", "Interval", "Options", "PositiveVector", "validate_params"]


class Constraint:
    """One alternative of a parameter's constraint list."""

    def is_satisfied_by(self, value: Any) -> bool:
        """Whether ``value`` meets the constraint.

        Parameters
        ----------
        value : object

        Returns
        -------
        bool
        """
        raise NotImplementedError

    def describe(self) -> str:
        """What the constraint allows, as the end of "must be ...".

        Returns
        -------
        str
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()!r})"


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


class Interval(Constraint):
    """A number of a given kind in a range.

    Parameters
    ----------
    kind : numbers.Integral or numbers.Real
        ``Integral`` accepts integers (numpy's too) and refuses floats such as ``2.0``;
        ``Real`` accepts integers and floats. Booleans are refused by both.
    left, right : float or None
        The ends of the range; None is unbounded.
    closed : {"left", "right", "both", "neither"}
        Which ends belong to the range.

    Examples
    --------
    >>> from numbers import Real
    >>> rate = Interval(Real, 0, None, closed="neither")
    >>> rate.is_satisfied_by(0.1), rate.is_satisfied_by(0), rate.is_satisfied_by(True)
    (True, False, False)
    >>> rate.describe()
    'a float in the range (0, inf)'
    """

    def __init__(
        self,
        kind: type,
        left: float | None,
        right: float | None,
        *,
        closed: str,
    ):
        if kind not in (numbers.Integral, numbers.Real):
            raise TypeError(f"Interval's kind must be Integral or Real; got {kind}")
        if closed not in ("left", "right", "both", "neither"):
            raise ValueError(f"closed must be left, right, both or neither; got {closed!r}")
        if left is not None and right is not None and left > right:
            raise ValueError(f"Interval's left end {left} exceeds its right end {right}")
        self.kind = kind
        self.left = left
        self.right = right
        self.closed = closed

    def is_satisfied_by(self, value: Any) -> bool:
        if _is_bool(value) or not isinstance(value, self.kind):
            return False
        if isinstance(value, numbers.Real) and math.isnan(float(value)):
            return False
        if self.left is not None:
            low_open = self.closed in ("right", "neither")
            if value < self.left or (low_open and value == self.left):
                return False
        if self.right is not None:
            high_open = self.closed in ("left", "neither")
            if value > self.right or (high_open and value == self.right):
                return False
        return True

    def describe(self) -> str:
        kind = "an int" if self.kind is numbers.Integral else "a float"
        low = "-inf" if self.left is None else _number(self.left)
        high = "inf" if self.right is None else _number(self.right)
        opening = "[" if self.closed in ("left", "both") and self.left is not None else "("
        closing = "]" if self.closed in ("right", "both") and self.right is not None else ")"
        return f"{kind} in the range {opening}{low}, {high}{closing}"


class Options(Constraint):
    """A string among a fixed set.

    Parameters
    ----------
    options : iterable of str

    Examples
    --------
    >>> Options({"raise", "stop"}).describe()
    "a str among {'raise', 'stop'}"
    """

    def __init__(self, options: Iterable[str]):
        self.options = frozenset(options)
        if not self.options or not all(isinstance(o, str) for o in self.options):
            raise TypeError("Options takes a non-empty collection of strings")

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.options

    def describe(self) -> str:
        return "a str among {" + ", ".join(repr(o) for o in sorted(self.options)) + "}"


class PositiveVector(Constraint):
    """A 1-D array-like (list, tuple, numpy array, tensor) of positive finite numbers.

    The per-parameter form of a scale (``sigma``, ``c``, ``h``, ``lr``...); its length is
    checked against the problem's dimension when a run starts.
    """

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, str | bytes | Mapping) or _is_bool(value):
            return False
        if not isinstance(value, list | tuple | np.ndarray) and not hasattr(value, "__array__"):
            return False
        try:
            array = np.asarray(
                value.detach().cpu() if hasattr(value, "detach") else value, dtype=np.float64
            )
        except (TypeError, ValueError):
            return False
        return (
            array.ndim == 1 and array.size > 0 and bool(np.all(np.isfinite(array) & (array > 0)))
        )

    def describe(self) -> str:
        return "a 1-D array of positive finite numbers (one per parameter)"


class _Boolean(Constraint):
    def is_satisfied_by(self, value: Any) -> bool:
        return _is_bool(value)

    def describe(self) -> str:
        return "a bool"


class _IsNone(Constraint):
    def is_satisfied_by(self, value: Any) -> bool:
        return value is None

    def describe(self) -> str:
        return "None"


class _Callable(Constraint):
    def is_satisfied_by(self, value: Any) -> bool:
        return callable(value)

    def describe(self) -> str:
        return "a callable"


class _InstanceOf(Constraint):
    def __init__(self, kind: type):
        self.kind = kind

    def is_satisfied_by(self, value: Any) -> bool:
        if self.kind in (numbers.Real, numbers.Integral, int, float) and _is_bool(value):
            return False
        return isinstance(value, self.kind)

    def describe(self) -> str:
        names = {
            numbers.Real: "a real number",
            numbers.Integral: "an int",
            str: "a str",
            dict: "a dict",
            type: "a class",
        }
        if self.kind in names:
            return names[self.kind]
        module = self.kind.__module__
        module = "torch" if module.startswith("torch") else module
        module = "numpy.random" if module.startswith("numpy.random") else module
        return f"a {module}.{self.kind.__qualname__}"


def _as_constraint(spec: Any) -> Constraint:
    if isinstance(spec, Constraint):
        return spec
    if spec == "boolean":
        return _Boolean()
    if spec is None:
        return _IsNone()
    if spec is callable:
        return _Callable()
    if isinstance(spec, type):
        return _InstanceOf(spec)
    raise TypeError(f"Unknown parameter constraint {spec!r}")


def validate_params(
    constraints: Mapping[str, list], params: Mapping[str, Any], caller: str
) -> None:
    """Check every parameter that has constraints; raise on the first that meets none.

    Parameters
    ----------
    constraints : mapping of str to list
        Each parameter's alternatives (see the module's description).
    params : mapping of str to object
        The values, e.g. ``estimator.get_params(deep=False)``.
    caller : str
        The estimator's name, for the message.

    Raises
    ------
    InvalidParameterError
        Naming the parameter, the caller, every alternative and the value.

    Examples
    --------
    >>> from numbers import Real
    >>> validate_params({"lr": [Interval(Real, 0, None, closed="neither")]}, {"lr": -1},
    ...                 "PRDPT")
    Traceback (most recent call last):
    ...
    blackbox_opt.exceptions.InvalidParameterError: The 'lr' parameter of PRDPT must be a float in the range (0, inf). Got -1 instead.
    """  # noqa: E501
    for name, value in params.items():
        if name not in constraints:
            continue
        alternatives = [_as_constraint(spec) for spec in constraints[name]]
        if any(c.is_satisfied_by(value) for c in alternatives):
            continue
        described = [c.describe() for c in alternatives]
        allowed = described[-1]
        if len(described) > 1:
            allowed = ", ".join(described[:-1]) + " or " + allowed
        raise InvalidParameterError(
            f"The {name!r} parameter of {caller} must be {allowed}. Got {value!r} instead."
        )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
