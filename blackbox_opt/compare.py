"""Methods x problems x seeds at an equal budget: a tidy table and a figure.

:func:`compare` runs every method on every problem with every seed through
:func:`~blackbox_opt.minimize`, at the same budget in evaluations, and returns a
:class:`Comparison`: one row per run, the best-loss curves against evaluations, the
medians per method and problem, and a figure of them. A run that fails is recorded
with its error and the comparison goes on.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .exceptions import InvalidParameterError
from .registry import Table

__all__ = ["Comparison", "compare", "median_curve", "on_grid", "result_row", "run_one"]


def on_grid(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """``y`` as a step function of ``x``, read at ``grid``.

    Each value holds from its ``x`` until the next; before the first point the value
    is NaN, after the last the last value is carried forward (a run that ended keeps
    its result).

    Parameters
    ----------
    x, y : numpy.ndarray
        A run's evaluation counts (or iterations) and values, in any order.
    grid : numpy.ndarray

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> on_grid(np.array([0, 10]), np.array([3.0, 1.0]), np.array([-1, 0, 5, 10, 99])).tolist()
    [nan, 3.0, 3.0, 1.0, 1.0]
    """
    order = np.argsort(x, kind="stable")
    x, y = np.asarray(x)[order], np.asarray(y, dtype=float)[order]
    index = np.searchsorted(x, grid, side="right") - 1
    return np.where(index >= 0, y[np.clip(index, 0, None)], np.nan)


def median_curve(curves: Sequence[tuple[np.ndarray, np.ndarray]], grid: np.ndarray) -> np.ndarray:
    """The median over runs of the best loss on a common grid of evaluations.

    Each run's curve is a step function: its best loss after ``nfev`` evaluations
    holds until its next point, and a run that ended keeps its last value to the end
    of the grid, so every run counts at every grid point (before a run's first point
    its value is NaN and the median skips it).

    Parameters
    ----------
    curves : sequence of (nfev, best) array pairs
    grid : numpy.ndarray
        Evaluation counts.

    Returns
    -------
    numpy.ndarray
        One median per grid point.

    Examples
    --------
    >>> runs = [(np.array([0, 10]), np.array([5.0, 1.0])),
    ...         (np.array([0, 10, 20]), np.array([5.0, 4.0, 3.0]))]
    >>> median_curve(runs, np.array([0, 10, 20, 30])).tolist()
    [5.0, 2.5, 2.0, 2.0]
    """
    grid = np.asarray(grid)
    if not curves:
        return np.full(grid.shape, math.nan)
    values = np.stack([on_grid(nfev, best, grid) for nfev, best in curves])
    with warnings.catch_warnings():  # grid points before any run's first: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, axis=0)


class Comparison:
    """The outcome of :func:`compare`.

    Attributes
    ----------
    runs : Table
        One row per run: ``problem``, ``method``, ``seed``, ``fun``, ``param_error``,
        ``nfev``, ``nit``, ``time``, ``status``, ``success``, ``error``.
    results : dict
        ``{(problem, method, seed): OptimizeResult}`` of the runs that ran (best point,
        history, message...).
    budget : int or None
    """

    def __init__(self, runs: Table, results: dict, budget: int | None):
        self.runs = runs
        self.results = results
        self.budget = budget

    @property
    def histories(self) -> dict:
        """``{(problem, method, seed): History}`` of the runs that ran."""
        return {key: res.history for key, res in self.results.items()}

    def summary(self) -> Table:
        """Medians over seeds per problem and method, ranked by median loss per problem.

        Returns
        -------
        Table
            ``problem``, ``method``, ``seeds``, ``failed``, ``median_loss``,
            ``median_param_error``, ``median_nfev``, ``rank``.
        """
        groups: dict[tuple[str, str], list[dict]] = {}
        for row in self.runs:
            groups.setdefault((row["problem"], row["method"]), []).append(row)
        rows = []
        for (problem, method), runs in groups.items():
            ran = [r for r in runs if not r["error"]]
            rows.append(
                dict(
                    problem=problem,
                    method=method,
                    seeds=len(runs),
                    failed=len(runs) - len(ran),
                    median_loss=_median([r["fun"] for r in ran]),
                    median_param_error=_median([r["param_error"] for r in ran]),
                    median_nfev=_median([r["nfev"] for r in ran]),
                )
            )
        for problem in {r["problem"] for r in rows}:
            mine = sorted(
                (r for r in rows if r["problem"] == problem),
                key=lambda r: (math.isnan(r["median_loss"]), r["median_loss"]),
            )
            for rank, r in enumerate(mine, start=1):
                r["rank"] = rank
        rows.sort(key=lambda r: (r["problem"], r["rank"]))
        return Table(rows)

    def curve(self, problem: str, method: str, grid: np.ndarray) -> np.ndarray:
        """The median best loss of ``method`` on ``problem`` on a grid of evaluations.

        Parameters
        ----------
        problem, method : str
        grid : numpy.ndarray

        Returns
        -------
        numpy.ndarray
        """
        curves = [
            (h["nfev"], h["best"])
            for (p, m, _), h in self.histories.items()
            if p == problem and m == method
        ]
        return median_curve(curves, grid)

    def plot(self, *, ax: Any = None, logy: bool = True, n_points: int = 200) -> Any:
        """Draw the median best loss against evaluations, one panel per problem.

        Parameters
        ----------
        ax : matplotlib axes or array of them, optional
            One per problem; new ones by default.
        logy : bool, default=True
        n_points : int, default=200
            Grid points per curve.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from .utils import require

        plt = require("matplotlib.pyplot", "plot")
        problems = list(dict.fromkeys(r["problem"] for r in self.runs))
        methods = list(dict.fromkeys(r["method"] for r in self.runs))
        if ax is None:
            _, ax = plt.subplots(1, len(problems), figsize=(4.5 * len(problems), 3.4))
        axes = np.atleast_1d(ax)
        end = self.budget or max((int(h["nfev"][-1]) for h in self.histories.values()), default=1)
        grid = np.linspace(0, end, n_points).round()
        for a, problem in zip(axes, problems, strict=True):
            for method in methods:
                a.plot(grid, self.curve(problem, method, grid), label=method)
            if logy:
                a.set_yscale("log")
            a.set(title=problem, xlabel="evaluations", ylabel="median best loss")
        axes[0].legend()
        figure = axes[0].figure
        figure.tight_layout()
        return figure


