"""The wrappers' overhead per iteration against calling pycma and nevergrad directly.

``python -m bench overhead`` runs, side by side in one process, the library's own
ask/tell loop and the wrapper's ``fit`` loop with the same seed, population and
objective: the registered ``sphere`` problem, evaluated in one batched call per
population on both sides, so the ratio measures the wrapper's machinery (conversions,
validation, best-point tracking, history), not the objective. The goal is a ratio
within 1.1.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

__all__ = ["run_overhead", "tell_matching"]


def _objective(dim: int):
    import problems

    problem = problems.make("sphere", dim=dim)

    def losses(solutions: list) -> list[float]:
        with torch.no_grad():
            return problem.evaluate(torch.from_numpy(np.stack(solutions))).tolist()

    return problem, losses


def _direct_cma(dim: int, n_iter: int, seed: int) -> float:
    import cma

    _, losses = _objective(dim)
    options = {
        "seed": seed,
        "verbose": -9,
        "verb_disp": 0,
        "verb_log": 0,
        "verb_time": False,
        "bounds": [-5.0, 5.0],
    }
    es = cma.CMAEvolutionStrategy(np.ones(dim), 2.5, options)
    t0 = time.perf_counter()
    for _ in range(n_iter):  # pycma's canonical loop, stop() included
        X = es.ask()
        es.tell(X, losses(X))
        if es.stop():
            break
    return (time.perf_counter() - t0) / es.countiter


def _direct_nevergrad(dim: int, n_iter: int, seed: int, batch: int) -> float:
    import nevergrad as ng

    _, losses = _objective(dim)
    param = ng.p.Array(init=np.ones(dim))
    param.set_bounds(lower=-5.0 * np.ones(dim), upper=5.0 * np.ones(dim))
    param.random_state = np.random.RandomState(seed)
    opt = ng.optimizers.registry["TwoPointsDE"](
        parametrization=param, budget=n_iter * batch, num_workers=batch
    )
    t0 = time.perf_counter()
    for _ in range(n_iter):
        candidates = [opt.ask() for _ in range(batch)]
        for c, loss in zip(candidates, losses([c.value for c in candidates]), strict=True):
            opt.tell(c, loss)
    return (time.perf_counter() - t0) / n_iter


def _wrapped(method: str, dim: int, n_iter: int, seed: int, **options) -> float:
    from blackbox_opt import get_method

    problem, _ = _objective(dim)
    optimizer = get_method(
        method, max_iter=n_iter, random_state=seed, verbose=False, monitor=False, **options
    )
    optimizer.fit(problem)
    return optimizer.result_.time / optimizer.n_iter_


def run_overhead(dim: int = 10, n_iter: int = 300, repeats: int = 5) -> list[dict]:
    """Time the wrappers against the libraries and print the ratios.

    Parameters
    ----------
    dim : int, default=10
        The sphere's dimension.
    n_iter : int, default=300
        Iterations per timing (pycma may stop earlier, by its own criteria).
    repeats : int, default=5
        Timings per side (interleaved); medians are reported.

    Returns
    -------
    list of dict
        ``case``, ``direct_ms``, ``wrapper_ms``, ``ratio`` per library.
    """
    cases = {
        "pycma CMA-ES": (
            lambda: _direct_cma(dim, n_iter, 1),
            lambda: _wrapped("cmaes", dim, n_iter, 1, sigma0=2.5),
        ),
        "nevergrad TwoPointsDE, batch 8": (
            lambda: _direct_nevergrad(dim, n_iter, 1, 8),
            lambda: _wrapped(
                "nevergrad",
                dim,
                n_iter,
                1,
                optimizer="TwoPointsDE",
                batch_size=8,
                budget=8 * n_iter,
            ),
        ),
    }
    rows = []
    for name, (direct, wrapped) in cases.items():
        direct(), wrapped()  # warm-up: imports, first allocations
        times = {"direct": [], "wrapper": []}
        for _ in range(repeats):
            times["direct"].append(direct())
            times["wrapper"].append(wrapped())
        d, w = (statistics.median(times[k]) for k in ("direct", "wrapper"))
        rows.append(dict(case=name, direct_ms=1e3 * d, wrapper_ms=1e3 * w, ratio=w / d))
        print(
            f"{name:32s} direct {1e3 * d:7.3f} ms/iter  wrapper {1e3 * w:7.3f} ms/iter  "
            f"ratio {w / d:5.2f} (goal <= 1.10)",
            flush=True,
        )
    return rows


def tell_matching(
    dim: int = 1024, batches: tuple[int, ...] = (20, 1000), repeats: int = 20
) -> list[dict]:
    """Time ``tell``'s matching of told points to the pending batch, and print it.

    A random-search run asks batches of ``n`` points of dimension ``dim``; one is told
    back as asked (the tensor ``ask`` returned, whole: the ``fit`` loop's case), one
    whole in shuffled order, one a point per tell, each timed
    with ``time.perf_counter``. Times are medians over ``repeats`` batches, per tell; they
    include the rest of ``tell`` (validation, the best point, and the method's step once
    the batch is complete).

    Parameters
    ----------
    dim : int, default=1024
    batches : tuple of int, default=(20, 1000)
    repeats : int, default=20

    Returns
    -------
    list of dict
        ``batch``, ``as_asked_ms``, ``shuffled_ms``, ``one_point_ms`` per batch size.
    """
    from blackbox_opt import RandomSearch

    rows = []
    for n in batches:
        optimizer = RandomSearch(random_state=0, verbose=False)
        optimizer.start(x0=torch.zeros(dim), bounds=(-1.0, 1.0))
        g = torch.Generator().manual_seed(0)
        as_asked, whole, single = [], [], []
        for _ in range(repeats):
            X = optimizer.ask(n)
            y = X.square().mean(1)
            t0 = time.perf_counter()
            optimizer.tell(X, y)  # the tensor ask handed out, whole: fit's case
            as_asked.append(time.perf_counter() - t0)
            X = optimizer.ask(n)
            y = X.square().mean(1)
            order = torch.randperm(n, generator=g)
            t0 = time.perf_counter()
            optimizer.tell(X[order], y[order])
            whole.append(time.perf_counter() - t0)
            X = optimizer.ask(n)
            y = X.square().mean(1)
            t0 = time.perf_counter()
            for i in torch.randperm(n, generator=g).tolist():
                optimizer.tell(X[i : i + 1], y[i : i + 1])
            single.append((time.perf_counter() - t0) / n)
        a, w, s = (statistics.median(t) for t in (as_asked, whole, single))
        rows.append(dict(batch=n, as_asked_ms=1e3 * a, shuffled_ms=1e3 * w, one_point_ms=1e3 * s))
        print(
            f"tell, D = {dim}, batch {n:5d}: as asked {1e3 * a:7.3f} ms; shuffled "
            f"{1e3 * w:7.3f} ms; one point per tell {1e3 * s:7.3f} ms per tell",
            flush=True,
        )
    return rows
