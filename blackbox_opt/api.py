"""The front door: :func:`minimize`, and resolving methods and problems by name."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any

import torch

from .exceptions import EvaluationError, InvalidParameterError, UnknownNameError
from .optimizers.base import BaseOptimizer
from .problem import FunctionProblem, Problem
from .registry import METHODS, PROBLEMS, Table
from .result import OptimizeResult

__all__ = [
    "get_method",
    "list_methods",
    "list_problems",
    "make_problem",
    "minimize",
    "register_method",
    "register_problem",
]

DEFAULT_METHOD = "zerograds"


def register_method(name: str, entry_point: Any = None, *, overwrite: bool = False) -> Any:
    """Register an optimiser class under ``name`` (usable as a class decorator).

    Parameters
    ----------
    name : str
        The method name used by :func:`minimize`.
    entry_point : type or str, optional
        A :class:`~blackbox_opt.BaseOptimizer` subclass or its
        ``"module:Class"`` path.
    overwrite : bool, default=False
        Replace an existing method of that name.

    Returns
    -------
    The decorator when ``entry_point`` is omitted.
    """
    return METHODS.register(name, entry_point, overwrite=overwrite)


def register_problem(
    name: str, entry_point: Any = None, *, kwargs: dict | None = None, overwrite: bool = False
) -> Any:
    """Register a problem class or factory under ``name``.

    Installed packages usually register through the ``blackbox_opt.problems``
    entry-point group instead; this adds problems at run time, or variants of existing
    ones with other default ``kwargs``.

    Parameters
    ----------
    name : str
        The problem id.
    entry_point : type, callable or str, optional
        A :class:`~blackbox_opt.Problem` subclass, a factory returning one, or its
        ``"module:Class"`` path.
    kwargs : dict, optional
        Default constructor arguments.
    overwrite : bool, default=False
        Replace an existing problem of that name.

    Returns
    -------
    The decorator when ``entry_point`` is omitted.
    """
    return PROBLEMS.register(name, entry_point, kwargs=kwargs, overwrite=overwrite)


def _problem_parameters(factory: Any) -> dict[str, inspect.Parameter]:
    params = inspect.signature(factory).parameters
    return {n: p for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _accepts_any_keyword(factory: Any) -> bool:
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(factory).parameters.values())


def make_problem(name: str, **overrides: Any) -> Problem:
    """Instantiate the problem registered as ``name``.

    Parameters
    ----------
    name : str
        A registered problem id.
    **overrides
        Constructor arguments (``dim``, ``device``, ``x0``...) replacing the defaults.

    Returns
    -------
    Problem

    Raises
    ------
    UnknownNameError
        For an unknown id or argument, naming the closest matches.
    """
    entry = PROBLEMS.entry(name)
    factory = entry.load()
    valid = _problem_parameters(factory)
    if not _accepts_any_keyword(factory):
        for key in overrides:
            if key not in valid:
                raise UnknownNameError(_unknown_option(key, f"problem {name!r}", valid))
    problem = factory(**{**entry.kwargs, **overrides})
    if not isinstance(problem, Problem):
        raise InvalidParameterError(
            f"The factory registered as problem {name!r} returned a "
            f"{type(problem).__name__}, not a blackbox_opt.Problem."
        )
    problem.id = name
    return problem


def list_problems() -> Table:
    """Return a table of the registered problems.

    Columns: ``id``, ``dim`` (at the defaults), ``tags``, ``cost``, ``differentiable``
    and ``requires`` (the extra it needs).

    Returns
    -------
    Table
    """
    rows = []
    for name in PROBLEMS:
        entry = PROBLEMS.entry(name)
        try:
            factory = entry.load()
        except ImportError as exc:  # a third-party entry point that cannot load
            rows.append(
                dict(id=name, dim=None, tags=(), cost="-", differentiable=None, requires=str(exc))
            )
            continue
        dim = entry.kwargs.get("dim", getattr(factory, "default_dim", None))
        rows.append(
            dict(
                id=name,
                dim=dim,
                tags=tuple(getattr(factory, "tags", ())),
                cost=getattr(factory, "cost", "-"),
                differentiable=bool(getattr(factory, "differentiable", False)),
                requires=",".join(getattr(factory, "requires", ())) or None,
            )
        )
    return Table(rows)


def list_methods() -> Table:
    """Return a table of the registered methods.

    Columns: ``name``, ``class``, ``uses`` (what each method needs: function values or
    gradients), ``requires`` (the extra it needs) and ``summary``.

    Returns
    -------
    Table
    """
    rows = []
    for name in METHODS:
        try:
            cls = METHODS.get(name)
        except ImportError as exc:  # a third-party method whose module cannot load
            rows.append({"name": name, "class": "-", "uses": "-", "requires": str(exc),
                         "summary": ""})  # fmt: skip
            continue
        doc = (inspect.getdoc(cls) or "").strip().splitlines()
        rows.append(
            dict(
                name=name,
                **{"class": cls.__name__},
                uses="gradients" if cls.needs_gradient else "values",
                requires=",".join(cls.requires) or None,
                summary=doc[0] if doc else "",
            )
        )
    return Table(rows)


def get_method(method: Any = DEFAULT_METHOD, **options: Any) -> BaseOptimizer:
    """Return an optimiser instance for ``method`` configured with ``options``.

    Parameters
    ----------
    method : str, type or BaseOptimizer
        A registered name, an optimiser class, or an instance (cloned, then updated
        with ``options``, so the caller's instance is left untouched).
    **options
        The method's parameters.

    Returns
    -------
    BaseOptimizer
    """
    from sklearn.base import clone

    if isinstance(method, str):
        cls = METHODS.get(method)
        optimizer = cls()
    elif isinstance(method, type) and issubclass(method, BaseOptimizer):
        optimizer = method()
    elif isinstance(method, BaseOptimizer):
        optimizer = clone(method)
    else:
        raise InvalidParameterError(
            "method must be a registered name, a BaseOptimizer subclass or an instance; "
            f"got {type(method).__name__}."
        )
    valid = optimizer.get_params(deep=False)
    for key in options:
        if key not in valid:
            raise UnknownNameError(_unknown_option(key, f"method {optimizer.name!r}", valid))
    optimizer.set_params(**options)
    return optimizer


def _unknown_option(key: str, owner: str, valid: Any) -> str:
    valid = sorted(valid)
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"Unknown option {key!r} for {owner}.{hint} Valid options: {', '.join(valid)}."


def resolve_problem(
    problem: Any, x0: Any = None, problem_options: dict | None = None
) -> tuple[Problem, bool]:
    """Turn an id, a callable or a Problem into a Problem.

    Returns
    -------
    problem : Problem
    numpy_io : bool
        Whether the caller gave numpy (a plain callable with a non-tensor ``x0``), in
        which case the result's points are returned as numpy arrays.
    """
    problem_options = dict(problem_options or {})
    if isinstance(problem, Problem):
        if problem_options:
            raise InvalidParameterError(
                "problem options can only be given with a registered problem id; got "
                f"{sorted(problem_options)} with a {type(problem).__name__} instance."
            )
        return problem, False
    if isinstance(problem, str):
        return make_problem(problem, **problem_options), False
    if callable(problem):
        if x0 is None:
            raise InvalidParameterError(
                "A plain callable needs a start point: minimize(fun, x0=..., method=...)."
            )
        return FunctionProblem(problem, x0, **problem_options), not torch.is_tensor(x0)
    raise InvalidParameterError(
        "problem must be a blackbox_opt.Problem, a registered problem id or a callable; "
        f"got {type(problem).__name__}."
    )


def minimize(
    problem: Any,
    method: Any = DEFAULT_METHOD,
    *,
    x0: Any = None,
    budget: int | None = None,
    callback: Callable[[OptimizeResult], Any] | None = None,
    problem_options: dict | None = None,
    **options: Any,
) -> OptimizeResult:
    """Minimise a problem with a registered method.

    Parameters
    ----------
    problem : Problem, str or callable
        A :class:`Problem`, a registered problem id (see :func:`list_problems`), or a
        plain callable ``fun(x) -> float`` (then ``x0`` is required, as in
        ``scipy.optimize.minimize``; ``bounds=`` and ``vectorized=`` go to
        :class:`FunctionProblem` through ``problem_options``).
    method : str, type or BaseOptimizer, default="zerograds"
        A registered method name (see :func:`list_methods`), an optimiser class, or
        an instance.
    x0 : array-like of shape (D,) or MetaInitializer, optional
        The start point (default: the problem's); a fitted
        :class:`~blackbox_opt.MetaInitializer` gives its meta-learned start.
    budget : int, optional
        Evaluations of the problem the run may use.
    callback : callable, optional
        ``callback(intermediate_result)`` after each iteration; ``StopIteration`` stops.
    problem_options : dict, optional
        Constructor arguments of a registered problem or of the FunctionProblem.
    **options
        The method's parameters. With a problem id, an option that only the problem
        accepts (such as ``dim``) is passed to the problem.

    Returns
    -------
    OptimizeResult
        ``x``, ``fun``, ``success``, ``status``, ``message``, ``nfev``, ``nit``,
        ``history``... ``x`` is a numpy array when ``problem`` was a plain callable
        with a numpy ``x0``, a tensor otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> res = minimize(lambda x: float(np.sum((x - 1.0) ** 2)), method="spsa",
    ...                x0=np.zeros(2), budget=2000, random_state=0, verbose=False)
    >>> bool(np.allclose(res.x, 1.0, atol=1e-2))
    True
    """
    optimizer = get_method(method)
    method_params = optimizer.get_params(deep=False)
    problem_params = (
        _problem_parameters(PROBLEMS.entry(problem).load()) if isinstance(problem, str) else {}
    )
    problem_options = dict(problem_options or {})
    method_options = {}
    for key, value in options.items():
        if key in method_params:
            method_options[key] = value
        elif key in problem_params:
            problem_options[key] = value
        else:
            owner = f"method {optimizer.name!r}"
            if problem_params:
                owner += f" or problem {problem!r}"
            valid = set(method_params) | set(problem_params)
            raise UnknownNameError(_unknown_option(key, owner, valid))
    optimizer.set_params(**method_options)
    problem_obj, numpy_io = resolve_problem(problem, x0, problem_options)
    try:
        result = optimizer.minimize(problem_obj, x0, budget=budget, callback=callback)
    except EvaluationError as exc:
        if numpy_io and exc.result is not None:
            _points_to_numpy(exc.result)
        raise
    if numpy_io:
        _points_to_numpy(result)
    return result


def _points_to_numpy(result: OptimizeResult) -> None:
    result.x = result.x.detach().cpu().numpy()
    result.x_last = result.x_last.detach().cpu().numpy()
