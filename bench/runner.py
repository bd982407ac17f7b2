"""Run experiments: methods x problems x seeds, in parallel processes or on Dask, resumable.

Every run writes its history (one row per iteration) to its own Parquet file (CSV when
pyarrow is missing) and then a small JSON record of how it ended; the record is the
mark of a finished run, so a re-run skips it (unless the experiment's settings for that
run, its budget or hyperparameters, the ``version`` of the method's or the
problem's class, or the source code of either class have changed since: then it
runs again), and both are written to a
temporary name and renamed into place, so an interrupted run leaves no partial file
behind. Runs that cannot happen (a method that needs gradients on a problem without
them, a missing optional dependency, too little memory) are recorded as skipped, with
the reason, and stay so; runs whose code raised or whose worker process died are
recorded as failed, and run again only with ``retry_failed=True``
(``--retry-failed``).

While it runs, a run saves its state to a checkpoint beside its record (every 30
seconds, and when it is interrupted or fails; see ``checkpoint`` in
:func:`blackbox_opt.minimize`). A run stopped part way, by Ctrl-C, a killed process or
a lost worker, resumes from there when the runner is started again, and ends as the
uninterrupted run would have: an overnight run loses at most its last 30 seconds. The
checkpoint's name holds a digest of the run's settings, so changed settings start
afresh; it is deleted when the run ends. A resumed run's record has ``resumed`` true,
and its ``wall_time`` counts the last process's share only.

Layout under ``out`` (default ``results``)::

    <scale>/runs/<experiment>/<problem>/<method>/seed<k>.parquet   history
    <scale>/runs/<experiment>/<problem>/<method>/seed<k>.json      the record
    <scale>/runs/<experiment>/<problem>/<method>/seed<k>.x.pt      final point (images)
    <scale>/runs/<experiment>/<problem>/<method>/seed<k>.<digest>.ckpt   while running
    <scale>/history.parquet                                        all histories
    <scale>/runs.csv                                               all records
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from .experiments import (
    EXPERIMENTS,
    Experiment,
    ProblemSpec,
    check_seeds,
    get_experiment,
    runner_scales,
)

__all__ = [
    "TABLE_COLUMNS",
    "Task",
    "code_fingerprint",
    "load_history",
    "load_records",
    "method_version",
    "plan",
    "problem_version",
    "run",
    "run_task",
]

#: The columns of the tidy history table, one row per iteration per run.
TABLE_COLUMNS: tuple[str, ...] = (
    "experiment",
    "problem",
    "method",
    "seed",
    "nit",
    "nfev",
    "time",
    "loss",
    "best",
    "param_error",
    "grad_norm",
    "sigma",
)


@dataclass(frozen=True)
class Task:
    """One run: an experiment's method on one of its problems with one seed.

    Parameters
    ----------
    experiment, problem, method : str
        Names; ``problem`` is the problem's label.
    seed : int
        The run's ``random_state``.
    scale : str
        A scale of the experiment (``"quick"``, ``"full"``, ``"paper"``...).
    problem_id : str
        The registered id.
    problem_options : dict
        Overrides for :func:`blackbox_opt.make_problem`.
    params : dict
        The method's hyperparameters.
    budget : int
        Evaluations.
    max_iter : int or None
        Iterations, when the experiment caps them.
    requires : str or None
        An optional extra the problem needs.
    problem_version : int
        The problem's ``version`` (see :func:`problem_version`) when the run was
        planned: a record made at another version is stale.
    method_version : int
        The method's ``version`` (see :func:`method_version`), likewise.
    problem_code, method_code : str or None
        :func:`code_fingerprint` of the problem's and the method's class when the run
        was planned: a record made by other code is stale.
    method_id : str
        The registered method that runs (see :attr:`Experiment.method_ids`); empty
        means ``method`` itself.
    """

    experiment: str
    problem: str
    method: str
    seed: int
    scale: str
    problem_id: str
    problem_options: dict
    params: dict
    budget: int
    max_iter: int | None = None
    requires: str | None = None
    problem_version: int = 1
    method_version: int = 1
    problem_code: str | None = None
    method_code: str | None = None
    method_id: str = ""

    def stem(self, out: Path) -> Path:
        """The path of this run's files, without suffix."""
        safe = self.problem.replace("/", "_")
        return (
            Path(out)
            / self.scale
            / "runs"
            / self.experiment
            / safe
            / self.method
            / (f"seed{self.seed}")
        )


