"""Small helpers shared across the package: optional imports and random states."""

from __future__ import annotations

import contextlib
import importlib
import numbers
import os
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any

import numpy as np
import torch

from .exceptions import InvalidParameterError, MissingDependencyError, NotFittedError

__all__ = [
    "available_memory",
    "check_int",
    "check_param_constraints",
    "check_random_state",
    "missing_attribute",
    "require",
    "torch_threads",
]


def require(module: str, extra: str) -> ModuleType:
    """Import an optional dependency or raise an error naming the extra to install.

    Parameters
    ----------
    module : str
        The module to import, e.g. ``"cma"``.
    extra : str
        The extra of ``blackbox-opt`` that installs it, e.g. ``"baselines"``.

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    MissingDependencyError
        When the module cannot be imported.

    Examples
    --------
    >>> require("math", "none").sqrt(4.0)
    2.0
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{module!r} is required for this feature but could not be imported ({exc}). "
            f"Install it with: pip install 'blackbox-opt[{extra}]'"
        ) from exc


def check_random_state(
    random_state: int | torch.Generator | np.random.Generator | None,
    device: torch.device | str = "cpu",
) -> torch.Generator:
    """Turn ``random_state`` into a :class:`torch.Generator` on ``device``.

    Parameters
    ----------
    random_state : int, torch.Generator, numpy.random.Generator or None
        An int seeds a new generator (same int, same draws); a generator is used as is;
        a numpy generator seeds a new torch generator from one draw; None seeds from
        fresh operating-system entropy.
    device : torch.device or str, default="cpu"
        Where the draws are made. A given generator must live there.

    Returns
    -------
    torch.Generator

    Examples
    --------
    >>> g = check_random_state(0)
    >>> torch.rand(2, generator=g).tolist() == torch.rand(
    ...     2, generator=check_random_state(0)).tolist()
    True
    """
    device = torch.device(device)
    if isinstance(random_state, torch.Generator):
        if torch.device(random_state.device).type != device.type:
            raise InvalidParameterError(
                f"random_state is a torch.Generator on {random_state.device}, but the draws "
                f"are made on {device}; pass an int seed or a generator on {device}."
            )
        return random_state
    if random_state is None:
        seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> 1)
    elif isinstance(random_state, np.random.Generator):
        seed = int(random_state.integers(0, 2**63 - 1))
    elif isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise InvalidParameterError(
                f"random_state must be a non-negative int; got {random_state}."
            )
        seed = int(random_state)
    else:
        raise InvalidParameterError(
            "random_state must be None, a non-negative int, a torch.Generator or a "
            f"numpy.random.Generator; got {type(random_state).__name__}."
        )
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation, or None when unknown.

    Read from ``/proc/meminfo`` (``MemAvailable``) on Linux, from ``sysconf`` elsewhere.

    Returns
    -------
    int or None

    Examples
    --------
    >>> free = available_memory()
    >>> free is None or free > 0
    True
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_param_constraints(estimator: Any) -> None:
    """Validate an estimator's parameters against its ``_parameter_constraints`` table.

    Raises the library's :class:`~blackbox_opt.InvalidParameterError` with a message
    such as "The 'sigma' parameter of PRDPT must be a float in the range (0, inf).
    Got -1 instead." (see :mod:`blackbox_opt.validation`).

    Parameters
    ----------
    estimator : sklearn.base.BaseEstimator
        With a ``_parameter_constraints`` mapping.

    Raises
    ------
    InvalidParameterError
    """
    from .validation import validate_params

    validate_params(
        estimator._parameter_constraints,
        estimator.get_params(deep=False),
        type(estimator).__name__,
    )


def missing_attribute(obj: Any, name: str, fitted: Iterable[str], fit_call: str) -> Exception:
    """The error for reading attribute ``name`` that ``obj`` does not have.

    Parameters
    ----------
    obj : object
    name : str
    fitted : iterable of str
        The attributes that fitting sets.
    fit_call : str
        How to fit, for the message (e.g. ``"fit(problem)"``).

    Returns
    -------
    NotFittedError or AttributeError
        :class:`~blackbox_opt.NotFittedError` for a fitted attribute read too early.

    Examples
    --------
    >>> missing_attribute(object(), "x_", ["x_"], "fit(problem)")
    NotFittedError('This object is not fitted yet: call fit(problem) before reading x_.')
    """
    if name in fitted:
        return NotFittedError(
            f"This {type(obj).__name__} is not fitted yet: call {fit_call} before reading {name}."
        )
    return AttributeError(f"{type(obj).__name__!r} object has no attribute {name!r}")


def check_int(value: Any, name: str, low: int, high: int | None = None) -> int:
    """Check that a constructor argument is an integer in ``[low, high]``.

    Parameters
    ----------
    value : object
        The argument (``bool`` is refused).
    name : str
        Its name, for the message.
    low : int
        The smallest value allowed.
    high : int, optional
        The largest value allowed (no limit by default).

    Returns
    -------
    int
        ``value``.

    Raises
    ------
    InvalidParameterError
        A ``ValueError`` naming the argument, the range and what came.

    Examples
    --------
    >>> check_int(64, "res", 2)
    64
    >>> check_int(1, "res", 2)
    Traceback (most recent call last):
    ...
    blackbox_opt.exceptions.InvalidParameterError: res must be an int >= 2; got 1.
    """
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        expected = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise InvalidParameterError(f"{name} must be an int {expected}; got {value!r}.")
    return int(value)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous number.

    Parameters
    ----------
    n : int or None
        Threads for the block; None leaves torch's setting alone.

    Examples
    --------
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
