"""Per-iteration time of the methods, measured side by side in one process.

``python -m bench speed`` times ask -> evaluate -> tell rounds (plus one monitoring
evaluation where the papers' code makes one) with :func:`time.perf_counter`, after a
warm-up, and prints milliseconds per iteration beside two figures of each case in
:data:`CASES`: the time per iteration of the papers' own reference code on the same
task on a 2-core CPU, and the goal this implementation is held to.

``python -m bench speed --zerograds-fit`` times ZeroGrads on the MLP-digits task
(D = 35,152, the ZeroGrads paper's settings, 2 threads) with its two ways of fitting
the surrogate, the in-place first-layer gradient and plain autograd, in alternating
iterations of one process (:func:`zerograds_fit_side_by_side`), piece by piece, and
against the paper's 3.38 s per iteration. On a machine shared with other jobs, run it
(and ZeroGrads) with ``OMP_WAIT_POLICY=PASSIVE``: OpenMP's waiting threads then sleep
instead of spinning on the cores that the threads with work need; beside 3 to 4 busy
processes on 2 cores two threads then took a third of the time they took without.

Where the in-place fit's time goes, idle, 2 threads, D = 35,152 with 3 frequencies
(first layer 128 x 246,064 weights, 126 MB in float32): each of the ``k_phi = 10``
fitting steps runs three passes over the first layer, Adam's fused step (reads the
weights, their gradient and two moments, writes three: 20.2 ms), the rank-20 weight
gradient ``G^T H`` written into its buffer (7.8 ms) and the next step's ``H W^T``
(9.9 ms), 38 ms a step against 484.7 ms an iteration, of which the fit is 435.7 ms and
the surrogate gradients 40.6 ms (``python -m bench speed --zerograds-fit``). These
passes are memory-bound (Adam moves 882 MB in 20 ms); running them chunk by chunk of
the output units, so that each chunk stays in cache across the three, was slower with
chunks of 1 to 16 units (175 to 45 ms a step against 41 ms) and no faster with 32
(41 ms). So 10 steps
of this fit cannot take much under 0.4 s here: a cheaper iteration needs fewer
passes (another optimiser for the first layer, a smaller encoding, fewer steps),
which changes the method's numbers.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import torch

__all__ = [
    "CASES",
    "PAPER_MLP_SECONDS",
    "run_speed",
    "time_iterations",
    "zerograds_fit_side_by_side",
]


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


#: Seconds per iteration of the ZeroGrads authors' code on the MLP-digits task (their
#: report; the settings of ``bench.experiments``' ``highdim`` for ``mlp-digits``).
PAPER_MLP_SECONDS = 3.38

#: The ZeroGrads settings of the MLP-digits task (``highdim`` in :mod:`bench.experiments`).
MLP_ZEROGRADS = dict(
    sigma=0.025, n_samples=10, lr=1.25e-5, lr_surrogate=1e-4, k_phi=10, k_theta=4, n_freq=3
)


def _timed(obj, name: str, totals: dict, key: str) -> None:
    """Shadow ``obj.name`` with a wrapper adding its seconds to ``totals[key]``."""
    method = getattr(obj, name)

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            totals[key] = totals.get(key, 0.0) + time.perf_counter() - t0

    setattr(obj, name, wrapper)


def zerograds_fit_side_by_side(
    n_iter: int = 6, warmup: int = 2, threads: int = 2, seed: int = 0
) -> dict:
    """ZeroGrads on MLP-digits with the in-place and the autograd fit, alternating.

    Two runs of the same seed, one per way of fitting the surrogate
    (``ZeroGrads._lean_fit`` True and False), take turns iteration by iteration in this
    process, so that the machine's load falls on both alike; both compute the same
    steps. Each iteration is split into the problem's evaluation (with ``ask``), the
    ``k_theta`` surrogate gradients, the parameter steps, and the ``k_phi`` fitting
    steps. The load average is printed before and after.

    Parameters
    ----------
    n_iter : int, default=6
        Timed iterations per run.
    warmup : int, default=2
        Untimed iterations first.
    threads : int, default=2
        ``n_threads`` of ZeroGrads (the surrogate's torch threads).
    seed : int, default=0

    Returns
    -------
    dict
        ``{"in-place": row, "autograd": row}``, each row the median milliseconds per
        iteration of ``evaluate``, ``surrogate gradients``, ``parameter steps``,
        ``fit`` and ``iteration``; with ``ratio`` (in-place over autograd time) and
        ``paper_ratio`` (the paper's 3.38 s over the in-place time).
    """
    import problems
    from blackbox_opt.optimizers.zerograds import ZeroGrads

    problem = problems.make("mlp-digits")
    runs = {}
    for label, lean in (("in-place", True), ("autograd", False)):
        optimizer = ZeroGrads(n_threads=threads, random_state=seed, **MLP_ZEROGRADS)
        optimizer._lean_fit = lean
        optimizer.start(problem)
        totals: dict = {}
        _timed(optimizer, "surrogate_gradient", totals, "surrogate gradients")
        _timed(optimizer, "_step", totals, "parameter steps")
        _timed(optimizer, "_fit", totals, "fit")
        runs[label] = (optimizer, totals, {})
    policy = os.environ.get("OMP_WAIT_POLICY", "not set")
    print(f"load average before: {os.getloadavg()[0]:.2f}; OMP_WAIT_POLICY {policy}", flush=True)
    for i in range(warmup + n_iter):
        for optimizer, totals, rows in runs.values():
            totals.clear()
            t0 = time.perf_counter()
            X = optimizer.ask()
            with torch.no_grad():
                y = problem.evaluate(X)
            t1 = time.perf_counter()
            optimizer.tell(X, y)
            t2 = time.perf_counter()
            if i < warmup:
                continue
            pieces = {"evaluate": t1 - t0, **totals, "iteration": t2 - t0}
            for key, seconds in pieces.items():
                rows.setdefault(key, []).append(seconds)
    print(f"load average after:  {os.getloadavg()[0]:.2f}", flush=True)
    result: dict = {}
    for label, (_, _, rows) in runs.items():
        result[label] = {key: 1e3 * statistics.median(v) for key, v in rows.items()}
        pieces = "  ".join(f"{key} {ms:8.1f}" for key, ms in result[label].items())
        print(f"{label:9s} ms: {pieces}", flush=True)
    new, old = result["in-place"]["iteration"], result["autograd"]["iteration"]
    result["ratio"] = new / old
    result["paper_ratio"] = 1e3 * PAPER_MLP_SECONDS / new
    print(
        f"in-place / autograd time per iteration: {result['ratio']:.2f}; "
        f"the paper's {PAPER_MLP_SECONDS} s / in-place: {result['paper_ratio']:.1f}x",
        flush=True,
    )
    return result
