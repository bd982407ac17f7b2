"""The front door: :func:`minimize`, and resolving methods and problems by name."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any

import torch

from .exceptions import EvaluationError, InvalidParameterError, UnknownNameError, did_you_mean
from .optimizers.base import BaseOptimizer
from .problem import FunctionProblem, Problem, _check_scipy_bounds
from .registry import METHODS, PROBLEMS, Table, load_entry_point
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
        ``"module:Class"`` path. Registering the same class again under the same
        name (lazily by its path, then by the module itself on import) is no error.
    overwrite : bool, default=False
        Replace an existing method of that name.

    Notes
    -----
    An installed package makes its methods known without being imported first through
    the ``blackbox_opt.methods`` entry-point group, in its ``pyproject.toml``::

        [project.entry-points."blackbox_opt.methods"]
        es11 = "my_package.es:OnePlusOneES"

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
    name = PROBLEMS.resolve(name)
    return _build_problem(name, PROBLEMS.entry(name).load(), overrides)


def _build_problem(name: str, factory: Any, overrides: dict) -> Problem:
    """Call a registered problem's ``factory`` (already loaded) with ``overrides``."""
    entry = PROBLEMS.entry(name)
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
    (the class's declaration: Mitsuba's scenes are, with an AD variant), ``version``
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
                dict(
                    id=name,
                    dim=None,
                    tags=(),
                    cost="-",
                    differentiable=None,
                    version=None,
                    requires=str(exc),
                )
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
                version=getattr(factory, "version", None),
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
            row = {"name": name, "class": "-", "uses": "-", "requires": str(exc), "summary": ""}
            rows.append(row)
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
        A registered name, a ``"package.module:Class"`` path (imported), an optimiser
        class, or an instance (cloned, then updated with ``options``, so the caller's
        instance is left untouched).
    **options
        The method's parameters.

    Returns
    -------
    BaseOptimizer
    """
    from sklearn.base import clone

    if isinstance(method, str) and ":" in method and method not in METHODS:
        cls = load_entry_point(method)
        if not (isinstance(cls, type) and issubclass(cls, BaseOptimizer)):
            raise InvalidParameterError(
                f"{method!r} is a {type(cls).__name__}, not a BaseOptimizer subclass."
            )
        optimizer = cls()
    elif isinstance(method, str):
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
    hint = did_you_mean(key, valid)
    return f"Unknown option {key!r} for {owner}.{hint} Valid options: {', '.join(valid)}."


class _ProblemSource:
    """What ``minimize`` was given as its problem, and the options it can take."""

    def __init__(self, problem: Any):
        self.problem = problem
        self.factory: Any = None
        if isinstance(problem, Problem):
            self.kind = "instance"
        elif isinstance(problem, str):
            self.kind = "id"
            self.problem = problem = PROBLEMS.resolve(problem)  # "Rosenbrock" is "rosenbrock"
            self.factory = PROBLEMS.entry(problem).load()  # loaded once, used twice
        elif callable(problem):
            self.kind = "callable"
            self.factory = FunctionProblem
        else:
            raise InvalidParameterError(
                "problem must be a blackbox_opt.Problem, a registered problem id or a "
                f"callable; got {type(problem).__name__}."
            )

    @property
    def owner(self) -> str:
        if self.kind == "id":
            return f"problem {self.problem!r}"
        if self.kind == "callable":
            return "FunctionProblem (the wrapper of a plain callable)"
        return f"problem {self.problem.name!r}"

    def parameters(self) -> dict[str, inspect.Parameter]:
        """The options the problem's constructor takes (none for an instance)."""
        if self.kind == "instance":
            return {}
        params = _problem_parameters(self.factory)
        if self.kind == "callable":
            params = {k: v for k, v in params.items() if k not in ("fun", "x0")}
        return params

    def build(self, x0: Any, options: dict) -> tuple[Problem, bool]:
        if self.kind == "instance":
            if options:
                raise InvalidParameterError(
                    f"problem options {sorted(options)} can only be given with a registered "
                    f"problem id or a plain callable, not with a built "
                    f"{type(self.problem).__name__}: pass them to its constructor."
                )
            return self.problem, False
        if self.kind == "id":
            return _build_problem(self.problem, self.factory, options), False
        if x0 is None and options.get("space") is None:
            raise InvalidParameterError(
                "A plain callable needs a start point: minimize(fun, x0=..., method=...), "
                "or a space=... whose defaults give it."
            )
        valid = self.parameters()
        for key in options:
            if key not in valid:
                raise UnknownNameError(_unknown_option(key, self.owner, valid))
        problem = FunctionProblem(self.problem, x0, **options)
        if x0 is None or isinstance(x0, dict):  # a start from the space: its backend decides
            return problem, problem.backend == "numpy"
        return problem, not torch.is_tensor(x0)