def plan(
    experiments: Iterable[str | Experiment] | None = None,
    scale: str = "quick",
    seeds: int | Sequence[int] | None = None,
    methods: Sequence[str] | None = None,
    add_methods: Sequence[str] | None = None,
) -> list[Task]:
    """List the runs of some experiments.

    Parameters
    ----------
    experiments : iterable of str or Experiment, optional
        Default: every experiment in :data:`bench.experiments.EXPERIMENTS` that the
        runner runs (its ``command`` is ``"run"``).
    scale : str, default="quick"
        ``"quick"``, ``"full"`` or an experiment's own (see
        :func:`bench.experiments.runner_scales`).
    seeds : int or sequence of int, optional
        Seeds per run, replacing the experiments' own: a number (the seeds ``0`` to
        ``seeds - 1``) or the seeds themselves, e.g. ``[3, 4]`` to run those seeds alone
        on one machine (see :meth:`bench.experiments.Experiment.run_seeds`).
    methods : sequence of str, optional
        Keep only these methods (and the ``add_methods``): each must be one that a
        chosen experiment runs, or one of ``add_methods``.
    add_methods : sequence of str, optional
        Registered methods to add to every chosen experiment that does not list them,
        with their default hyperparameters (the experiment's budgets, seeds and
        iterations).

    Returns
    -------
    list of Task

    Raises
    ------
    ValueError
        For a bad scale or number of seeds, a method that none of the experiments
        runs, an empty ``methods``, or an experiment that another subcommand runs
        (e.g. ``mitsuba``).
    blackbox_opt.UnknownNameError
        For a name in ``add_methods`` that is not a registered method.
    """
    seeds = check_seeds(seeds)
    if experiments:
        chosen = [e if isinstance(e, Experiment) else get_experiment(e) for e in experiments]
    else:
        chosen = [e for e in EXPERIMENTS.values() if e.command == "run" and e.default]
    known = runner_scales(e for e in [*EXPERIMENTS.values(), *chosen] if e.command == "run")
    if scale not in known:
        raise ValueError(f"scale must be one of {known}; got {scale!r}.")
    if not experiments:  # the defaults that have this scale
        chosen = [e for e in chosen if scale in e.scales]
        if not chosen:
            having = [e.name for e in EXPERIMENTS.values() if scale in e.scales]
            raise ValueError(
                f"no experiment that runs by default has the scale {scale!r}; name one of "
                f"those that have it: {', '.join(having)}."
            )
    for e in chosen:
        if e.command != "run":
            raise ValueError(
                f"experiment {e.name!r} runs with 'python -m bench {e.command}', not the runner."
            )
    if add_methods:
        chosen = [_with_methods(e, add_methods) for e in chosen]
    if methods is not None:
        if not methods:
            raise ValueError("methods names no method (to run every method, leave it out).")
        methods = [*methods, *(add_methods or ())]
        known = {method for e in chosen for method in e.methods}
        unknown = [method for method in methods if method not in known]
        if unknown:
            names = ", ".join(repr(e.name) for e in chosen)
            raise ValueError(
                f"unknown methods {unknown}: not a method of the experiments {names}, "
                f"which run {sorted(known)} (to add a method to them, use add_methods, "
                "on the command line --add-methods)."
            )
    tasks = []
    for e in chosen:
        for spec in e.problem_specs(scale):
            for method in e.methods:
                if methods is not None and method not in methods:
                    continue
                if scale == "quick" and (method, spec.label) in e.quick_exclude:
                    continue
                for seed in e.run_seeds(scale, method, seeds):
                    tasks.append(_task(e, spec, method, seed, scale))
    return tasks


