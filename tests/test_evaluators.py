"""The evaluators: the same run on any number of workers, worker loss, failures, errors.

One small LocalCluster serves the module: two worker processes of one thread each, the
second of them offering the abstract resource ``GPU=1``.
"""

import copy
import os
import signal
import sys
import threading
import time

import pandas as pd
import pytest
import torch

from blackbox_opt import (
    ClusterError,
    InvalidParameterError,
    MissingDependencyError,
    NotDifferentiableError,
    PointsFailedError,
    minimize,
)
from blackbox_opt.evaluators import (
    DaskEvaluator,
    DistributedProblem,
    ProblemSpec,
    ProcessPoolEvaluator,
    SerialEvaluator,
    get_evaluator,
    worker_problems,
)
from blackbox_opt.testing.remote import SlowSphere

distributed = pytest.importorskip("distributed")  # the distributed extra, in all
cloudpickle = pytest.importorskip("cloudpickle")  # installed with distributed

# the workers do not import this file: its functions travel by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def cluster():
    import dask

    # one task per worker thread at a time; a chunk whose worker dies twice fails
    settings = {
        "distributed.scheduler.worker-saturation": 1.0,
        "distributed.scheduler.allowed-failures": 1,
    }
    with dask.config.set(settings):
        local = distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        )
    ((_, spec),) = local.new_worker_spec().items()
    spec = copy.deepcopy(spec)
    spec["options"]["resources"] = {"GPU": 1}
    local.worker_spec["gpu"] = spec
    local.scale(2)
    client = distributed.Client(local)
    client.wait_for_workers(2, timeout=120)
    yield client
    client.close()
    local.close()


@pytest.fixture
def client(cluster):
    cluster.wait_for_workers(2, timeout=120)  # a worker killed by a test comes back
    return cluster


@pytest.fixture(scope="module")
def pool():
    with ProcessPoolEvaluator(2) as evaluator:
        yield evaluator


def _addresses(client, name=None):
    info = client.scheduler_info(n_workers=-1)["workers"]
    return sorted(a for a, w in info.items() if name is None or w["name"] == name)


def _run(method, evaluator, budget, **options):
    return minimize(
        SlowSphere(4, noise=0.1, **options.pop("problem", {})),
        method,
        budget=budget,
        random_state=3,
        verbose=False,
        evaluator=evaluator,
        **options,
    )


def _assert_same_run(a, b):
    assert torch.equal(a.x, b.x)
    assert a.fun == b.fun
    assert (a.nfev, a.nit, a.nfail) == (b.nfev, b.nit, b.nfail)
    assert torch.equal(torch.as_tensor(a.history["loss"]), torch.as_tensor(b.history["loss"]))


# one method of each kind: sampling, evolution strategy, gradient estimate, smoothing
# with a surrogate
METHODS = [
    ("random", 64, {"batch_size": 8}),
    ("cmaes", 80, {}),
    ("spsa", 60, {}),
    ("zerograds", 48, {"width": 16, "depth": 2, "lr": 1e-2}),
]


@pytest.mark.parametrize(("method", "budget", "params"), METHODS, ids=[m[0] for m in METHODS])
def test_same_run_serial_one_worker_two_workers(client, method, budget, params):
    serial = _run(method, None, budget, **params)
    one = _run(method, DaskEvaluator(client, workers=_addresses(client)[:1]), budget, **params)
    two = _run(method, DaskEvaluator(client), budget, **params)
    _assert_same_run(serial, one)
    _assert_same_run(serial, two)
    assert serial.fun < SlowSphere(4).evaluate(SlowSphere(4).x0[None]).item()


def test_same_run_on_a_process_pool(pool):
    _assert_same_run(_run("cmaes", None, 60), _run("cmaes", pool, 60))


def test_each_worker_builds_the_problem_once(client):
    evaluator = DaskEvaluator(client)
    problem = evaluator.wrap(ProblemSpec(SlowSphere, dim=3, noise=0.2))
    token = problem._payload.token
    result = minimize(problem, "random", batch_size=8, budget=80, random_state=0, verbose=False)
    stats = [s[token] for s in client.run(worker_problems).values() if token in s]
    assert len(stats) == 2
    assert [s["builds"] for s in stats] == [1, 1]
    assert all(s["evaluations"] > 0 for s in stats)  # both workers took chunks
    assert sum(s["evaluations"] for s in stats) == result.nfev + result.nfev_monitor
    # a spec's start, bounds and ground truth come from a worker's copy
    assert torch.equal(problem.x0, torch.zeros(3, dtype=torch.float64))
    assert problem.param_error(torch.full((3,), 0.5, dtype=torch.float64)) == 0


