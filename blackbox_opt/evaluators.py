"""Evaluators: where the points of a batch are evaluated.

An optimiser asks for a batch of points and is told their losses; an *evaluator*
decides where the losses are computed:

- :class:`SerialEvaluator` (the default): in this process, one batched call;
- :class:`ProcessPoolEvaluator`: worker processes on this machine, no extra dependency;
- :class:`DaskEvaluator`: the workers of a Dask cluster (``dask[distributed]``, the
  ``distributed`` extra): a :class:`~distributed.LocalCluster` on this machine, a
  running scheduler anywhere, or an HPC cluster through ``dask-jobqueue``.

``minimize(..., evaluator=...)`` and ``fit(..., evaluator=...)`` take one, and wrap the
problem in a :class:`DistributedProblem`: a :class:`~blackbox_opt.Problem` whose
batches are split into chunks, evaluated on the workers and gathered back in order.
Each worker builds the problem once, from a picklable description (a
:class:`ProblemSpec`: a registered id with options, or a factory; or the problem
itself, pickled), and keeps it in a per-process cache, so a renderer loads its scene
once per worker, not once per point.

A run is the same whatever the number of workers: the optimiser stays in the calling
process, and a point's loss depends only on the point (problems that draw random
numbers seed them per point or per batch, never per process). Failures of the forward
model on a worker (an exception, a time-out, a worker process that died every time it
evaluated a chunk) reach the optimiser's ``on_error`` policy point by point, through
:class:`~blackbox_opt.PointsFailedError`.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from .evaluation import evaluate_rest, is_forward_model_failure
from .exceptions import (
    ClusterError,
    InvalidParameterError,
    MissingDependencyError,
    PointsFailedError,
)
from .problem import Problem

__all__ = [
    "DaskEvaluator",
    "DistributedProblem",
    "Evaluator",
    "ProblemSpec",
    "ProcessPoolEvaluator",
    "SerialEvaluator",
    "evaluating",
    "get_evaluator",
    "worker_problems",
]

#: Payloads up to this size travel with every task; larger ones are sent to the
#: workers once (Dask's scatter).
_INLINE_BYTES = 64 * 2**10
#: Times a chunk is sent again when its result was lost with its worker.
_LOST_ROUNDS = 3
#: Seconds between two look-ups of the workers a Dask evaluator may use.
_LOOKUP_SECONDS = 5.0


class ProblemSpec:
    """A picklable description of a problem, from which each worker builds its own.

    Parameters
    ----------
    problem : str or callable
        A registered problem id (built with :func:`~blackbox_opt.make_problem`), or a
        factory returning a :class:`~blackbox_opt.Problem` (a class or a function;
        Dask pickles it with cloudpickle, so a function defined in a script or a
        notebook will do).
    **options
        Arguments of the problem's constructor or of the factory.

    Examples
    --------
    >>> spec = ProblemSpec("sphere", dim=3)
    >>> spec
    ProblemSpec('sphere', dim=3)
    >>> spec.build().dim
    3
    """

    def __init__(self, problem: str | Callable[..., Problem], /, **options: Any):
        if not (isinstance(problem, str) or callable(problem)):
            raise InvalidParameterError(
                "ProblemSpec's problem must be a registered problem id or a factory "
                f"returning a Problem; got {type(problem).__name__}."
            )
        self.problem = problem
        self.options = options

    def build(self) -> Problem:
        """Build the problem.

        Returns
        -------
        Problem
        """
        if isinstance(self.problem, str):
            from .api import make_problem

            return make_problem(self.problem, **self.options)
        problem = self.problem(**self.options)
        if not isinstance(problem, Problem):
            raise InvalidParameterError(
                f"The factory {_name_of(self.problem)} of a ProblemSpec returned a "
                f"{type(problem).__name__}, not a blackbox_opt.Problem."
            )
        return problem

    def __repr__(self) -> str:
        what = repr(self.problem) if isinstance(self.problem, str) else _name_of(self.problem)
        options = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"ProblemSpec({what}{options})"


def _name_of(obj: Any) -> str:
    return getattr(obj, "__qualname__", None) or type(obj).__name__


class _Payload:
    """A problem or spec pickled once: ``data`` (bytes) and its ``token`` (a digest)."""

    def __init__(self, source: Problem | ProblemSpec):
        try:
            import cloudpickle

            dumps = cloudpickle.dumps
        except ImportError:  # the process pool without Dask installed
            dumps = pickle.dumps
        try:
            self.data = dumps(source)
        except Exception as exc:
            what = "problem" if isinstance(source, Problem) else "ProblemSpec"
            raise InvalidParameterError(
                f"The {what} cannot be sent to the evaluator's workers: pickling "
                f"{source!r} failed ({type(exc).__name__}: {exc}). Describe it with a "
                "ProblemSpec (a registered id with options, or a factory) so that every "
                "worker builds its own, or pass its registered id to minimize."
            ) from None
        self.token = hashlib.sha1(self.data).hexdigest()[:16]
        self.size = len(self.data)


# -- the workers' side: a per-process cache of built problems -------------------------------

#: token -> problem, in this process (a worker's). A few only: scenes are large.
_CACHE: OrderedDict[str, Problem] = OrderedDict()
_CACHE_SIZE = 4
_CACHE_LOCK = threading.Lock()
#: token -> how many times this process built that problem.
_BUILDS: dict[str, int] = {}


def _worker_problem(token: str, data: bytes) -> Problem:
    """The problem of ``token`` in this process, built from ``data`` on first use."""
    with _CACHE_LOCK:  # one build per process even with several threads per worker
        problem = _CACHE.get(token)
        if problem is None:
            source = pickle.loads(data)
            problem = source.build() if isinstance(source, ProblemSpec) else source
            _CACHE[token] = problem
            _BUILDS[token] = _BUILDS.get(token, 0) + 1
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        else:
            _CACHE.move_to_end(token)
    return problem


def worker_problems() -> dict[str, dict[str, Any]]:
    """What this process's cache of problems holds, for checks and diagnostics.

    Run it on the workers, e.g. ``client.run(worker_problems)`` on a Dask client.

    Returns
    -------
    dict
        ``{token: {"name", "builds", "evaluations", "pid"}}``, one entry per problem
        this process has built (``builds`` counts rebuilds after eviction).
    """
    return {
        token: dict(
            name=problem.name,
            builds=_BUILDS.get(token, 0),
            evaluations=problem.n_evaluations,
            pid=os.getpid(),
        )
        for token, problem in _CACHE.items()
    }


def _prepare_worker(token: str, data: bytes) -> dict[str, Any]:
    """Build the problem here (a worker) and describe it for the calling process."""
    problem = _worker_problem(token, data)

    def cpu(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.detach().cpu()

    return dict(
        x0=cpu(problem.x0),
        bounds=cpu(problem.bounds),
        x_opt=cpu(problem.x_opt),
        f_opt=problem.f_opt,
        dtype=problem.dtype,
        id=problem.id,
        name=problem.name,
        version=type(problem).version,
        image_shape=problem.image_shape,
        space=problem._space,
        cost=problem.cost,
        hard_bounds=problem.hard_bounds,
    )


def _evaluate_chunk(token: str, data: bytes, X: Any) -> tuple[Any, dict[int, str]]:
    """Evaluate a chunk here (a worker): losses as a numpy array, and failed rows' reasons.

    ``X`` travels as a numpy array (cheaper to send than a tensor). When the batched
    call fails, the chunk's other points are evaluated here, so that only the points
    that fail are lost (:func:`~blackbox_opt.evaluation.evaluate_rest`: a
    :class:`~blackbox_opt.PointsFailedError` of the problem's own already says which
    points it evaluated, and those are not evaluated again). The library's own errors
    propagate.
    """
    problem = _worker_problem(token, data)
    X = torch.as_tensor(X).to(device=problem.device, dtype=problem.dtype)
    try:
        with torch.no_grad():
            return problem.evaluate(X).detach().cpu().numpy(), {}
    except Exception as exc:
        if not is_forward_model_failure(exc):
            raise
        y, errors = evaluate_rest(problem, X, exc)
    return y.detach().cpu().numpy(), errors


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        torch.set_num_threads(threads)


# -- the evaluators ------------------------------------------------------------------------


class Evaluator:
    """Base class of the evaluators: where a :class:`DistributedProblem` evaluates.

    Subclasses implement ``_prepare(payload)`` (make the workers ready for a problem,
    raising :class:`~blackbox_opt.ClusterError` or
    :class:`~blackbox_opt.MissingDependencyError` before the run when they cannot be)
    and ``_evaluate(payload, X)`` (losses of the batch ``X`` on the CPU, and the
    reasons of the rows that failed). An evaluator is a context manager;
    :meth:`close` releases its workers.

    Parameters
    ----------
    chunk_size : int, optional
        Points per task. Default: the batch split evenly over the workers' threads.
    timeout : float, optional
        Seconds one point may take. A chunk of ``k`` points that is not back ``k *
        timeout`` seconds after it was sent fails, and its points go to the
        optimiser's ``on_error``. With a timeout, :class:`DaskEvaluator` sends at most
        one chunk per worker thread at a time, so the clock runs while the chunk
        does; :class:`ProcessPoolEvaluator` sends the whole batch at once (with the
        default chunking, one chunk per worker).
    """

    def __init__(self, *, chunk_size: int | None = None, timeout: float | None = None):
        if chunk_size is not None and (
            not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1
        ):
            raise InvalidParameterError(f"chunk_size must be a positive int; got {chunk_size!r}.")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
        ):
            raise InvalidParameterError(f"timeout must be a positive number; got {timeout!r}.")
        self.chunk_size = chunk_size
        self.timeout = timeout

    @property
    def n_workers(self) -> int:
        """The number of parallel evaluations (worker threads) available now."""
        return 1

    def wrap(self, problem: Problem | ProblemSpec) -> Problem:
        """A problem whose evaluations run on this evaluator.

        Parameters
        ----------
        problem : Problem or ProblemSpec

        Returns
        -------
        Problem
            A :class:`DistributedProblem` (for the serial evaluator, the problem
            itself).
        """
        return DistributedProblem(problem, self)

    def close(self) -> None:
        """Release the workers this evaluator started (none for a given client)."""

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _prepare(self, payload: _Payload) -> dict[str, Any]:
        raise NotImplementedError

    def _evaluate(self, payload: _Payload, X: torch.Tensor) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def _chunks(self, X: torch.Tensor) -> tuple[torch.Tensor, ...]:
        B = X.shape[0]
        if self.chunk_size is not None:
            return X.split(self.chunk_size)
        return X.tensor_split(max(1, min(B, self.n_workers)))

    def _deadline(self, chunks: tuple[torch.Tensor, ...]) -> float | None:
        if self.timeout is None:
            return None
        return self.timeout * max(c.shape[0] for c in chunks)

    def _timed_out(self, n: int, limit: float) -> str:
        return (
            f"EvaluationTimeout: not back within {limit:.3g} s ({n} point(s) at timeout="
            f"{self.timeout:g} s each)"
        )


class SerialEvaluator(Evaluator):
    """Evaluate in this process, one batched call per batch: the default.

    Examples
    --------
    >>> from blackbox_opt import minimize
    >>> res = minimize("sphere", method="random", dim=2, budget=48, random_state=0,
    ...                evaluator=SerialEvaluator(), verbose=False)
    >>> res.nfev
    48
    """

    def wrap(self, problem: Problem | ProblemSpec) -> Problem:
        """The problem itself (a spec is built here).

        Parameters
        ----------
        problem : Problem or ProblemSpec

        Returns
        -------
        Problem
        """
        return problem.build() if isinstance(problem, ProblemSpec) else problem


class ProcessPoolEvaluator(Evaluator):
    """Evaluate on worker processes of this machine (no dependency beyond the library).

    Worker processes are started (``spawn``) on first use and build the problem once
    each. A worker process that dies (a crash in native code, out of memory) breaks
    the pool: a fresh one evaluates the chunks that had not come back, up to
    ``max_restarts`` times per batch; after that their points fail.

    Parameters
    ----------
    n_workers : int, optional
        Worker processes (default: the machine's CPU count).
    threads : int or None, default=1
        Torch intra-op threads per worker (None: torch's default).
    max_restarts : int, default=3
        Fresh pools per batch after worker deaths.
    chunk_size, timeout :
        See :class:`Evaluator`. After a time-out the worker processes are killed and a
        fresh pool builds the problem again: Python cannot stop a running evaluation.

    Examples
    --------
    >>> with ProcessPoolEvaluator(2) as evaluator:  # doctest: +SKIP
    ...     res = minimize("rect", method="spsa", evaluator=evaluator, budget=200)
    """

    def __init__(
        self,
        n_workers: int | None = None,
        *,
        threads: int | None = 1,
        max_restarts: int = 3,
        chunk_size: int | None = None,
        timeout: float | None = None,
    ):
        super().__init__(chunk_size=chunk_size, timeout=timeout)
        if n_workers is not None and (
            not isinstance(n_workers, int) or isinstance(n_workers, bool) or n_workers < 1
        ):
            raise InvalidParameterError(f"n_workers must be a positive int; got {n_workers!r}.")
        self._n = n_workers or os.cpu_count() or 1
        self.threads = threads
        self.max_restarts = max_restarts
        self._pool = None

    @property
    def n_workers(self) -> int:
        """The number of worker processes."""
        return self._n

    def _get_pool(self):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self._n,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_set_threads,
                initargs=(self.threads,),
            )
        return self._pool

    def _drop_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _kill_pool(self) -> None:
        processes = getattr(self._pool, "_processes", None) or {}
        for process in list(processes.values()):
            process.kill()
        self._drop_pool()

    def close(self) -> None:
        """Shut the worker processes down."""
        self._drop_pool()

    def _prepare(self, payload: _Payload) -> dict[str, Any]:
        from concurrent.futures.process import BrokenProcessPool

        pool = self._get_pool()
        futures = [
            pool.submit(_prepare_worker, payload.token, payload.data) for _ in range(self._n)
        ]
        try:
            infos = [f.result() for f in futures]
        except BrokenProcessPool as exc:
            self._drop_pool()
            raise ClusterError(
                "The evaluator's worker processes died while building the problem "
                f"({exc}); if this runs from a script, guard it with "
                "'if __name__ == \"__main__\":'."
            ) from None
        except Exception as exc:
            raise _build_error(exc, "a worker process of the ProcessPoolEvaluator") from exc
        return infos[0]

    def _evaluate(self, payload: _Payload, X: torch.Tensor) -> tuple[torch.Tensor, dict]:
        from concurrent.futures import wait
        from concurrent.futures.process import BrokenProcessPool

        chunks = self._chunks(X)
        limit = self._deadline(chunks)
        results: dict[int, tuple[torch.Tensor, dict]] = {}
        todo = list(range(len(chunks)))
        restarts = 0
        t0 = time.monotonic()
        while todo:
            pool = self._get_pool()
            futures = {
                i: pool.submit(_evaluate_chunk, payload.token, payload.data, chunks[i].numpy())
                for i in todo
            }
            left = None if limit is None else max(0.0, limit - (time.monotonic() - t0))
            wait(list(futures.values()), timeout=left)
            broken = []
            hung = False
            for i, f in futures.items():
                if not f.done():
                    hung = True
                    results[i] = _failed(chunks[i], self._timed_out(chunks[i].shape[0], limit))
                    continue
                exc = f.exception()
                if exc is None:
                    results[i] = f.result()
                elif isinstance(exc, BrokenProcessPool):
                    broken.append(i)
                elif is_forward_model_failure(exc):
                    results[i] = _failed(chunks[i], f"{type(exc).__name__}: {exc}")
                else:
                    raise exc
            if hung:  # a running evaluation cannot be stopped: its processes can
                self._kill_pool()
                self._prepare(payload)  # the new processes build before the next clock
            todo = broken
            if broken:
                self._drop_pool()
                restarts += 1
                if restarts > self.max_restarts:
                    reason = (
                        f"WorkerDied: the worker process evaluating it died "
                        f"{restarts} times (a crash of the forward model, or out of memory)"
                    )
                    for i in broken:
                        results[i] = _failed(chunks[i], reason)
                    todo = []
        return _assemble(chunks, [results[i] for i in range(len(chunks))])


class DaskEvaluator(Evaluator):
    """Evaluate on the workers of a Dask cluster.

    Needs ``dask[distributed]`` (``pip install 'blackbox-opt[distributed]'``). Every
    chunk is one task, submitted as impure (``pure=False``: the same points are
    evaluated again when asked again). A worker lost mid-batch (killed, crashed, its
    machine gone) costs nothing but time: the scheduler runs its chunks again on
    another worker. A chunk whose worker dies every time it runs it (Dask's
    ``distributed.scheduler.allowed-failures``, 3 by default) fails, and its points go
    to ``on_error``.

    Parameters
    ----------
    client : distributed.Client, str or None
        A connected client, a scheduler address (``"tcp://host:8786"``), or None to
        start a :class:`~distributed.LocalCluster` of ``n_workers`` processes with one
        thread each, closed by :meth:`close`.
    n_workers : int, optional
        Worker processes of the local cluster (default: the machine's CPU count).
    resources : dict, optional
        Abstract resources every task needs, e.g. ``{"GPU": 1}``: only workers started
        with them (``dask worker ... --resources GPU=1``) evaluate. The run refuses to
        start when no worker offers them.
    workers : list of str, optional
        Evaluate on these workers only (addresses or names).
    retries : int, default=0
        Times a task that raised an error other than a failure of the forward model
        is run again (a forward model's failure is the point's, never retried).
    connect_timeout : float, default=10
        Seconds to reach the scheduler.
    chunk_size, timeout :
        See :class:`Evaluator`. A timed-out chunk is cancelled.
    restart_hung : bool, default=True
        Restart the workers (through their nannies) that were still running a
        timed-out chunk, so that a hung renderer does not hold them: Python cannot stop
        a running evaluation otherwise. Other work on those workers is rescheduled.

    Examples
    --------
    >>> from blackbox_opt import minimize
    >>> with DaskEvaluator(n_workers=2) as evaluator:  # doctest: +SKIP
    ...     res = minimize("rect", method="spsa", evaluator=evaluator, budget=200)
    """

    def __init__(
        self,
        client: Any = None,
        *,
        n_workers: int | None = None,
        resources: dict[str, float] | None = None,
        workers: list[str] | None = None,
        retries: int = 0,
        connect_timeout: float = 10.0,
        chunk_size: int | None = None,
        timeout: float | None = None,
        restart_hung: bool = True,
    ):
        super().__init__(chunk_size=chunk_size, timeout=timeout)
        try:
            import distributed
        except ImportError:
            raise MissingDependencyError(
                "DaskEvaluator needs dask's distributed scheduler: pip install "
                "'blackbox-opt[distributed]' (or 'dask[distributed]')."
            ) from None
        if n_workers is not None and (
            not isinstance(n_workers, int) or isinstance(n_workers, bool) or n_workers < 1
        ):
            raise InvalidParameterError(f"n_workers must be a positive int; got {n_workers!r}.")
        if resources is not None and not isinstance(resources, dict):
            raise InvalidParameterError(
                f"resources must be a dict such as {{'GPU': 1}}; got {resources!r}."
            )
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise InvalidParameterError(f"retries must be an int >= 0; got {retries!r}.")
        self.resources = resources
        self.workers = list(workers) if workers is not None else None
        self.retries = retries
        self.restart_hung = restart_hung
        self._cluster = None
        self._own_client = False
        self._prepared: dict[str, Any] = {}
        if isinstance(client, distributed.Client):
            self.client = client
        elif isinstance(client, str):
            try:
                self.client = distributed.Client(client, timeout=connect_timeout)
            except (OSError, TimeoutError) as exc:
                raise ClusterError(
                    f"Could not reach a Dask scheduler at client={client!r} within "
                    f"{connect_timeout:g} s ({type(exc).__name__}: {exc}). Start one with "
                    "'dask scheduler' (and workers with 'dask worker ADDRESS'), or pass "
                    "client=None for a LocalCluster on this machine."
                ) from None
            self._own_client = True
        elif client is None:
            self._cluster = distributed.LocalCluster(
                n_workers=n_workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            self.client = distributed.Client(self._cluster)
            self._own_client = True
        else:
            raise InvalidParameterError(
                "client must be a distributed.Client, a scheduler address or None; got "
                f"{type(client).__name__}."
            )
        self._slots: int | None = None
        self._known: dict[str, int] = {}
        self._looked_up = 0.0

    @property
    def n_workers(self) -> int:
        """Worker threads that can take this evaluator's tasks (looked up at most every
        few seconds: a cluster that scales, e.g. through dask-jobqueue, grows)."""
        if self._slots is None or time.monotonic() - self._looked_up > _LOOKUP_SECONDS:
            self._known = self._eligible()
            self._slots = sum(self._known.values()) or 1
            self._looked_up = time.monotonic()
        return self._slots

    def _eligible(self) -> dict[str, int]:
        """Address -> threads of the workers that may run this evaluator's tasks."""
        info = _workers_of(self.client)
        chosen = {}
        for addr, w in info.items():
            if self.workers is not None and not (
                addr in self.workers or w.get("name") in self.workers
            ):
                continue
            offered = w.get("resources", {}) or {}
            if self.resources and any(offered.get(k, 0) < v for k, v in self.resources.items()):
                continue
            chosen[addr] = int(w.get("nthreads", 1))
        return chosen

    def close(self) -> None:
        """Close the client and the local cluster if this evaluator started them."""
        if self._own_client:
            self.client.close()
            self._own_client = False
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def _prepare(self, payload: _Payload) -> dict[str, Any]:
        if payload.token in self._prepared:
            return self._prepared[payload.token]["info"]
        eligible = self._eligible()
        if not eligible:
            n = len(_workers_of(self.client))
            wanted = []
            if self.resources:
                wanted.append(f"resources={self.resources!r}")
            if self.workers is not None:
                wanted.append(f"workers={self.workers!r}")
            raise ClusterError(
                f"No worker of the Dask cluster at {self.client.scheduler.address} can take "
                f"the evaluations: it has {n} worker(s)"
                + (f", none matching {' and '.join(wanted)}" if wanted else "")
                + ". Start workers (e.g. 'dask worker ADDRESS --resources GPU=1')."
            )
        self._known, self._slots = eligible, sum(eligible.values())
        self._looked_up = time.monotonic()
        data: Any = payload.data
        if payload.size > _INLINE_BYTES:  # sent once to every worker, not with each task
            data = self.client.scatter(payload.data, broadcast=True, hash=False)
        info = self._build_everywhere(payload, data, eligible)
        if info is None:  # every preparing worker went away
            raise ClusterError("The Dask workers left while building the problem.")
        self._prepared[payload.token] = {"info": info, "data": data, "built": set(eligible)}
        return info

    def _build_everywhere(
        self, payload: _Payload, data: Any, eligible: dict[str, int] | None = None
    ) -> dict[str, Any] | None:
        """Build the problem on every eligible worker (those that have it return at
        once); the first worker's description of it, or None if all went away."""
        import distributed

        eligible = self._eligible() if eligible is None else eligible
        futures = {
            addr: self.client.submit(
                _prepare_worker,
                payload.token,
                data,
                workers=[addr],
                allow_other_workers=False,
                pure=False,
            )
            for addr in eligible
        }
        distributed.wait(list(futures.values()))
        info = None
        for addr, f in futures.items():
            if f.status == "error":
                raise _build_error(f.exception(), f"the Dask worker {addr}") from f.exception()
            if f.status == "finished" and info is None:
                info = f.result()
        return info

    def _evaluate(self, payload: _Payload, X: torch.Tensor) -> tuple[torch.Tensor, dict]:
        prepared = self._prepared[payload.token]
        data = prepared["data"]
        if self.timeout is not None:  # workers that joined build before the clock runs
            self.n_workers  # noqa: B018 (looks the workers up again when due)
            joined = {a: n for a, n in self._known.items() if a not in prepared["built"]}
            if joined:
                self._build_everywhere(payload, data, joined)
                prepared["built"] |= set(joined)
        chunks = self._chunks(X)
        results: list[Any] = [None] * len(chunks)
        for _ in range(_LOST_ROUNDS):  # chunks whose results died with a worker: again
            todo = [i for i, r in enumerate(results) if r is None]
            if not todo:
                break
            for i, value in self._run_chunks(payload, data, chunks, todo).items():
                results[i] = value
        for i, r in enumerate(results):
            if r is None:
                reason = (
                    f"WorkerDied: its result was lost with its worker {_LOST_ROUNDS} times "
                    "(workers that crash or run out of memory)"
                )
                results[i] = _failed(chunks[i], reason)
        return _assemble(chunks, results)

    def _run_chunks(
        self, payload: _Payload, data: Any, chunks: tuple[torch.Tensor, ...], todo: list[int]
    ) -> dict[int, tuple[torch.Tensor, dict]]:
        """Evaluate the chunks ``todo``; the outcome of each, except those whose result
        was lost (a worker that died after evaluating it)."""
        import distributed

        def submit(i: int):
            return self.client.submit(
                _evaluate_chunk,
                payload.token,
                data,
                chunks[i].numpy(),
                pure=False,
                resources=self.resources,
                workers=self.workers,
                retries=self.retries,
            )

        futures: dict[int, Any] = {}
        late: set[int] = set()
        if self.timeout is None:  # every chunk at once, in one message to the scheduler
            n = len(todo)
            mapped = self.client.map(
                _evaluate_chunk,
                [payload.token] * n,
                [data] * n,
                [chunks[i].numpy() for i in todo],
                pure=False,
                resources=self.resources,
                workers=self.workers,
                retries=self.retries,
            )
            futures = dict(zip(todo, mapped))
            try:  # the usual case: one round trip
                return dict(zip(todo, self.client.gather(list(futures.values()))))
            except Exception:  # the chunks are classified one by one below
                distributed.wait(list(futures.values()))
        else:  # a chunk's clock starts when it is sent: at most one per worker thread
            waiting = todo[::-1]
            running: dict[Any, tuple[int, float]] = {}
            while waiting or running:
                while waiting and len(running) < self.n_workers:
                    i = waiting.pop()
                    futures[i] = f = submit(i)
                    running[f] = (i, time.monotonic() + self.timeout * chunks[i].shape[0])
                left = min(t for _, t in running.values()) - time.monotonic()
                try:
                    distributed.wait(
                        list(running), timeout=max(left, 0.001), return_when="FIRST_COMPLETED"
                    )
                except TimeoutError:
                    pass
                now = time.monotonic()
                for f, (i, deadline) in list(running.items()):
                    if f.done() or now >= deadline:
                        del running[f]
                        if not f.done():
                            late.add(i)
            if late and self.restart_hung:
                self._restart_running([futures[i] for i in sorted(late)])
                self._looked_up = 0.0  # restarted workers have new addresses
                known = set(self._eligible())
                self._build_everywhere(payload, data)  # not on the next chunk's clock
                self._prepared[payload.token]["built"] = known
        out: dict[int, tuple[torch.Tensor, dict]] = {}
        finished = [i for i in todo if i not in late and futures[i].status == "finished"]
        try:
            gathered = self.client.gather([futures[i] for i in finished])
        except Exception:  # a result lost between the wait and the gather: one by one
            gathered = []
            for i in finished:
                try:
                    gathered.append(futures[i].result())
                except Exception:
                    gathered.append(None)
        for i, value in zip(finished, gathered):
            if value is not None:
                out[i] = value
        for i in todo:
            f = futures[i]
            if i in out or (i not in late and f.status != "error"):
                continue  # done, or lost: run again
            if i in late:
                f.cancel()
                reason = (
                    f"EvaluationTimeout: not back within {self.timeout * chunks[i].shape[0]:g} "
                    f"s ({chunks[i].shape[0]} point(s) at timeout={self.timeout:g} s each)"
                )
            else:
                exc = f.exception()
                if isinstance(exc, distributed.KilledWorker):
                    reason = (
                        "WorkerDied: every worker that evaluated it died (a crash of the "
                        f"forward model, or out of memory): {exc}"
                    )
                elif is_forward_model_failure(exc):
                    reason = f"{type(exc).__name__}: {exc}"
                else:
                    raise exc
            out[i] = _failed(chunks[i], reason)
        return out

    def _restart_running(self, late: list) -> None:
        """Restart the workers that are running (or hold) any of the futures ``late``."""
        keys = {f.key for f in late}
        hung = [w for w, held in self.client.processing().items() if keys & set(held)]
        self.client.cancel(late, force=True)
        if hung:
            try:
                self.client.restart_workers(hung, timeout=60)
            except Exception as exc:  # a worker without a nanny cannot be restarted
                import warnings

                from .exceptions import BlackboxOptWarning

                warnings.warn(
                    f"Could not restart the Dask workers {hung} that ran timed-out "
                    f"evaluations ({type(exc).__name__}: {exc}); they stay busy until the "
                    "evaluations return.",
                    BlackboxOptWarning,
                    stacklevel=4,
                )


def _workers_of(client: Any) -> dict[str, dict]:
    """Every worker of the client's cluster: address -> its scheduler_info entry."""
    try:
        return client.scheduler_info(n_workers=-1)["workers"]
    except TypeError:  # distributed before 2025: every worker is listed
        return client.scheduler_info()["workers"]


def _failed(chunk: torch.Tensor, reason: str) -> tuple[torch.Tensor, dict[int, str]]:
    y = torch.full((chunk.shape[0],), math.nan, dtype=chunk.dtype)
    return y, dict.fromkeys(range(chunk.shape[0]), reason)


def _assemble(
    chunks: tuple[torch.Tensor, ...], results: list[tuple[torch.Tensor, dict]]
) -> tuple[torch.Tensor, dict[int, str]]:
    """Concatenate the chunks' losses in order, with the failed rows' reasons."""
    errors: dict[int, str] = {}
    start = 0
    for chunk, (_, errs) in zip(chunks, results):
        for i, reason in errs.items():
            errors[start + i] = reason
        start += chunk.shape[0]
    y = torch.cat([torch.as_tensor(r[0]).to(torch.float64) for r in results])
    return y, errors


def _build_error(exc: BaseException, where: str) -> Exception:
    """The error for a worker that could not build the problem."""
    if isinstance(exc, ImportError):  # MissingDependencyError included
        return MissingDependencyError(
            f"{where} cannot build the problem: {type(exc).__name__}: {exc}. Install the "
            "problem's optional dependency on every worker (the same environment as here)."
        )
    return ClusterError(f"{where} cannot build the problem: {type(exc).__name__}: {exc}")


# -- the problem the optimiser sees ---------------------------------------------------------


class DistributedProblem(Problem):
    """A problem whose batches are evaluated by an :class:`Evaluator`'s workers.

    The optimiser and the history stay in this process; each batch is split into
    chunks, sent to the workers, and gathered back in order. Points that failed on a
    worker raise :class:`~blackbox_opt.PointsFailedError`, with the other points'
    losses, so that ``on_error`` costs only the failed points.

    Parameters
    ----------
    problem : Problem or ProblemSpec
        A problem (pickled once and sent to each worker), or a description the
        workers build it from. With a spec, the start, bounds and ground truth come
        from a worker's copy, so this process needs no renderer.
    evaluator : Evaluator
    local : Problem, optional
        A copy of the problem in this process, for ``param_error`` and ``render``
        (default: ``problem`` when it is one).

    Attributes
    ----------
    inner : Problem or None
        The local copy, if any.

    Examples
    --------
    >>> evaluator = SerialEvaluator()
    >>> evaluator.wrap(ProblemSpec("sphere", dim=2)).dim
    2
    """

    not_differentiable_reason = (
        "its evaluations run on an evaluator's workers, which send back losses only"
    )

    def __init__(
        self,
        problem: Problem | ProblemSpec,
        evaluator: Evaluator,
        *,
        local: Problem | None = None,
    ):
        if not isinstance(problem, (Problem, ProblemSpec)):
            raise InvalidParameterError(
                f"problem must be a Problem or a ProblemSpec; got {type(problem).__name__}."
            )
        if isinstance(problem, DistributedProblem):
            raise InvalidParameterError("The problem is already evaluated by an evaluator.")
        local = problem if local is None and isinstance(problem, Problem) else local
        payload = _Payload(problem)
        info = evaluator._prepare(payload)
        ref = local
        if ref is not None:
            space = ref._space  # a declared space: the bounds come from it
            super().__init__(
                ref.x0,
                None if space is not None else ref.bounds,
                x_opt=ref.x_opt,
                f_opt=ref.f_opt,
                space=space,
                dtype=ref.dtype,
                device=ref.device,
            )
            self.id, self._name = ref.id, ref.name
            self.version = type(ref).version
            self.image_shape = ref.image_shape
            self.cost = ref.cost  # what monitor="auto" reads
            self.hard_bounds = ref.hard_bounds  # what ask reads
        else:
            space = info.get("space")
            super().__init__(
                info["x0"],
                None if space is not None else info["bounds"],
                x_opt=info["x_opt"],
                f_opt=info["f_opt"],
                space=space,
                dtype=info["dtype"],
            )
            self.id, self._name = info["id"], info["name"]
            self.version = info["version"]
            self.image_shape = info["image_shape"]
            self.cost = info.get("cost", "cheap")
            self.hard_bounds = info.get("hard_bounds", True)
        self.__dict__["inner"] = local  # not a submodule: .to() moves this wrapper only
        self.__dict__["evaluator"] = evaluator
        self.__dict__["_payload"] = payload

    @property
    def name(self) -> str:
        """The wrapped problem's name."""
        return self._name

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        y, errors = self.evaluator._evaluate(self._payload, X.detach().cpu())
        y = y.to(device=X.device, dtype=X.dtype)
        if errors:
            first = sorted(errors)[:3]
            reasons = "; ".join(f"point {i}: {errors[i]}" for i in first)
            more = "" if len(errors) <= 3 else f"; and {len(errors) - 3} more"
            raise PointsFailedError(
                f"{len(errors)} of {X.shape[0]} point(s) failed on the evaluator's workers "
                f"({reasons}{more}).",
                losses=y,
                errors=errors,
            )
        return y

    def param_error(self, x: torch.Tensor) -> torch.Tensor | None:
        """The local copy's parameter error (the default one without a local copy).

        Parameters
        ----------
        x : torch.Tensor of shape (D,)

        Returns
        -------
        torch.Tensor or None
        """
        if self.inner is not None:
            return self.inner.param_error(x.to(self.inner.device))
        return super().param_error(x)

    def _render(self, X: torch.Tensor) -> torch.Tensor:
        if self.inner is None:
            raise NotImplementedError(
                f"{self.name} has no copy in this process to render with; build one "
                "(ProblemSpec.build()) and render there."
            )
        return self.inner.render(X.to(self.inner.device))


def get_evaluator(evaluator: Any) -> Evaluator:
    """An :class:`Evaluator` for what ``minimize``/``fit`` were given as ``evaluator``.

    Parameters
    ----------
    evaluator : Evaluator, distributed.Client, str or None
        An evaluator; a Dask client (a :class:`DaskEvaluator` on it); ``"serial"``,
        ``"processes"`` (a :class:`ProcessPoolEvaluator` of one process per CPU) or
        ``"dask"`` (a :class:`DaskEvaluator` on a new LocalCluster); None for serial.

    Returns
    -------
    Evaluator

    Examples
    --------
    >>> type(get_evaluator("serial")).__name__
    'SerialEvaluator'
    """
    if evaluator is None or evaluator == "serial":
        return SerialEvaluator()
    if isinstance(evaluator, Evaluator):
        return evaluator
    if evaluator == "processes":
        return ProcessPoolEvaluator()
    if evaluator == "dask":
        return DaskEvaluator()
    if type(evaluator).__name__ == "Client" and type(evaluator).__module__.startswith(
        "distributed"
    ):
        return DaskEvaluator(evaluator)
    raise InvalidParameterError(
        "evaluator must be an Evaluator, a distributed.Client, 'serial', 'processes' or "
        f"'dask'; got {evaluator!r}."
    )


@contextmanager
def evaluating(
    problem: Problem, evaluator: Any, spec: ProblemSpec | None = None
) -> Iterator[Problem]:
    """The problem to run on, evaluated by ``evaluator``; closes what it started.

    Parameters
    ----------
    problem : Problem
        The problem, built in this process.
    evaluator : Evaluator, distributed.Client, str or None
        See :func:`get_evaluator`. An evaluator made here from a name is closed on
        exit; one that was passed in is left open for the next run.
    spec : ProblemSpec, optional
        What the workers build instead of unpickling ``problem`` (``minimize`` passes
        a registered id with its options).

    Yields
    ------
    Problem
    """
    made = not isinstance(evaluator, Evaluator)
    ev = get_evaluator(evaluator)
    try:
        if isinstance(ev, SerialEvaluator) or isinstance(problem, DistributedProblem):
            yield problem
        else:
            yield DistributedProblem(spec if spec is not None else problem, ev, local=problem)
    finally:
        if made:
            ev.close()
