"""Throughput against the number of workers, and the evaluators' cost per batch.

``python -m bench workers`` starts a Dask :class:`~distributed.LocalCluster` of
``--workers`` processes (one thread each) and times, side by side:

- an *expensive* problem: by default :class:`~blackbox_opt.testing.remote.SlowSphere`,
  which sleeps a fixed time per point as a remote renderer would (``--problem ID``
  takes a registered id instead, e.g. a Mitsuba scene at its default resolution); its
  points per second in this process, then on 1, 2, ... workers of the cluster, and
  on a :class:`~blackbox_opt.evaluators.ProcessPoolEvaluator` of as many processes.
  Goal: at least 1.8 times the points per second of one worker on two;
- a *cheap* problem (``sphere``): the time a batch takes through each evaluator
  minus the time it takes in this process, the evaluator's overhead per batch (the
  median over ``--repeats`` batches). Goal: under 20 ms on a LocalCluster.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

__all__ = ["run_workers", "time_batches"]

#: The goals the benchmark is held to.
GOAL_SPEEDUP_2 = 1.8
GOAL_OVERHEAD_MS = 20.0


def time_batches(problem, X: torch.Tensor, repeats: int, warmup: int = 2) -> float:
    """Median seconds per evaluation of the batch ``X`` on ``problem``.

    Parameters
    ----------
    problem : Problem
    X : torch.Tensor of shape (B, D)
    repeats : int
    warmup : int, default=2
        Untimed evaluations first.

    Returns
    -------
    float
    """
    times = []
    for i in range(warmup + repeats):
        t0 = time.perf_counter()
        with torch.no_grad():
            problem.evaluate(X)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _batch(problem, batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    low, high = problem.bounds
    u = torch.rand(batch, problem.dim, generator=g, dtype=torch.float64)
    return (low + (high - low) * u.to(problem.dtype)).to(problem.dtype)


def run_workers(
    *,
    workers: int = 2,
    batch: int = 16,
    delay: float = 0.1,
    problem: str | None = None,
    repeats: int = 5,
    cheap_repeats: int = 50,
    pool: bool = True,
) -> list[dict[str, Any]]:
    """Measure and print throughput per number of workers and the overhead per batch.

    Parameters
    ----------
    workers : int, default=2
        The largest number of workers (every count from 1 is measured).
    batch : int, default=16
        Points per batch.
    delay : float, default=0.1
        Seconds per point of the default expensive problem.
    problem : str, optional
        A registered id to use as the expensive problem instead.
    repeats : int, default=5
        Timed batches of the expensive problem per setting.
    cheap_repeats : int, default=50
        Timed batches of the cheap problem per setting.
    pool : bool, default=True
        Also measure a :class:`~blackbox_opt.evaluators.ProcessPoolEvaluator`.

    Returns
    -------
    list of dict
        One row per measurement: ``problem``, ``evaluator``, ``workers``,
        ``seconds_per_batch``, ``points_per_second``, ``speedup`` (against one Dask
        worker) and ``overhead_ms`` (cheap problem only).
    """
    import distributed

    from blackbox_opt import make_problem
    from blackbox_opt.evaluators import (
        DaskEvaluator,
        ProblemSpec,
        ProcessPoolEvaluator,
        _workers_of,
    )
    from blackbox_opt.testing.remote import SlowSphere

    torch.set_num_threads(1)
    if problem is None:
        spec = ProblemSpec(SlowSphere, dim=8, delay=delay)
        label = f"SlowSphere({delay:g} s/point)"
    else:
        spec = ProblemSpec(problem)
        label = problem
    cheap_spec = ProblemSpec("sphere", dim=10)
    rows: list[dict[str, Any]] = []
    local = spec.build()
    X = _batch(local, batch)
    serial = time_batches(local, X, repeats, warmup=1)
    rows.append(_row(label, "serial", 1, serial, batch))
    cheap = make_problem("sphere", dim=10)
    Xc = _batch(cheap, batch)
    cheap_serial = time_batches(cheap, Xc, cheap_repeats)
    rows.append(_row("sphere", "serial", 1, cheap_serial, batch, overhead=0.0))

    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster)
    try:
        client.wait_for_workers(workers, timeout=120)
        addresses = sorted(_workers_of(client))
        for n in range(1, workers + 1):
            evaluator = DaskEvaluator(client, workers=addresses[:n])
            seconds = time_batches(evaluator.wrap(spec), X, repeats, warmup=1)
            rows.append(_row(label, "dask", n, seconds, batch))
            seconds = time_batches(evaluator.wrap(cheap_spec), Xc, cheap_repeats)
            rows.append(_row("sphere", "dask", n, seconds, batch, seconds - cheap_serial))
    finally:
        client.close()
        cluster.close()
    if pool:
        with ProcessPoolEvaluator(workers) as evaluator:
            seconds = time_batches(evaluator.wrap(spec), X, repeats, warmup=1)
            rows.append(_row(label, "processes", workers, seconds, batch))
            seconds = time_batches(evaluator.wrap(cheap_spec), Xc, cheap_repeats)
            rows.append(
                _row("sphere", "processes", workers, seconds, batch, seconds - cheap_serial)
            )
    one = next(r for r in rows if r["evaluator"] == "dask" and r["workers"] == 1)
    for r in rows:
        if r["problem"] == label:
            r["speedup"] = r["points_per_second"] / one["points_per_second"]
    _print(rows, label, workers)
    return rows


def _row(problem, evaluator, workers, seconds, batch, overhead=None) -> dict[str, Any]:
    return dict(
        problem=problem,
        evaluator=evaluator,
        workers=workers,
        seconds_per_batch=seconds,
        points_per_second=batch / seconds,
        speedup=float("nan"),
        overhead_ms=float("nan") if overhead is None else overhead * 1e3,
    )


def _print(rows: list[dict[str, Any]], label: str, workers: int) -> None:
    print(f"{'problem':28s} {'evaluator':10s} {'workers':>7s} {'s/batch':>9s} "
          f"{'points/s':>9s} {'speedup':>8s} {'overhead ms':>12s}")  # fmt: skip
    for r in rows:
        speedup = "" if r["speedup"] != r["speedup"] else f"{r['speedup']:.2f}"
        overhead = "" if r["overhead_ms"] != r["overhead_ms"] else f"{r['overhead_ms']:.1f}"
        print(
            f"{r['problem']:28s} {r['evaluator']:10s} {r['workers']:7d} "
            f"{r['seconds_per_batch']:9.4f} {r['points_per_second']:9.1f} {speedup:>8s} "
            f"{overhead:>12s}"
        )
    two = [r for r in rows if r["problem"] == label and r["evaluator"] == "dask"]
    if workers >= 2:
        s2 = next(r["speedup"] for r in two if r["workers"] == 2)
        print(f"speedup at 2 workers: {s2:.2f} (goal >= {GOAL_SPEEDUP_2})")
    worst = max(
        r["overhead_ms"] for r in rows if r["problem"] == "sphere" and r["evaluator"] == "dask"
    )
    print(f"overhead per batch on the LocalCluster: {worst:.1f} ms (goal < {GOAL_OVERHEAD_MS:g})")