def _median(values: Iterable[float]) -> float:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.median(finite)) if finite else math.nan


def compare(
    problems: Any,
    methods: Any,
    *,
    seeds: int | Sequence[int] = 3,
    budget: int | None = None,
    max_iter: int | None = None,
    problem_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> Comparison:
    """Run every method on every problem with every seed, at the same budget.

    Parameters
    ----------
    problems : str, Problem, or a sequence or mapping of them
        Registered ids or :class:`~blackbox_opt.Problem` instances; a mapping gives
        each a label.
    methods : str, or a sequence of names, or a mapping of label to options
        ``["cmaes", "prdpt"]``, or ``{"prdpt": {"sigma": 0.3}, "cmaes": {}}``; an entry's
        options may hold ``"method"`` to run one method under several labels.
    seeds : int or sequence of int, default=3
        ``random_state`` of each run: ``range(seeds)`` for an int.
    budget : int, optional
        Evaluations per run (the fair unit: methods evaluate different numbers of
        points per iteration).
    max_iter : int, optional
        Iterations per run, as well or instead.
    problem_options : mapping, optional
        ``{problem label: constructor options}`` for registered ids.

    Returns
    -------
    Comparison

    Examples
    --------
    >>> result = compare("sphere", ["cmaes", "random"], seeds=2, budget=300)
    >>> [(r["method"], r["rank"]) for r in result.summary()]
    [('cmaes', 1), ('random', 2)]
    """
    from .api import make_problem
    from .problem import Problem

    if budget is None and max_iter is None:
        raise InvalidParameterError("compare needs a budget (evaluations) or max_iter.")
    if isinstance(problems, str | Problem):
        problems = [problems]
    if not isinstance(problems, Mapping):
        problems = {p if isinstance(p, str) else p.name: p for p in problems}
    if isinstance(methods, str):
        methods = [methods]
    if not isinstance(methods, Mapping):
        methods = {m: {} for m in methods}
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    problem_options = problem_options or {}
    rows, results = [], {}
    for label, spec in problems.items():
        if isinstance(spec, str):
            problem = make_problem(spec, **problem_options.get(label, {}))
        else:
            problem = spec
        for name, options in methods.items():
            options = dict(options)
            method = options.pop("method", name)
            for seed in seeds:
                row = dict(problem=label, method=name, seed=seed)
                try:
                    res = run_one(
                        problem, method, seed=seed, budget=budget, max_iter=max_iter, **options
                    )
                except Exception as exc:  # recorded; the comparison goes on
                    res = getattr(exc, "result", None)
                    row["error"] = f"{type(exc).__name__}: {exc}"
                if res is not None:
                    row.update(result_row(problem, res))
                    results[(label, name, seed)] = res
                rows.append(_complete(row))
    return Comparison(Table(rows), results, budget)


def run_one(
    problem: Any,
    method: Any,
    *,
    seed: Any,
    budget: int | None = None,
    max_iter: int | None = None,
    **options: Any,
) -> Any:
    """One cell of a comparison: ``method`` on ``problem`` with ``random_state=seed``.

    The run is silent (no progress bar; the wrapped libraries' own notes, such as
    pycma's injected solutions and nevergrad's bounds advice, are not shown). Both
    :func:`compare` and the benchmark's runner (``python -m bench run``) make every run
    through this function.

    Parameters
    ----------
    problem : Problem or str
    method : str, type or BaseOptimizer
    seed : int or generator
        The run's ``random_state``.
    budget, max_iter : int, optional
    **options
        The method's parameters (or the problem's, as in :func:`~blackbox_opt.minimize`).

    Returns
    -------
    OptimizeResult
    """
    import warnings

    from .api import minimize

    if max_iter is not None:
        options["max_iter"] = max_iter
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"(cma|nevergrad)(\.|$)")
        return minimize(
            problem, method, budget=budget, random_state=seed, verbose=False, **options
        )


def result_row(problem: Any, result: Any) -> dict:
    """The numbers of one run that a comparison tabulates.

    Parameters
    ----------
    problem : Problem
    result : OptimizeResult

    Returns
    -------
    dict
        ``fun``, ``param_error`` (NaN where the problem has no known optimum), ``nfev``,
        ``nit``, ``time``, ``status``, ``success`` and ``message``.
    """
    err = problem.param_error(problem.validate(result.x))
    return dict(
        fun=float(result.fun),
        param_error=math.nan if err is None else float(err),
        nfev=int(result.nfev),
        nit=int(result.nit),
        time=float(result.time),
        status=result.status,
        success=bool(result.success),
        message=str(result.message),
    )


def _complete(row: dict) -> dict:
    defaults = dict(
        fun=math.nan,
        param_error=math.nan,
        nfev=0,
        nit=0,
        time=math.nan,
        status=None,
        success=False,
        message="",
        error="",
    )
    return {**defaults, **row}
