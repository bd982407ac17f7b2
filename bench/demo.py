"""A small demo benchmark: every gradient-free method, plus Adam, on the toy problems.

Runs each method discovered through :func:`blackbox_opt.list_methods` that works
from function values alone, plus the ``"adam"`` autodiff baseline, on
``rosenbrock``, ``spline1d`` and ``rect`` with a fixed evaluation budget per problem,
over seeds ``0 .. N-1``. Writes a tidy per-run table, a summary (median over seeds)
as CSV and Markdown, and a convergence figure (best loss against evaluations).

Run from the repository root::

    python -m bench demo --out results --seeds 3

The hyperparameters below are data: they move into the experiment definitions of
the full benchmark later.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import blackbox_opt
from blackbox_opt import (
    MissingDependencyError,
    NotDifferentiableError,
    UnsupportedProblemError,
)

__all__ = [
    "BUDGETS",
    "GRADIENT_BASELINES",
    "HYPERPARAMS",
    "PROBLEMS",
    "QUICK_BUDGETS",
    "DemoResult",
    "hyperparameters",
    "plot_convergence",
    "run_demo",
    "select_methods",
    "summarize",
]

#: The toy problems of the demo.
PROBLEMS: tuple[str, ...] = ("rosenbrock", "spline1d", "rect")

#: Evaluations per run, per problem.
BUDGETS: dict[str, int] = {"rosenbrock": 20_000, "spline1d": 20_000, "rect": 4000}

#: The budgets of ``--quick`` (a smoke test of the whole pipeline).
QUICK_BUDGETS: dict[str, int] = {"rosenbrock": 400, "spline1d": 200, "rect": 160}

#: Gradient-based methods run alongside the gradient-free ones, as baselines.
GRADIENT_BASELINES: tuple[str, ...] = ("adam",)

#: Hyperparameters per method: ``"default"`` applies to every problem, a problem id
#: overrides it for that problem. Chosen by a small grid on 3 seeds at the budgets
#: above (see the comments); a method missing here runs with its own defaults.
HYPERPARAMS: dict[str, dict[str, dict[str, Any]]] = {
    # Spall's gains (the default update) stall on Rosenbrock; Adam on the estimate works.
    # lr in {1e-2, 3e-2, 1e-1}: 1e-1 best on rosenbrock and spline1d.
    "spsa": {
        "default": {"update": "optimizer", "lr": 1e-1},
        # c=0.1 perturbations stay on the plateau around the start; c=0.2 reaches the
        # target's basin (c=0.3 overshoots it).
        "rect": {"update": "optimizer", "lr": 1e-2, "c": 0.2},
    },
    # lr=1e-2 barely moves in these budgets; 1e-1 converges on the smooth toys.
    "fd": {
        "default": {"lr": 1e-1},
        # a wide difference step sees past the plateau (h=1e-3 sees a zero gradient).
        "rect": {"lr": 3e-2, "h": 0.2},
    },
    # Uniform random search in the bounds: the naive baseline, left at its defaults.
    "random": {"default": {}},
    # The true gradient: lr=1e-1 converges on the smooth toys; on rect the gradient is
    # zero at the start (the plateau), which a small step shows plainly.
    "adam": {"default": {"lr": 1e-1}, "rect": {"lr": 1e-3}},
    # The settings of the acceptance tests (tests/optimizers/test_zerograds.py), with
    # sigma annealed over the run and log-space targets.
    "zerograds": {
        "default": {
            "sigma": 0.33,
            "n_samples": 4,
            "k_theta": 1,
            "lr": 5e-3,
            "log_targets": True,
            "anneal_start": 0.3,
            "sigma_min": 1e-3,
        },
        "spline1d": {
            "sigma": 0.33,
            "n_samples": 10,
            "lr": 1e-2,
            "log_targets": True,
            "lr_follows_sigma": True,
            "anneal_start": 0.3,
            "sigma_min": 1e-3,
        },
        "rect": {"sigma": 0.1, "n_samples": 4, "lr": 2e-3, "lr_follows_sigma": True},
    },
    # The PRDPT paper's rect setting (4 pairs, sigma 0.05, Adam 1e-3); sigma about a
    # tenth of the domain with annealing on the smooth toys.
    "prdpt": {
        "default": {"sigma": 0.3, "n_samples": 2, "lr": 1e-2, "sigma_min": 1e-3},
        "rect": {"sigma": 0.05, "n_samples": 4, "lr": 1e-3},
    },
    "cmaes": {"default": {}},
    # NGOpt (the default) spends about 5.5 ms of its own per evaluation on the 2-D
    # Rosenbrock here (22 s for 4,000 evaluations, its model-based choice); TwoPointsDE
    # reaches the same loss in 1 s, which keeps the demo short.
    "nevergrad": {"default": {"optimizer": "TwoPointsDE", "batch_size": 8}},
}

#: The lowest loss drawn on the log axis.
LOG_FLOOR = 1e-16

#: Points per curve on the common evaluation grid of the convergence figure.
GRID_POINTS = 101


@dataclass
class DemoResult:
    """What :func:`run_demo` produced.

    Attributes
    ----------
    runs : pandas.DataFrame
        One row per (problem, method, seed) that ran.
    summary : pandas.DataFrame
        Medians over seeds, one row per (problem, method).
    curves : pandas.DataFrame
        Best loss per run on a common evaluation grid (problem, method, seed, nfev,
        best).
    skipped : list of dict
        ``{"problem", "method", "reason"}`` for each pair that did not run
        (``problem`` is ``"*"`` for a method that could not run at all).
    paths : dict of str to Path
        The files written.
    wall_time : float
        Seconds for the whole demo.
    """

    runs: Any
    summary: Any
    curves: Any
    skipped: list[dict] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)
    wall_time: float = 0.0


def select_methods(
    baselines: Iterable[str] = GRADIENT_BASELINES,
) -> tuple[list[str], list[dict]]:
    """Return the registered methods of the demo and those that cannot load.

    Every method that works from function values (``uses == "values"`` in
    :func:`blackbox_opt.list_methods`) is selected, plus the registered ``baselines``.

    Parameters
    ----------
    baselines : iterable of str, default=GRADIENT_BASELINES
        Gradient-based methods to include as well.

    Returns
    -------
    methods : list of str
        Method names, in registry order.
    skipped : list of dict
        ``{"problem": "*", "method", "reason"}`` for methods whose class cannot be
        imported (a missing optional dependency).
    """
    baselines = set(baselines)
    skipped: list[dict] = []
    try:
        rows = list(blackbox_opt.list_methods())
    except ImportError:  # one method's module failed to import: look at each alone
        from blackbox_opt.registry import METHODS

        rows = []
        for name in METHODS:
            try:
                cls = METHODS.get(name)
            except ImportError as exc:  # MissingDependencyError included
                skipped.append({"problem": "*", "method": name, "reason": str(exc)})
                continue
            rows.append({"name": name, "uses": "gradients" if cls.needs_gradient else "values"})
    methods = [row["name"] for row in rows if row["uses"] == "values" or row["name"] in baselines]
    return methods, skipped


def hyperparameters(
    method: str, problem: str, table: Mapping[str, Mapping[str, Mapping]] | None = None
) -> dict[str, Any]:
    """Return the demo's parameters of ``method`` on ``problem``.

    Parameters
    ----------
    method, problem : str
        Registered names.
    table : mapping, optional
        ``{method: {"default": {...}, problem: {...}}}``; default :data:`HYPERPARAMS`.

    Returns
    -------
    dict
        The problem's entry if any, else the method's ``"default"``, else ``{}``.
    """
    entry = (HYPERPARAMS if table is None else table).get(method, {})
    return dict(entry.get(problem, entry.get("default", {})))


def _warm_up() -> None:
    # The first torch optimiser built imports torch._dynamo (about a second), which
    # would land in the first pair's wall time; pay it before timing anything.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1e-3)


def _best_on_grid(nfev: np.ndarray, best: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The best loss after ``grid`` evaluations (a step function; NaN before the start)."""
    order = np.argsort(nfev, kind="stable")
    nfev, best = nfev[order], np.minimum.accumulate(best[order])
    idx = np.searchsorted(nfev, grid, side="right") - 1
    out = best[np.clip(idx, 0, None)]
    return np.where(idx >= 0, out, np.nan)


