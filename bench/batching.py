"""Batched against single evaluation for every registered problem.

``python -m bench batching`` times, for each problem at its default size, one batched
call of B points against B calls of one point (``time.perf_counter``, medians after a
warm-up), and the time of one evaluation, so that methods' budgets can be planned. The
goal: the batched call is never slower than the loop, and at least 5x faster for
problems that cost under a millisecond per point.
"""

from __future__ import annotations

import statistics
import time

import torch

__all__ = ["run_batching"]


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_batching(
    names: list[str] | None = None, batch: int = 20, repeats: int = 5, device: str = "cpu"
) -> list[dict]:
    """Time batched against single evaluation and print a table.

    Parameters
    ----------
    names : list of str, optional
        Problem ids (default: every registered problem that needs no optional extra).
    batch : int, default=20
        Points per batched call.
    repeats : int, default=5
        Timings per side; medians are reported.
    device : str, default="cpu"
        Where to evaluate (``"cuda"`` on a GPU).

    Returns
    -------
    list of dict
        ``problem``, ``dim``, ``ms_per_point``, ``batched_ms``, ``loop_ms``, ``speedup``.

    Raises
    ------
    UnknownNameError
        For a name that is not a registered problem, naming the closest ones.
    """
    import blackbox_opt
    from blackbox_opt.registry import PROBLEMS

    for name in names or ():
        PROBLEMS.entry(name)  # raises for an unknown id
    rows = []
    table = blackbox_opt.list_problems()
    for row in table:
        name = row["id"]
        if names and name not in names:
            continue
        if not names and row.get("requires"):
            continue
        problem = blackbox_opt.make_problem(name).to(device)
        g = torch.Generator(device=problem.device).manual_seed(0)
        noise = torch.randn(
            batch, problem.dim, generator=g, device=problem.device, dtype=problem.dtype
        )
        X = problem.x0 + 0.01 * noise
        if problem.bounds is not None:
            X = torch.maximum(torch.minimum(X, problem.bounds[1]), problem.bounds[0])

        def batched(X=X, problem=problem):
            with torch.no_grad():
                problem.evaluate(X)
            if problem.device.type == "cuda":
                torch.cuda.synchronize()

        def loop(X=X, problem=problem):
            with torch.no_grad():
                for x in X:
                    problem.evaluate(x[None])
            if problem.device.type == "cuda":
                torch.cuda.synchronize()

        t_batch, t_loop = _median_time(batched, repeats), _median_time(loop, repeats)
        rows.append(
            dict(
                problem=name,
                dim=problem.dim,
                ms_per_point=1e3 * t_loop / batch,
                batched_ms=1e3 * t_batch,
                loop_ms=1e3 * t_loop,
                speedup=t_loop / t_batch,
            )
        )
        r = rows[-1]
        print(
            f"{name:12s} D={r['dim']:<7d} one point {r['ms_per_point']:8.3f} ms   "
            f"B={batch}: batched {r['batched_ms']:8.2f} ms, loop {r['loop_ms']:8.2f} ms, "
            f"speed-up {r['speedup']:5.1f}x",
            flush=True,
        )
    return rows