def _with_methods(e: Experiment, add: Sequence[str]) -> Experiment:
    """``e`` with the methods ``add`` (registered names or ``module:Class`` paths) that it
    does not list appended."""
    from blackbox_opt import get_method

    for name in add:
        get_method(name)  # an unknown name raises, with suggestions; a path is imported
    extra = tuple(name for name in dict.fromkeys(add) if name not in e.methods)
    return replace(e, methods=(*e.methods, *extra)) if extra else e


def method_version(method: str) -> int:
    """The version of the method registered as ``method``.

    A method class's ``version`` attribute is bumped when a change alters its runs; a
    class without one is at version 1.

    Parameters
    ----------
    method : str

    Returns
    -------
    int
        1 also when the method cannot be loaded (an unknown name, a missing optional
        dependency): its runs then fail or are skipped, with the reason.
    """
    from blackbox_opt.registry import METHODS

    return _registered_version(METHODS, method)


def problem_version(problem_id: str) -> int:
    """The version of the problem registered as ``problem_id``.

    A problem class's ``version`` attribute is bumped when a change alters its losses;
    a class without one is at version 1.

    Parameters
    ----------
    problem_id : str

    Returns
    -------
    int
        1 also when the problem cannot be loaded (an unknown id, a missing optional
        dependency): its runs then fail or are skipped, with the reason.
    """
    from blackbox_opt.registry import PROBLEMS

    return _registered_version(PROBLEMS, problem_id)


def _registered(registry, name: str) -> Any:
    """What ``name`` is registered as (or the ``module:Class`` path names); None when it
    cannot be loaded."""
    from blackbox_opt import BlackboxOptError
    from blackbox_opt.registry import load_entry_point

    try:
        if ":" in name and name not in registry:  # a "module:Class" path
            return load_entry_point(name)
        return registry.entry(name).load()
    except (BlackboxOptError, ImportError, AttributeError):
        return None


def _registered_version(registry, name: str) -> int:
    return int(getattr(_registered(registry, name), "version", 1))


def code_fingerprint(obj: Any) -> str | None:
    """A short hash of the source code of a method or problem class (or factory).

    The hash covers the class and every base class defined in the same module, so an
    edit of the method's own code changes it, while an edit elsewhere (the library's
    shared base classes, another class in the same file) does not: a change there that
    alters runs is marked by bumping the class's ``version``.

    Parameters
    ----------
    obj : class or callable

    Returns
    -------
    str or None
        16 hex digits; None when the source is not available (a class built at run
        time, a compiled extension). Records then fall back on ``version`` alone.
    """
    import hashlib
    import inspect

    if obj is None:
        return None
    owners = [obj]
    if inspect.isclass(obj):
        owners = [c for c in obj.__mro__ if c.__module__ == obj.__module__]
    digest = hashlib.sha256()
    try:
        for owner in owners:
            digest.update(inspect.getsource(owner).encode("utf-8"))
    except (OSError, TypeError):
        return None
    return digest.hexdigest()[:16]


def _task(e: Experiment, spec: ProblemSpec, method: str, seed: int, scale: str) -> Task:
    from blackbox_opt.registry import METHODS, PROBLEMS

    return Task(
        experiment=e.name,
        problem=spec.label,
        method=method,
        seed=seed,
        scale=scale,
        problem_id=spec.id,
        problem_options=dict(spec.options),
        params=e.params(method, spec.label),
        budget=e.budget(scale, spec.label),
        max_iter=e.iterations(scale, method, spec.label),
        requires=spec.requires,
        problem_version=problem_version(spec.id),
        method_version=method_version(e.method_id(method)),
        problem_code=code_fingerprint(_registered(PROBLEMS, spec.id)),
        method_code=code_fingerprint(_registered(METHODS, e.method_id(method))),
        method_id=e.method_id(method),
    )


