"""Per-iteration time of the methods, measured side by side in one process.

``python -m bench speed`` times ask -> evaluate -> tell rounds (plus one monitoring
evaluation where the papers' code makes one) with :func:`time.perf_counter`, after a
warm-up, and prints milliseconds per iteration beside two figures of each case in
:data:`CASES`: the time per iteration of the papers' own reference code on the same
task on a 2-core CPU, and the goal this implementation is held to.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

__all__ = ["CASES", "run_speed", "time_iterations"]


def time_iterations(optimizer, problem, *, n_iter: int, warmup: int, monitor: bool) -> float:
    """Median seconds per iteration of ``optimizer`` on ``problem``.

    Parameters
    ----------
    optimizer : BaseOptimizer
        An unstarted optimiser.
    problem : Problem
    n_iter : int
        Timed iterations.
    warmup : int
        Untimed iterations first (allocations, first-call overheads).
    monitor : bool
        Also evaluate the loss at the iterate each iteration, as ``fit`` does.

    Returns
    -------
    float
    """
    optimizer.start(problem)
    times = []
    for i in range(warmup + n_iter):
        t0 = time.perf_counter()
        X = optimizer.ask()
        with torch.no_grad():
            y = problem.evaluate(X)
        optimizer.tell(X, y)
        if monitor:
            with torch.no_grad():
                problem.evaluate(optimizer.recommend()[None])
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _quadratic(dim: int):
    from blackbox_opt import FunctionProblem

    x0 = torch.zeros(dim)
    return FunctionProblem(lambda X: (X * X).sum(1), x0, bounds=(-1.0, 1.0), vectorized=True)


def _prdpt_rect():
    import problems
    from blackbox_opt import PRDPT

    return PRDPT(sigma=0.05, n_samples=4, lr=1e-3, random_state=0), problems.make("rect"), True


def _zerograds(dim: int) -> Callable:
    def case():
        from blackbox_opt.optimizers.zerograds import ZeroGrads

        optimizer = ZeroGrads(
            sigma=0.025,
            n_samples=10,
            k_phi=10,
            k_theta=4,
            width=128,
            depth=8,
            n_freq=3,
            lr=1.25e-5,
            lr_surrogate=1e-4,
            random_state=0,
        )
        return optimizer, _quadratic(dim), False

    return case


#: name -> (factory of (optimizer, problem, monitor), iterations, the papers' code's ms per
#: iteration on a 2-core CPU, this implementation's goal in ms per iteration)
CASES = {
    "prdpt rect 256x256, 4 pairs": (_prdpt_rect, 200, "6.2-7.5", 3.0),
    "zerograds D=1,024 (MLP-task settings)": (_zerograds(1024), 30, "113", 20.0),
    "zerograds D=35,152 (MLP-task settings)": (_zerograds(35_152), 5, "3,380", 1000.0),
}


def run_speed(names: list[str] | None = None, threads: int | None = None) -> list[dict]:
    """Time every case and print a table.

    Parameters
    ----------
    names : list of str, optional
        Cases to run (default: all).
    threads : int, optional
        torch intra-op threads (default: torch's).

    Returns
    -------
    list of dict
        One row per case: ``case``, ``ms_per_iter``, ``paper_ms``, ``goal_ms``.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    rows = []
    for name, (factory, n_iter, paper, goal) in CASES.items():
        if names and not any(n in name for n in names):
            continue
        optimizer, problem, monitor = factory()
        seconds = time_iterations(
            optimizer, problem, n_iter=n_iter, warmup=max(2, n_iter // 10), monitor=monitor
        )
        rows.append(dict(case=name, ms_per_iter=1e3 * seconds, paper_ms=paper, goal_ms=goal))
        print(
            f"{name:42s} {1e3 * seconds:9.2f} ms/iter  (paper {paper} ms, goal <= {goal:g})",
            flush=True,
        )
    return rows