def test_a_registered_id_is_built_on_the_workers_from_its_id(client):
    evaluator = DaskEvaluator(client)
    result = minimize("sphere", "spsa", dim=3, budget=40, random_state=0, verbose=False,
                      evaluator=evaluator)  # fmt: skip
    serial = minimize("sphere", "spsa", dim=3, budget=40, random_state=0, verbose=False)
    _assert_same_run(serial, result)
    names = {s["name"] for w in client.run(worker_problems).values() for s in w.values()}
    assert "sphere" in names


class _Large(SlowSphere):
    """A problem that pickles to more than a task should carry (a scene's tables)."""

    def __init__(self):
        super().__init__(3, noise=0.1)
        self.register_buffer("table", torch.arange(20_000, dtype=torch.float64))


def test_a_large_problem_is_sent_once_to_every_worker(client):
    options = dict(batch_size=8, budget=32, random_state=0, verbose=False)
    serial = minimize(_Large(), "random", **options)
    evaluator = DaskEvaluator(client)
    problem = evaluator.wrap(_Large())
    assert problem._payload.size > 64 * 2**10
    assert isinstance(evaluator._prepared[problem._payload.token]["data"], distributed.Future)
    _assert_same_run(serial, minimize(problem, "random", **options))


def test_gpu_resources_route_the_work_to_gpu_workers(client):
    evaluator = DaskEvaluator(client, resources={"GPU": 1})
    assert evaluator.n_workers == 1
    problem = evaluator.wrap(ProblemSpec(SlowSphere, dim=2, noise=0.3))
    minimize(problem, "random", batch_size=6, budget=30, random_state=0, verbose=False)
    token = problem._payload.token
    by_worker = client.run(worker_problems)
    (gpu,) = _addresses(client, "gpu")
    assert token in by_worker[gpu]
    assert all(token not in s for a, s in by_worker.items() if a != gpu)


def test_no_worker_with_the_resources_is_an_error_before_the_run(client):
    problem = SlowSphere(2)
    with pytest.raises(ClusterError, match=r"resources=\{'GPU': 4\}"):
        minimize(problem, "random", budget=8, verbose=False,
                 evaluator=DaskEvaluator(client, resources={"GPU": 4}))  # fmt: skip
    assert problem.n_evaluations == 0


def test_failed_points_reach_on_error_as_in_serial(client, pool):
    options = dict(problem={"fail_above": 1.0}, on_error="penalize", penalty=10.0, batch_size=8)
    serial = _run("random", None, 48, **dict(options))
    assert serial.nfail > 0
    _assert_same_run(serial, _run("random", DaskEvaluator(client), 48, **dict(options)))
    _assert_same_run(serial, _run("random", pool, 48, **dict(options)))


def test_failure_under_raise_names_the_points(client):
    with pytest.raises(PointsFailedError, match="point") as info:
        _run("random", DaskEvaluator(client), 48, problem={"fail_above": 1.0}, batch_size=8)
    assert info.value.result is not None
    assert info.value.errors
    assert all("renderer failed" in reason for reason in info.value.errors.values())


def test_a_timeout_hands_the_point_to_the_failure_policy(client):
    evaluator = DaskEvaluator(client, chunk_size=1, timeout=1.0)
    problem = evaluator.wrap(SlowSphere(2, hang_above=1.0, hang=30.0))
    X = torch.tensor([[0.0, 0.0], [1.5, 0.0], [0.5, 0.5]], dtype=torch.float64)
    with pytest.raises(PointsFailedError, match="not back within 1 s") as info:
        problem.evaluate(X)
    assert list(info.value.errors) == [1]
    losses = info.value.losses
    assert losses[1].isnan()
    assert torch.equal(losses[[0, 2]], SlowSphere(2).evaluate(X[[0, 2]]))
    # the hung worker was restarted; in a run, the hung point is penalised, the run goes
    # on and matches the serial run whose forward model raises at that point
    client.wait_for_workers(2)
    seed = dict(budget=16, batch_size=8, random_state=0, verbose=False, on_error="penalize",
                penalty=10.0)  # fmt: skip
    serial = minimize(SlowSphere(2, fail_above=1.5), "random", **seed)
    assert serial.nfail == 1
    timed = minimize(SlowSphere(2, hang_above=1.5, hang=30.0), "random", evaluator=evaluator,
                     **seed)  # fmt: skip
    _assert_same_run(serial, timed)