def _write_atomic(path: Path, write) -> None:
    # the host too: workers of a cluster may share the results folder
    tmp = path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _history_suffix() -> str:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return ".csv"
    return ".parquet"


def _write_table(frame, stem: Path) -> Path:
    """Write ``frame`` atomically as ``stem`` + ``.parquet`` (``.csv`` without pyarrow)."""
    path = stem.with_name(stem.name + _history_suffix())
    if path.suffix == ".parquet":
        _write_atomic(path, lambda p: frame.to_parquet(p, index=False))
    else:
        _write_atomic(path, lambda p: frame.to_csv(p, index=False))
    return path


def run_task(
    task: Task,
    out: str | Path = "results",
    threads: int | None = 1,
    checkpoint_every: int | None = None,
) -> dict:
    """Run one task and write its files; return its record.

    Parameters
    ----------
    task : Task
    out : str or Path, default="results"
    threads : int or None, default=1
        Torch intra-op threads in this process (None: leave as is), and the
        ``n_threads`` of a method that has its own (ZeroGrads' surrogate fit), unless
        the task's parameters set it.
    checkpoint_every : int, optional
        Iterations between saves of the run's checkpoint (default: at most every 30
        seconds).

    Returns
    -------
    dict
        The record: the task's fields plus ``status`` (``"done"``, ``"skipped"`` or
        ``"failed"``), ``reason``, ``fun``, ``param_error``, ``nfev``, ``nit``,
        ``wall_time``, ``message`` and ``resumed`` (whether it went on from a
        checkpoint of an earlier, stopped run).

    Raises
    ------
    KeyboardInterrupt
        When the run is interrupted: its state is in its checkpoint, and no record
        is written, so that the next call resumes it.
    """
    import torch

    import blackbox_opt
    from blackbox_opt import (
        InsufficientMemoryError,
        MissingDependencyError,
        NotDifferentiableError,
        UnsupportedProblemError,
    )
    from blackbox_opt.compare import result_row, run_one
    from blackbox_opt.result import Status

    if threads is not None:
        torch.set_num_threads(threads)
    stem = task.stem(Path(out))
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".started").touch()
    record = _new_record(task)
    checkpoint = _checkpoint_path(task, Path(out))
    for stale in stem.parent.glob(f"{stem.name}.*.ckpt"):  # saved under other settings
        if stale != checkpoint:
            stale.unlink(missing_ok=True)
    record["resumed"] = checkpoint.exists()
    # the first torch optimiser built imports torch._dynamo (about a second): pay it
    # before the clock starts
    torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1e-3)
    options: dict[str, Any] = {}
    if threads is not None and "n_threads" not in task.params and _has_threads(task):
        # a method with threads of its own (ZeroGrads' surrogate) uses the run's
        options["n_threads"] = threads
    if "monitor" not in task.params:  # the figures draw the iterate's loss every iteration
        options["monitor"] = True
    t0 = time.perf_counter()
    try:
        problem = blackbox_opt.make_problem(task.problem_id, **task.problem_options)
        # the same single run as blackbox_opt.compare's
        result = run_one(
            problem,
            task.method_id or task.method,
            seed=task.seed,
            budget=task.budget,
            max_iter=task.max_iter,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
            **options,
            **task.params,
        )
    except (
        NotDifferentiableError,
        UnsupportedProblemError,
        MissingDependencyError,
        InsufficientMemoryError,
        ImportError,
    ) as exc:
        record.update(status="skipped", reason=f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a crash of one run must not end the benchmark
        record.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
    else:
        if result.status == Status.INTERRUPTED:  # Ctrl-C: no record; the next run resumes
            raise KeyboardInterrupt
        checkpoint.unlink(missing_ok=True)  # the run is over: its result is in hand
        record["wall_time"] = time.perf_counter() - t0
        row = result_row(problem, result)
        record.update({k: row[k] for k in ("fun", "param_error", "nfev", "nit", "message")})
        record["dim"] = int(problem.dim)
        frame = result.history.to_pandas()
        for key in ("experiment", "problem", "method", "seed"):
            frame.insert(0, key, getattr(task, key))
        frame = frame[list(TABLE_COLUMNS)]
        record["history"] = _write_table(frame, stem).name
        if problem.image_shape is not None:
            x_path = stem.with_suffix(".x.pt")
            _write_atomic(x_path, lambda p: torch.save(result.x.detach().cpu(), p))
    return _write_record(task, out, record)


def _has_threads(task: Task) -> bool:
    """Whether the task's method takes an ``n_threads`` parameter of its own."""
    from blackbox_opt import get_method

    try:
        return "n_threads" in get_method(task.method_id or task.method).get_params()
    except Exception:  # an unknown method fails in the run itself, with its record
        return False


def _checkpoint_path(task: Task, out: Path) -> Path:
    """Where a run saves its state while it runs, named by its settings: a run stopped
    part way (Ctrl-C, a killed process or worker) resumes from it when run again, and a
    checkpoint saved under other settings is never resumed."""
    spec = json.dumps({k: getattr(task, k) for k in (*_SPEC_FIELDS, "method_id")}, default=str)
    digest = hashlib.sha256(spec.encode()).hexdigest()[:12]
    stem = task.stem(out)
    return stem.with_name(f"{stem.name}.{digest}.ckpt")


def _new_record(task: Task) -> dict[str, Any]:
    return {
        **asdict(task),
        "status": "done",
        "reason": "",
        "fun": math.nan,
        "param_error": math.nan,
        "nfev": 0,
        "nit": 0,
        "wall_time": 0.0,
        "message": "",
    }


def _write_record(
    task: Task, out: str | Path, record: dict | None = None, **fields: Any
) -> dict[str, Any]:
    """Write the run's record (the mark of a finished run) and drop its start mark."""
    record = {**(record or _new_record(task)), **fields}
    stem = task.stem(Path(out))
    text = json.dumps(record, indent=1, default=str)
    _write_atomic(stem.with_suffix(".json"), lambda p: p.write_text(text, encoding="utf-8"))
    stem.with_suffix(".started").unlink(missing_ok=True)
    return record


#: The fields of a task that decide its result: a record made with other values is stale.
_SPEC_FIELDS = (
    "problem_id",
    "problem_options",
    "params",
    "budget",
    "max_iter",
    "problem_version",
    "method_version",
    "problem_code",
    "method_code",
)
#: The values of fields that records written before the field existed had (a record
#: without a code fingerprint was made by unknown code, and is stale).
_SPEC_DEFAULTS = {"problem_version": 1, "method_version": 1}


def _is_done(task: Task, out: Path, retry_failed: bool = False) -> bool:
    """Whether the task has a record made with the same settings (else it runs again).

    With ``retry_failed``, a record of a failed run does not count.
    """
    path = task.stem(out).with_suffix(".json")
    if not path.exists():
        return False
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if retry_failed and record.get("status") == "failed":
        return False
    spec = json.loads(json.dumps({k: getattr(task, k) for k in _SPEC_FIELDS}, default=str))
    return all(record.get(k, _SPEC_DEFAULTS.get(k)) == v for k, v in spec.items())


def _worker(
    task: Task,
    out: str,
    threads: int | None,
    files: tuple[str, ...] = (),
    checkpoint_every: int | None = None,
) -> dict:
    from .experiments import load_experiments

    for path in files:  # a user's experiment file registers its methods in this process
        load_experiments(path)
    return run_task(task, out, threads, checkpoint_every)


def run(
    experiments: Iterable[str | Experiment] | None = None,
    *,
    scale: str = "quick",
    seeds: int | Sequence[int] | None = None,
    jobs: int = 1,
    out: str | Path = "results",
    methods: Sequence[str] | None = None,
    add_methods: Sequence[str] | None = None,
    retry_failed: bool = False,
    threads: int | None = 1,
    progress: bool = True,
    scheduler: Any = None,
    checkpoint_every: int | None = None,
) -> dict[str, Any]:
    """Run the experiments' unfinished runs and gather every run's table.

    Parameters
    ----------
    experiments : iterable of str or Experiment, optional
        Default: all.
    scale : str, default="quick"
        As in :func:`plan`.
    seeds : int or sequence of int, optional
        Seeds per run, a number or the seeds themselves (default: each experiment's own
        at ``scale``; see :func:`plan`).
    jobs : int, default=1
        Worker processes; 1 runs in this process.
    out : str or Path, default="results"
    methods : sequence of str, optional
        Keep only these methods (see :func:`plan`).
    add_methods : sequence of str, optional
        Registered methods to add to the experiments, with their default
        hyperparameters (see :func:`plan`).
    retry_failed : bool, default=False
        Run again the runs recorded as failed (by default they count as finished);
        skipped runs stay skipped.
    threads : int or None, default=1
        Torch intra-op threads per run (None: leave torch's setting).
    progress : bool, default=True
        Show a progress bar.
    scheduler : str or distributed.Client, optional
        Run on Dask instead (see :mod:`bench.cluster`): ``"local"`` for a
        LocalCluster of ``jobs`` worker processes, a scheduler's address, or a
        client. Without it, ``jobs > 1`` runs a process pool on this machine.
    checkpoint_every : int, optional
        Iterations between saves of each run's checkpoint (default: at most every 30
        seconds; see :func:`run_task`).

    Returns
    -------
    dict
        ``ran`` (records of the runs made now), ``skipped_existing`` (how many were
        already finished), ``history`` and ``records`` (paths of the gathered tables).

    Raises
    ------
    RuntimeError
        When called while a worker process imports the main module: with
        ``jobs > 1``, a script that calls this function needs an
        ``if __name__ == "__main__":`` guard.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1; got {jobs}.")
    _check_not_in_bootstrap()
    out = Path(out)
    tasks = plan(experiments, scale, seeds, methods, add_methods)
    todo = [t for t in tasks if not _is_done(t, out, retry_failed)]
    ran: list[dict] = []
    bar = _progress(len(todo), progress)
    try:
        if scheduler is not None:
            from .cluster import run_on_dask

            ran += run_on_dask(todo, out, scheduler, jobs, threads, bar, checkpoint_every)
        elif jobs == 1 or len(todo) <= 1:
            for task in todo:
                bar.set_postfix_str(f"{task.experiment}/{task.problem}/{task.method}/{task.seed}")
                ran.append(run_task(task, out, threads, checkpoint_every))
                bar.update()
        else:
            ran += _run_pool(todo, out, jobs, threads, bar, checkpoint_every)
    finally:
        bar.close()
    paths = gather(out, scale)
    return {"ran": ran, "skipped_existing": len(tasks) - len(todo), **paths}


#: What a script that starts worker processes without a main guard is told.
_NO_MAIN_GUARD = (
    "bench.runner.run with jobs > 1 starts worker processes that import the main "
    "module again (the 'spawn' start method); the script that calls it must do so "
    "under an 'if __name__ == \"__main__\":' guard. Add the guard, or pass jobs=1."
)


def _check_not_in_bootstrap() -> None:
    """Raise when a worker process is importing the main module (a script without guard).

    A spawned process imports the parent's main module as ``__mp_main__`` before it
    runs anything; a script that calls :func:`run` at its top level would otherwise
    plan and start a pool of its own in every worker.
    """
    import multiprocessing
    import sys

    main = sys.modules.get("__main__")
    if (
        multiprocessing.parent_process() is not None
        and getattr(main, "__name__", "") == "__mp_main__"
    ):
        raise RuntimeError(_NO_MAIN_GUARD)


def _run_pool(
    todo: list[Task],
    out: Path,
    jobs: int,
    threads: int | None,
    bar,
    checkpoint_every: int | None = None,
) -> list[dict]:
    """Run tasks in worker processes; a task whose worker dies is recorded as failed.

    A worker killed from outside (out of memory, a crash in native code) breaks the
    whole pool; the tasks that had started then and not finished are recorded as
    failed with that reason, and a fresh pool runs the rest. A pool that breaks before
    any task started (workers that die while starting, e.g. a script without a main
    guard) raises ``RuntimeError``.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    ran: list[dict] = []
    # spawn: a fresh interpreter per worker (forking a process that has started torch's
    # thread pools can deadlock)
    from .experiments import loaded_files

    ctx = multiprocessing.get_context("spawn")
    files = tuple(loaded_files())
    # the largest budgets first, so the pool does not end on one long run
    pending = sorted(todo, key=lambda t: -t.budget)
    for task in pending:  # marks left by an interrupted benchmark: these have not started
        task.stem(out).with_suffix(".started").unlink(missing_ok=True)
    while pending:
        broken = False
        finished: set[int] = set()
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = {
                pool.submit(_worker, task, str(out), threads, files, checkpoint_every): i
                for i, task in enumerate(pending)
            }
            for future in as_completed(futures):
                try:
                    ran.append(future.result())
                    finished.add(futures[future])
                    bar.update()
                except BrokenProcessPool:
                    broken = True
        if not broken:
            break
        rest, died = [], 0
        for i, task in enumerate(pending):
            if i in finished:
                continue
            if task.stem(out).with_suffix(".started").exists():
                reason = "its worker process died (out of memory, or a crash in native code)"
                ran.append(_write_record(task, out, status="failed", reason=reason))
                bar.update()
                died += 1
            else:  # not started (or finished, its result lost with the pool): run it
                rest.append(task)
        if not finished and not died:
            raise RuntimeError(
                "the worker processes died before starting any run. If a script calls "
                f"bench.runner.run: {_NO_MAIN_GUARD}"
            )
        pending = rest
    return ran


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="runs", unit="run", disable=not enabled or total == 0)