def _route_options(
    options: dict, method: BaseOptimizer, source: _ProblemSource
) -> tuple[dict, dict]:
    """Split ``minimize``'s keyword options between the method and the problem.

    An option goes to whichever of the two takes it; one that both take is an error
    naming both owners and the explicit ``method_options``/``problem_options``.
    """
    method_params = method.get_params(deep=False)
    problem_params = source.parameters()
    to_method, to_problem = {}, {}
    for key, value in options.items():
        ours, theirs = key in method_params, key in problem_params
        if ours and theirs:
            raise InvalidParameterError(
                f"The option {key!r} is a parameter of both method {method.name!r} and "
                f"{source.owner}; say which one it is for: "
                f"method_options={{{key!r}: ...}} or problem_options={{{key!r}: ...}}."
            )
        if ours:
            to_method[key] = value
        elif theirs:
            to_problem[key] = value
        else:
            owner = f"method {method.name!r}"
            if problem_params:
                owner += f" or {source.owner}"
            valid = set(method_params) | set(problem_params)
            raise UnknownNameError(_unknown_option(key, owner, valid))
    return to_method, to_problem


def minimize(
    problem: Any,
    method: Any = DEFAULT_METHOD,
    *,
    x0: Any = None,
    budget: int | None = None,
    bounds: Any = None,
    callback: Callable[[OptimizeResult], Any] | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    method_options: dict | None = None,
    problem_options: dict | None = None,
    evaluator: Any = None,
    **options: Any,
) -> OptimizeResult:
    """Minimise a problem with a registered method.

    Parameters
    ----------
    problem : Problem, str or callable
        A :class:`Problem`, a registered problem id (see :func:`list_problems`), or a
        plain callable ``fun(x) -> float`` (then ``x0`` is required, as in
        ``scipy.optimize.minimize``; ``bounds=``, ``vectorized=`` and the other
        arguments of :class:`FunctionProblem` are options; with ``space=`` a
        :class:`~blackbox_opt.Space`, ``x0`` may be omitted or given by name, and
        ``fun`` takes the parameters by name).
    method : str, type or BaseOptimizer, default="zerograds"
        A registered method name (see :func:`list_methods`; case, hyphens and
        underscores are ignored, so ``"CMA-ES"`` is ``"cmaes"``), an optimiser class,
        or an instance.
    x0 : array-like of shape (D,) or MetaInitializer, optional
        The start point (default: the problem's); a fitted
        :class:`~blackbox_opt.MetaInitializer` gives its meta-learned start.
    budget : int, optional
        Evaluations of the problem the run may use.
    bounds : optional
        Bounds of the parameters, as ``scipy.optimize.minimize`` takes them: a sequence
        of D ``(low, high)`` pairs (None for no bound), ``scipy.optimize.Bounds``, or
        one ``(low, high)`` pair for every parameter; an array of shape ``(2, D)``
        (lower row, upper row) too. For a plain callable they are the problem's bounds;
        for a :class:`Problem` or an id they replace the problem's for this run. The
        methods' default step and smoothing sizes scale with their widths (see
        :mod:`blackbox_opt.scales`).
    callback : callable, optional
        ``callback(intermediate_result)`` after each iteration; ``StopIteration`` stops.
    checkpoint : str or path-like, optional
        A file the run's state is saved to, atomically, every ``checkpoint_every``
        iterations (default: at most every 30 seconds, and less often when a save
        takes over 1.5 seconds, so that saving costs at most 5 % of the run) and
        whenever the run ends, Ctrl-C and failures included. If the file exists when
        the run starts, the run resumes from it and ends exactly as the uninterrupted
        run would have (see
        :meth:`BaseOptimizer.fit <blackbox_opt.BaseOptimizer.fit>`); give it the same
        method, parameters and problem. A larger ``budget`` or ``max_iter`` goes on
        past the saved run's end.
    checkpoint_every : int, optional
        Iterations between checkpoints.
    method_options : dict, optional
        The method's parameters, given explicitly.
    problem_options : dict, optional
        Constructor arguments of a registered problem or of the FunctionProblem,
        given explicitly.
    evaluator : Evaluator, distributed.Client or str, optional
        Where the batches are evaluated (see :mod:`blackbox_opt.evaluators`):
        ``"serial"`` (the default), ``"processes"``, ``"dask"`` (a LocalCluster), a
        Dask client or an evaluator. With a registered id, each worker builds the
        problem from the id and its options.
    **options
        Parameters of the method or of the problem, whichever takes the name: with
        ``minimize("rosenbrock", method="spsa", dim=4, c=0.05)``, ``dim`` builds the
        problem and ``c`` configures SPSA. A name that both take (``target`` is the
        method's stopping loss and ``rect``'s target rectangle) is an error that asks
        for ``method_options`` or ``problem_options``.

    Returns
    -------
    OptimizeResult
        ``x``, ``params`` (``x`` by name, in the space's types), ``fun``,
        ``success``, ``status``, ``message``, ``nfev``, ``nit``, ``history``... ``x``
        is a numpy array when ``problem`` was a plain callable with a numpy ``x0`` (or
        a space and no ``x0``), a tensor otherwise.

    Raises
    ------
    UnknownNameError
        For an unknown method, problem or option, naming the closest matches.
    InvalidParameterError
        For an option that both the method and the problem take.

    Examples
    --------
    >>> import numpy as np
    >>> res = minimize(lambda x: float(np.sum((x - 1.0) ** 2)), method="spsa",
    ...                x0=np.zeros(2), budget=2000, random_state=0, verbose=False)
    >>> bool(np.allclose(res.x, 1.0, atol=1e-2))
    True
    """
    optimizer = get_method(method, **(method_options or {}))
    source = _ProblemSource(problem)
    to_method, to_problem = _route_options(options, optimizer, source)
    both = sorted(set(to_method) & set(method_options or {}))
    both += sorted(set(to_problem) & set(problem_options or {}))
    if both:
        raise InvalidParameterError(f"The option(s) {both} are given twice; give each once.")
    optimizer.set_params(**to_method)
    problem_kw = {**(problem_options or {}), **to_problem}
    _check_scipy_bounds(bounds)
    if bounds is not None and source.kind == "callable":
        if "bounds" in problem_kw:
            raise InvalidParameterError("bounds are given twice; give them once.")
        problem_kw["bounds"], bounds = bounds, None
    problem_obj, numpy_io = source.build(x0, problem_kw)
    run_kw = dict(
        budget=budget,
        bounds=bounds,
        callback=callback,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
    )
    try:
        if evaluator is None:
            result = optimizer.minimize(problem_obj, x0, **run_kw)
        else:
            from .evaluators import ProblemSpec, evaluating

            spec = None
            if source.kind == "id":  # the workers build it from its id, not a pickled copy
                spec = ProblemSpec(source.problem, **{**(problem_options or {}), **to_problem})
            with evaluating(problem_obj, evaluator, spec) as evaluated:
                result = optimizer.minimize(evaluated, x0, **run_kw)
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
    if torch.is_tensor(result.get("x0")):
        result.x0 = result.x0.detach().cpu().numpy()
    for key in ("params", "params_last", "params0"):
        if key in result:
            result[key] = {
                k: v.detach().cpu().numpy() if torch.is_tensor(v) else v
                for k, v in result[key].items()
            }