def summarize(runs: Any) -> Any:
    """Return the medians over seeds of a runs table, one row per problem and method.

    Parameters
    ----------
    runs : pandas.DataFrame
        As in :attr:`DemoResult.runs`.

    Returns
    -------
    pandas.DataFrame
        Columns ``problem``, ``method``, ``seeds``, ``fun``, ``param_error``, ``nfev``,
        ``time``, sorted by problem then median ``fun``.
    """
    summary = (
        runs.groupby(["problem", "method"], sort=False)
        .agg(
            seeds=("seed", "count"),
            fun=("fun", "median"),
            param_error=("param_error", "median"),
            nfev=("nfev", "median"),
            time=("time", "median"),
        )
        .reset_index()
    )
    return summary.sort_values(["problem", "fun"], kind="stable").reset_index(drop=True)


def plot_convergence(curves: Any, path: Path, problems: Sequence[str] | None = None) -> Path:
    """Draw the median best loss against evaluations, one panel per problem.

    Parameters
    ----------
    curves : pandas.DataFrame
        As in :attr:`DemoResult.curves`.
    path : Path
        The PNG to write.
    problems : sequence of str, optional
        Panel order (default: as they appear in ``curves``).

    Returns
    -------
    Path
        ``path``.
    """
    import matplotlib
    import matplotlib.lines

    if "matplotlib.pyplot" not in sys.modules:  # headless; leave a user's backend alone
        matplotlib.use("Agg")
    import seaborn as sns
    from matplotlib.figure import Figure

    problems = list(problems or dict.fromkeys(curves["problem"]))
    methods = sorted(set(curves["method"]))
    palette = dict(zip(methods, sns.color_palette("tab10", len(methods))))
    fig = Figure(figsize=(4.2 * max(len(problems), 1), 3.6), layout="constrained")
    axes = fig.subplots(1, max(len(problems), 1), squeeze=False)[0]
    data = curves.assign(best=curves["best"].clip(lower=LOG_FLOOR))
    for ax, problem in zip(axes, problems):
        sub = data[data["problem"] == problem]
        sns.lineplot(
            data=sub,
            x="nfev",
            y="best",
            hue="method",
            hue_order=[m for m in methods if m in set(sub["method"])],
            palette=palette,
            estimator="median",
            errorbar=("pi", 50),
            ax=ax,
        )
        ax.set_yscale("log")
        ax.set_title(problem)
        ax.set_xlabel("evaluations")
        ax.set_ylabel("best loss")
        ax.grid(True, which="major", alpha=0.3)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    handles = [matplotlib.lines.Line2D([], [], color=palette[m], label=m) for m in methods]
    fig.legend(handles=handles, title="method", loc="outside right upper")
    fig.suptitle("Best loss against evaluations (median over seeds, band: quartiles)")
    fig.savefig(path, dpi=120)
    return path