def load_records(out: str | Path = "results", scale: str = "quick"):
    """Every run's record at ``scale``, as a DataFrame.

    Parameters
    ----------
    out : str or Path, default="results"
    scale : str, default="quick"

    Returns
    -------
    pandas.DataFrame
        One row per run (finished, skipped or failed).
    """
    import pandas as pd

    root = Path(out) / scale / "runs"
    records = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(root.rglob("*.json"))]
    return pd.DataFrame(records)


def load_history(out: str | Path = "results", scale: str = "quick"):
    """Every finished run's history at ``scale``, as one tidy DataFrame.

    Parameters
    ----------
    out : str or Path, default="results"
    scale : str, default="quick"

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TABLE_COLUMNS`, one row per iteration per run.
    """
    import pandas as pd

    root = Path(out) / scale / "runs"
    frames = []
    for record in sorted(root.rglob("*.json")):
        for suffix in (".parquet", ".csv"):
            path = record.with_suffix(suffix)
            if path.exists():
                read = pd.read_parquet if suffix == ".parquet" else pd.read_csv
                frames.append(read(path))
                break
    if not frames:
        return pd.DataFrame(columns=list(TABLE_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def gather(out: str | Path = "results", scale: str = "quick") -> dict[str, Path]:
    """Write the tables of all runs at ``scale``: ``history`` and ``runs.csv``.

    Parameters
    ----------
    out : str or Path, default="results"
    scale : str, default="quick"

    Returns
    -------
    dict of str to Path
        ``history`` and ``records``.
    """
    base = Path(out) / scale
    base.mkdir(parents=True, exist_ok=True)
    h_path = _write_table(load_history(out, scale), base / "history")
    r_path = base / "runs.csv"
    records = load_records(out, scale)
    _write_atomic(r_path, lambda p: records.to_csv(p, index=False))
    return {"history": h_path, "records": r_path}