def test_a_timeout_on_the_process_pool_restarts_it():
    X = torch.tensor([[0.0, 0.0], [1.5, 0.0], [0.5, 0.5]], dtype=torch.float64)
    with ProcessPoolEvaluator(2, chunk_size=1, timeout=2.0) as evaluator:
        problem = evaluator.wrap(SlowSphere(2, hang_above=1.0, hang=60.0))
        with pytest.raises(PointsFailedError, match="not back within 2 s") as info:
            problem.evaluate(X)
        assert list(info.value.errors) == [1]
        assert torch.equal(info.value.losses[[0, 2]], SlowSphere(2).evaluate(X[[0, 2]]))
        # the hung processes were replaced: the next batch is evaluated in full
        assert torch.equal(problem.evaluate(X[[0, 2]]), SlowSphere(2).evaluate(X[[0, 2]]))


def test_a_killed_worker_loses_nothing(client):
    """A worker process killed while it evaluates a chunk: the chunk runs again
    elsewhere and the run ends as the run without the kill."""
    options = dict(problem={"delay": 0.1}, batch_size=8)
    serial = _run("random", None, 40, **dict(options))
    victim = _addresses(client, 0)[0]
    pid = client.run(os.getpid, workers=[victim])[victim]
    killed = threading.Event()

    def kill_during_the_next_batch(intermediate):
        if intermediate.nit == 2 and not killed.is_set():
            killed.set()  # 8 points in 2 chunks take 0.4 s: the kill lands in one
            threading.Timer(0.15, os.kill, (pid, signal.SIGKILL)).start()

    result = _run("random", DaskEvaluator(client), 40, callback=kill_during_the_next_batch,
                  **dict(options))  # fmt: skip
    assert killed.is_set()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the process is gone
    _assert_same_run(serial, result)


def test_a_point_that_kills_every_worker_fails_alone(client):
    evaluator = DaskEvaluator(client, chunk_size=1)
    problem = evaluator.wrap(SlowSphere(2, crash_above=1.0))
    X = torch.tensor([[0.0, 0.0], [1.5, 0.0]], dtype=torch.float64)
    with pytest.raises(PointsFailedError, match="WorkerDied") as info:
        problem.evaluate(X)
    assert list(info.value.errors) == [1]
    assert info.value.losses[0] == SlowSphere(2).evaluate(X[:1])[0]


class _Unpicklable(SlowSphere):
    def __init__(self):
        super().__init__(2)
        self.lock = threading.Lock()


@pytest.mark.parametrize("kind", ["dask", "pool"])
def test_an_unpicklable_problem_is_an_error_before_the_run(client, pool, kind):
    evaluator = DaskEvaluator(client) if kind == "dask" else pool
    problem = _Unpicklable()
    with pytest.raises(InvalidParameterError, match="cannot be sent.*ProblemSpec"):
        minimize(problem, "random", budget=8, verbose=False, evaluator=evaluator)
    assert problem.n_evaluations == 0


def _renderer_on_workers(dim=2):
    """A factory whose problem needs a module that the workers lack."""
    try:
        distributed.get_worker()
    except ValueError:  # here, not on a worker
        return SlowSphere(dim)
    import a_renderer_not_installed_on_the_workers  # noqa: F401


def test_a_worker_without_the_dependency_is_an_error_before_the_run(client):
    evaluator = DaskEvaluator(client)
    with pytest.raises(MissingDependencyError, match="worker tcp://.*a_renderer_not_installed"):
        evaluator.wrap(ProblemSpec(_renderer_on_workers, dim=2))


def test_an_unreachable_scheduler_is_an_error():
    with pytest.raises(ClusterError, match="tcp://127.0.0.1:9.*within 1 s"):
        DaskEvaluator("tcp://127.0.0.1:9", connect_timeout=1)


def test_gradient_methods_refuse_a_distributed_problem(client):
    with pytest.raises(NotDifferentiableError, match="evaluator's workers"):
        minimize("sphere", "adam", dim=2, budget=10, verbose=False,
                 evaluator=DaskEvaluator(client))  # fmt: skip