def _to_markdown(frame: Any) -> str:
    try:
        return frame.to_markdown(index=False, floatfmt=".4g")
    except ImportError:  # tabulate is missing
        return frame.to_string(index=False)


def run_demo(
    out: str | Path = "results",
    seeds: int = 3,
    *,
    quick: bool = False,
    budgets: Mapping[str, int] | None = None,
    methods: Sequence[str] | None = None,
    problems: Sequence[str] = PROBLEMS,
    hyperparams: Mapping[str, Mapping[str, Mapping]] | None = None,
    threads: int | None = 1,
    echo: bool = True,
) -> DemoResult:
    """Run the demo benchmark and write its table and figure.

    Parameters
    ----------
    out : str or Path, default="results"
        The output folder (created).
    seeds : int, default=3
        Runs per method and problem, with ``random_state`` 0 .. ``seeds - 1``.
    quick : bool, default=False
        Use :data:`QUICK_BUDGETS`.
    budgets : mapping of str to int, optional
        Evaluations per problem; overrides :data:`BUDGETS` (and ``quick``).
    methods : sequence of str, optional
        The methods to run (default: :func:`select_methods`).
    problems : sequence of str, default=PROBLEMS
        The problems.
    hyperparams : mapping, optional
        Per-method parameters, as :data:`HYPERPARAMS` (the default).
    threads : int or None, default=1
        Torch intra-op threads during the demo (restored after). One is fastest for
        these tiny problems: the thread synchronisation costs more than the work.
        None leaves torch's setting alone.
    echo : bool, default=True
        Print progress, the summary and where the files are.

    Returns
    -------
    DemoResult

    Raises
    ------
    ValueError
        When ``seeds < 1`` or a problem has no budget.
    """
    import pandas as pd

    t_start = time.perf_counter()
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1; got {seeds}.")
    say = print if echo else (lambda *a, **k: None)
    table = HYPERPARAMS if hyperparams is None else hyperparams
    budgets = dict(budgets if budgets is not None else (QUICK_BUDGETS if quick else BUDGETS))
    missing = [p for p in problems if p not in budgets]
    if missing:
        raise ValueError(f"no budget for problem(s) {missing}; budgets: {budgets}.")
    skipped: list[dict] = []
    if methods is None:
        methods, skipped = select_methods()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    _warm_up()
    unavailable: dict[str, str] = {}
    rows: list[dict] = []
    curves: list[pd.DataFrame] = []
    # nevergrad's own use of pycma (inside NGOpt and its CMA variants) warns about its
    # injected solutions, and nevergrad about tight bounds on the 1-D toy: library
    # internals, silenced for the demo's printout only
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"(cma|nevergrad)(\.|$)")
        try:
            for problem_id in problems:
                budget = budgets[problem_id]
                grid = np.linspace(0, budget, GRID_POINTS)
                for method in methods:
                    if method in unavailable:
                        continue
                    params = hyperparameters(method, problem_id, table)
                    t_pair = time.perf_counter()
                    for seed in range(seeds):
                        problem = blackbox_opt.make_problem(problem_id)
                        t0 = time.perf_counter()
                        try:
                            result = blackbox_opt.minimize(
                                problem,
                                method,
                                budget=budget,
                                random_state=seed,
                                verbose=False,
                                **params,
                            )
                        except (NotDifferentiableError, UnsupportedProblemError) as exc:
                            skipped.append(
                                {"problem": problem_id, "method": method, "reason": str(exc)}
                            )
                            say(f"  skip {method} on {problem_id}: {exc}")
                            break
                        except MissingDependencyError as exc:
                            unavailable[method] = str(exc)
                            skipped.append({"problem": "*", "method": method, "reason": str(exc)})
                            say(f"  skip {method}: {exc}")
                            break
                        wall = time.perf_counter() - t0
                        err = problem.param_error(result.x)
                        rows.append(
                            {
                                "problem": problem_id,
                                "method": method,
                                "seed": seed,
                                "budget": budget,
                                "fun": result.fun,
                                "param_error": math.nan if err is None else float(err),
                                "nfev": result.nfev,
                                "nit": result.nit,
                                "time": wall,
                                "status": result.status,
                            }
                        )
                        history = result.history
                        curves.append(
                            pd.DataFrame(
                                {
                                    "problem": problem_id,
                                    "method": method,
                                    "seed": seed,
                                    "nfev": grid,
                                    "best": _best_on_grid(history["nfev"], history["best"], grid),
                                }
                            )
                        )
                    else:
                        say(
                            f"  {problem_id:<10} {method:<10} {seeds} seed(s) "
                            f"in {time.perf_counter() - t_pair:6.2f} s"
                        )
        finally:
            if threads is not None:
                torch.set_num_threads(previous_threads)

    run_columns = [
        "problem", "method", "seed", "budget", "fun", "param_error", "nfev", "nit", "time",
        "status",
    ]  # fmt: skip
    runs = pd.DataFrame(rows, columns=run_columns)
    summary = summarize(runs)
    curve_frame = (
        pd.concat(curves, ignore_index=True)
        if curves
        else pd.DataFrame(columns=["problem", "method", "seed", "nfev", "best"])
    )
    paths = {
        "runs": out / "demo_runs.csv",
        "summary_csv": out / "demo_summary.csv",
        "summary_md": out / "demo_summary.md",
        "figure": out / "demo_convergence.png",
    }
    runs.to_csv(paths["runs"], index=False)
    summary.to_csv(paths["summary_csv"], index=False)
    budget_text = ", ".join(f"{p} {budgets[p]}" for p in problems)
    markdown = (
        f"# Demo benchmark\n\nMedian over {seeds} seed(s); budgets (evaluations): "
        f"{budget_text}.\n\n{_to_markdown(summary)}\n"
    )
    if skipped:
        markdown += "\nSkipped:\n\n" + "".join(
            f"- {s['method']} on {s['problem']}: {s['reason']}\n" for s in skipped
        )
    paths["summary_md"].write_text(markdown, encoding="utf-8")
    plot_convergence(
        curve_frame, paths["figure"], [p for p in problems if p in set(runs["problem"])]
    )
    wall_time = time.perf_counter() - t_start

    say()
    say(f"Median over {seeds} seed(s) (fun: best loss; param_error: MSE to the optimum):")
    say(summary.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if skipped:
        say("\nSkipped:")
        for s in skipped:
            say(f"  {s['method']} on {s['problem']}: {s['reason']}")
    say("\nWrote:")
    for path in paths.values():
        say(f"  {path}")
    say(f"Demo wall time: {wall_time:.1f} s")
    return DemoResult(runs, summary, curve_frame, skipped, paths, wall_time)
