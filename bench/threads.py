"""Threads for the small-network work: ZeroGrads' surrogate and MetaInitializer.

``python -m bench threads`` times, side by side in one process, ZeroGrads iterations
and MetaInitializer outer steps with one and with two torch intra-op threads for the
network work (``n_threads``; the process itself keeps two), first on an idle machine
and then beside a competing process that keeps one core busy (a second benchmark, a
render, another user's job): the case in which a thread waiting for a busy core stalls
the others at every synchronisation. Times are medians of interleaved repeats, in
milliseconds per iteration; the ratio is two threads over one (above 1: one thread is
faster).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import torch

__all__ = ["run_threads"]

_BUSY = """
import torch
torch.set_num_threads(1)
a = torch.randn(512, 512)
while True:
    a = torch.tanh(a @ a / 512)
"""


def _zerograds_ms(dim: int, n_threads: int, n_iter: int) -> float:
    import problems
    from blackbox_opt.optimizers.zerograds import ZeroGrads

    problem = problems.make("sphere", dim=dim)
    optimizer = ZeroGrads(
        max_iter=n_iter, random_state=0, verbose=False, monitor=False, n_threads=n_threads
    )
    optimizer.fit(problem)
    return 1e3 * optimizer.result_.time / optimizer.n_iter_


def _meta_ms(n_threads: int, epochs: int) -> float:
    import problems
    from blackbox_opt import MetaInitializer

    family = problems.make_family("brdf-family", n_train=10, n_test=2, seed=0)
    meta = MetaInitializer(
        epochs=epochs, inner_steps=5, random_state=0, verbose=False, n_threads=n_threads
    )
    t0 = time.perf_counter()
    meta.fit(family)
    return 1e3 * (time.perf_counter() - t0) / meta.n_outer_steps_


def run_threads(repeats: int = 3, n_iter: int = 150) -> list[dict]:
    """Time 1 against 2 threads, idle and beside a busy process, and print the table.

    Parameters
    ----------
    repeats : int, default=3
        Interleaved timings per setting; medians are reported.
    n_iter : int, default=150
        ZeroGrads iterations per timing.

    Returns
    -------
    list of dict
        ``case``, ``load``, ``one_ms``, ``two_ms``, ``ratio`` per case and load.
    """
    torch.set_num_threads(2)
    cases = {
        "ZeroGrads, D = 18 (3 x 64 surrogate)": lambda n: _zerograds_ms(18, n, n_iter),
        "ZeroGrads, D = 1024 (8 x 128, 6 frequencies)": lambda n: _zerograds_ms(
            1024, n, n_iter // 5
        ),
        "MetaInitializer, brdf-family": lambda n: _meta_ms(n, 2),
    }
    rows = []
    for load in ("idle", "one busy process"):
        busy = None
        if load != "idle":
            busy = subprocess.Popen([sys.executable, "-c", _BUSY])
            time.sleep(1.0)
        try:
            for name, timed in cases.items():
                timed(1)  # warm-up: imports, first allocations
                times: dict[int, list[float]] = {1: [], 2: []}
                for _ in range(repeats):
                    for n in (1, 2):
                        times[n].append(timed(n))
                one, two = (statistics.median(times[n]) for n in (1, 2))
                rows.append(dict(case=name, load=load, one_ms=one, two_ms=two, ratio=two / one))
                print(
                    f"{name:46s} {load:17s} 1 thread {one:8.2f} ms/iter  2 threads "
                    f"{two:8.2f} ms/iter  ratio {two / one:5.2f}",
                    flush=True,
                )
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    return rows
