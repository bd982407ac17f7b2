"""The benchmark's runs on a Dask cluster: ``python -m bench run --scheduler ADDRESS``.

Each unfinished run is one Dask task (submitted as impure: a run is never taken from
a cache) that calls :func:`bench.runner.run_task` on a worker, which writes the run's
files itself, atomically, into the results folder; the workers must see that folder
(a local cluster does; a remote one needs a shared file system) and import the
``bench`` package (run them from the repository root, or with it on ``PYTHONPATH``).

What the process pool of ``--jobs N`` guarantees holds here too. Finished runs are
skipped and stale ones run again (:func:`bench.runner.run` decides before anything is
sent). A worker lost mid-run (killed, out of memory, its machine gone) costs that run
at most its last 30 seconds: the scheduler runs it again on another worker, which goes
on from the run's checkpoint under ``out`` (see :mod:`bench.runner`), and since every
file is written under a temporary name and renamed into place, nothing half-written is
ever left under a run's name. When the scheduler gives up on a run (its workers died
more often than ``distributed.scheduler.allowed-failures``, 3 by default, allows), the
run is submitted once more; if that fails too it is recorded as failed with the
reason, as a run whose process died in the pool is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import BenchError

__all__ = ["connect", "run_on_dask"]


def connect(scheduler: Any, jobs: int = 1) -> tuple[Any, Callable[[], None]]:
    """A Dask client for ``scheduler``, and the function that releases what was started.

    Parameters
    ----------
    scheduler : str or distributed.Client
        ``"local"`` (a :class:`~distributed.LocalCluster` of ``jobs`` worker processes
        with one thread each), a scheduler address (``tcp://host:8786``), or a client.
    jobs : int, default=1
        Worker processes of a local cluster.

    Returns
    -------
    client : distributed.Client
    close : callable
        Closes the client and the cluster if they were started here.

    Raises
    ------
    BenchError
        Without ``dask[distributed]``, or when no scheduler answers at the address.
    """
    try:
        import distributed
    except ImportError:
        raise BenchError(
            "--scheduler and --cluster need Dask: pip install 'blackbox-opt[distributed]' "
            "(without it, --jobs N runs the runs in a process pool on this machine)."
        ) from None
    if isinstance(scheduler, distributed.Client):
        return scheduler, lambda: None
    if scheduler == "local":
        cluster = distributed.LocalCluster(
            n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = distributed.Client(cluster)

        def close() -> None:
            client.close()
            cluster.close()

        return client, close
    if not isinstance(scheduler, str):
        raise BenchError(
            f"scheduler must be 'local', an address or a distributed.Client; got {scheduler!r}."
        )
    try:
        client = distributed.Client(scheduler, timeout=10)
    except (OSError, TimeoutError) as exc:
        raise BenchError(
            f"no Dask scheduler answers at --scheduler {scheduler} ({type(exc).__name__}: "
            f"{exc}); start one with 'dask scheduler' and workers with 'dask worker "
            f"{scheduler}', or use --cluster local."
        ) from None
    return client, client.close


def run_on_dask(
    todo: list,
    out: Path,
    scheduler: Any,
    jobs: int,
    threads: int | None,
    bar,
    checkpoint_every: int | None = None,
) -> list[dict]:
    """Run the tasks ``todo`` as Dask tasks and return their records.

    Parameters
    ----------
    todo : list of bench.runner.Task
        The unfinished runs.
    out : Path
        The results folder (the workers write into it).
    scheduler : str or distributed.Client
        See :func:`connect`.
    jobs : int
        Worker processes of a local cluster.
    threads : int or None
        Torch intra-op threads per run.
    bar : tqdm
        Advanced once per finished run.
    checkpoint_every : int, optional
        Iterations between saves of each run's checkpoint (default: every 30 seconds).

    Returns
    -------
    list of dict
    """
    import distributed

    from .experiments import loaded_files
    from .runner import _worker, _write_record

    client, close = connect(scheduler, jobs)
    out = Path(out).resolve()  # the workers' working folder may be another
    files = tuple(str(Path(f).resolve()) for f in loaded_files())
    # the largest budgets first, so the cluster does not end on one long run
    pending = sorted(todo, key=lambda t: -t.budget)
    for task in pending:  # marks left by an interrupted benchmark: these have not started
        task.stem(out).with_suffix(".started").unlink(missing_ok=True)
    ran: list[dict] = []
    args = (str(out), threads, files, checkpoint_every)
    try:
        futures = {client.submit(_worker, task, *args, pure=False): task for task in pending}
        resubmitted: set[str] = set()
        done = distributed.as_completed(futures)
        for future in done:
            task = futures[future]
            try:
                ran.append(future.result())
            except distributed.KilledWorker as exc:
                key = str(task.stem(out))
                if key not in resubmitted:  # the scheduler gave up on it once: once more
                    resubmitted.add(key)
                    again = client.submit(_worker, task, *args, pure=False)
                    futures[again] = task
                    done.add(again)
                    continue
                reason = (
                    "its worker process died every time it ran (out of memory, or a crash "
                    f"in native code): {exc}"
                )
                ran.append(_write_record(task, out, status="failed", reason=reason))
            except Exception as exc:  # e.g. a worker that cannot import bench
                reason = f"{type(exc).__name__}: {exc}"
                ran.append(_write_record(task, out, status="failed", reason=reason))
            bar.update()
    finally:
        close()
    return ran