def test_bad_evaluator_arguments_are_named():
    with pytest.raises(InvalidParameterError, match="evaluator must be"):
        minimize("sphere", "random", dim=2, budget=8, evaluator="gpu", verbose=False)
    with pytest.raises(InvalidParameterError, match="timeout"):
        ProcessPoolEvaluator(2, timeout=-1)
    with pytest.raises(InvalidParameterError, match="chunk_size"):
        SerialEvaluator(chunk_size=0)
    with pytest.raises(InvalidParameterError, match="n_workers"):
        ProcessPoolEvaluator(0)
    with pytest.raises(InvalidParameterError, match="ProblemSpec's problem"):
        ProblemSpec(3)
    assert isinstance(get_evaluator("processes"), ProcessPoolEvaluator)
    assert isinstance(get_evaluator(None), SerialEvaluator)


def test_a_spec_is_built_here_by_the_serial_evaluator():
    problem = SerialEvaluator().wrap(ProblemSpec(SlowSphere, dim=3))
    assert isinstance(problem, SlowSphere) and not isinstance(problem, DistributedProblem)
    assert problem.dim == 3


# -- the benchmark runner on Dask ---------------------------------------------------------


class _RegisterSlowSphere(distributed.WorkerPlugin):
    """Registers the benchmark's slow problem on every worker, restarted ones too."""

    def setup(self, worker):
        from blackbox_opt import register_problem

        register_problem("slow-sphere", SlowSphere, kwargs=SLOW_KWARGS, overwrite=True)


SLOW_KWARGS = {"dim": 3, "delay": 0.05, "noise": 0.1}


def test_the_benchmark_runs_on_dask_and_a_lost_workers_run_resumes_elsewhere(client, tmp_path):
    from bench import runner
    from bench.experiments import Experiment
    from blackbox_opt import register_problem
    from blackbox_opt.registry import PROBLEMS

    slow = Experiment(
        name="slow",
        title="runs of about a second",
        problems=("slow-sphere",),
        methods=("random", "spsa"),
        budgets={"quick": {"default": 24}, "full": {"default": 24}},
        seeds={"quick": 2, "full": 1},
        hyperparams={"random": {"default": {"batch_size": 4}}},  # 6 iterations
    )
    register_problem("slow-sphere", SlowSphere, kwargs=SLOW_KWARGS, overwrite=True)
    client.register_plugin(_RegisterSlowSphere(), name="slow-sphere")
    try:
        serial = runner.run([slow], out=tmp_path / "serial", progress=False)
        victim = _addresses(client, 0)[0]
        pid = client.run(os.getpid, workers=[victim])[victim]
        out = tmp_path / "dask"

        def kill_mid_run():  # once both workers' runs have saved a checkpoint
            deadline = time.monotonic() + 60.0
            while len(list(out.rglob("*.ckpt"))) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(pid, signal.SIGKILL)

        timer = threading.Thread(target=kill_mid_run)
        timer.start()  # the first two runs take about 1.5 s each: one of them is lost
        result = runner.run([slow], out=out, progress=False, scheduler=client, checkpoint_every=1)
        timer.join()
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        key = ["method", "seed"]
        a = pd.DataFrame(serial["ran"]).sort_values(key)[[*key, "status", "fun", "nfev"]]
        b = pd.DataFrame(result["ran"]).sort_values(key)[[*key, "status", "fun", "nfev"]]
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
        assert set(b["status"]) == {"done"}
        # the lost run went on from its checkpoint on another worker, to the same result
        assert pd.DataFrame(result["ran"])["resumed"].sum() == 1
        assert not list(out.rglob("*.ckpt"))
        # every run's files are whole, and no run is left marked as started
        runs = out / "quick" / "runs" / "slow"
        assert len(list(runs.rglob("seed*.json"))) == 4
        assert not list(runs.rglob("*.started"))
        for path in runs.rglob("seed*.parquet"):
            assert len(pd.read_parquet(path)) > 0
        # resumable: nothing runs again
        again = runner.run([slow], out=out, progress=False, scheduler=client)
        assert again["ran"] == [] and again["skipped_existing"] == 4
    finally:
        client.unregister_worker_plugin("slow-sphere")
        PROBLEMS.unregister("slow-sphere")


def test_the_benchmark_command_line_takes_one_cluster(tmp_path, capsys):
    from bench.__main__ import main as bench_main

    argv = ["run", "tiny", "--scheduler", "tcp://x:1", "--cluster", "local"]
    assert bench_main([*argv, "--out", str(tmp_path)]) == 2
    assert "not both" in capsys.readouterr().err
