"""The pycma and nevergrad wrappers against the libraries themselves."""

import math
import sys

import numpy as np
import pytest
import torch

import problems
from blackbox_opt import (
    FunctionProblem,
    InsufficientMemoryError,
    InvalidParameterError,
    MethodError,
    MissingDependencyError,
    UnknownNameError,
    minimize,
)
from blackbox_opt.optimizers import cmaes as cmaes_module
from blackbox_opt.optimizers.cmaes import CMAES
from blackbox_opt.result import Status

cma = pytest.importorskip("cma")
ng = pytest.importorskip("nevergrad")


def test_cmaes_matches_pycma_fmin2_with_the_same_seed_and_budget():
    # popsize for D = 10 is 10: a budget of 600 is 60 populations. Without monitoring
    # the wrapper evaluates the final mean once, as fmin2 does (eval_final_mean).
    p = problems.make("sphere", dim=10)
    ours = minimize(
        p, method="cmaes", random_state=3, budget=600, sigma0=0.5, monitor=False, verbose=False
    )
    options = {
        "seed": 3,
        "maxiter": 60,
        "bounds": [-5.0, 5.0],
        "verbose": -9,
        "verb_log": 0,
        "verb_disp": 0,
    }
    _, es = cma.fmin2(lambda x: float(np.sum(x * x)), p.x0.numpy(), 0.5, options)
    assert es.countiter == ours.nit == 60 and ours.nfev == 600
    assert ours.fun == pytest.approx(es.result.fbest, rel=1e-12, abs=0)
    np.testing.assert_allclose(ours.x_last.numpy(), es.result.xfavorite, rtol=0, atol=1e-12)


@pytest.mark.parametrize("problem_id", ["sphere", "ellipsoid"])
def test_cmaes_reaches_1e_8_on_10d_problems(problem_id):
    res = minimize(
        problem_id, method="cmaes", dim=10, budget=10_000, random_state=0, verbose=False
    )
    assert res.fun <= 1e-8 and res.nfev <= 10_000


def test_cmaes_is_silent_and_leaves_the_global_numpy_generator_alone(
    capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    np.random.seed(0)  # noqa: NPY002 - the legacy global generator is what is checked
    expected = np.random.rand()  # noqa: NPY002
    np.random.seed(0)  # noqa: NPY002
    minimize("sphere", method="cmaes", dim=4, budget=200, random_state=1, verbose=False)
    assert np.random.rand() == expected  # noqa: NPY002
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert list(tmp_path.iterdir()) == []  # no outcmaes/ files


def test_cmaes_population_is_one_batched_call():
    calls = []

    class Counting(problems.functions.Sphere):
        def _evaluate(self, X):
            calls.append(X.shape[0])
            return super()._evaluate(X)

    res = CMAES(popsize=12, max_iter=5, verbose=False).minimize(Counting(dim=6))
    assert calls.count(12) == 5 and res.nfev == 60


def test_cmaes_diagonal_auto_and_memory_check(monkeypatch):
    p = problems.make("sphere", dim=1500)
    opt = CMAES(max_iter=2, random_state=0, verbose=False).fit(p)
    assert opt._es.opts["CMA_diagonal"] is True
    monkeypatch.setattr(cmaes_module, "available_memory", lambda: 2**30)
    big = problems.make("sphere", dim=8000)  # full CMA-ES: 32 * 8000^2 bytes = 1.9 GiB
    with pytest.raises(InsufficientMemoryError, match="diagonal=True"):
        CMAES(diagonal=False, max_iter=1, verbose=False).fit(big)


def test_cmaes_stopped_on_a_plateau_is_not_a_success():
    from blackbox_opt import Status

    # rect's loss is flat almost everywhere: pycma stops on equal losses (tolflatfitness)
    flat = minimize("rect", method="cmaes", random_state=0, verbose=False)
    assert flat.status == Status.STALLED and flat.success is False
    assert "plateau" in flat.message and "tolflatfitness" in flat.message
    assert flat.fun > 0.01  # away from the optimum (0): the message is right
    # starting again with a larger population gets off it, as the message says
    again = minimize("rect", method="cmaes", restarts=3, random_state=0, verbose=False)
    assert again.fun < flat.fun / 10
    # flat at the problem's known optimum (rect's f_opt is 0): that is convergence
    found = minimize("rect", method="cmaes", random_state=1, verbose=False)
    assert found.fun == 0.0 and found.status == Status.CONVERGED and found.success


def test_cmaes_options_pass_through_and_conflicts():
    res = minimize(
        "sphere",
        method="cmaes",
        dim=3,
        cma_options={"tolfun": 1e-3},
        random_state=0,
        verbose=False,
    )
    assert res.status == 5 and res.fun < 1e-1  # pycma's tolfun ended it early
    assert res.success and res.message.endswith("pycma stopped it: tolfun=0.001.")
    with pytest.raises(InvalidParameterError, match="popsize"):
        minimize("sphere", method="cmaes", cma_options={"popsize": 5}, max_iter=2)


def test_cmaes_ipop_restarts_double_the_population_and_spend_the_budget():
    # pycma's maxiter option ends each run after 3 iterations: a restart every 3
    p = problems.make("sphere", dim=10)
    opt = CMAES(restarts=2, cma_options={"maxiter": 3}, random_state=0, verbose=False)
    opt.start(p)
    sizes = []
    while not opt._converged():
        X = opt.ask()
        sizes.append(len(X))
        opt.tell(X, p(X))
    assert sizes == [10] * 3 + [20] * 3 + [40] * 3
    res = opt.result()
    assert res.nit == 9 and list(res.history["restarts"]) == [0, 0, 1, 1, 1, 2, 2, 2, 2]


def test_cmaes_restarts_resume_exactly_across_a_restart():
    import io

    p = problems.make("sphere", dim=6)

    def make():
        return CMAES(
            restarts=3,
            restart_from="best",
            cma_options={"maxiter": 3},
            random_state=4,
            verbose=False,
        ).start(p)

    def drive(opt, n):
        points = []
        for _ in range(n):
            X = opt.ask()
            opt.tell(X, p(X))
            points.append(X)
        return points

    first = make()
    drive(first, 4)  # one restart behind it
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    expected = drive(first, 5)  # another restart ahead
    second = make()
    second.load_state_dict(torch.load(buffer, weights_only=True))
    resumed = drive(second, 5)
    assert [len(X) for X in expected] == [len(X) for X in resumed]
    assert all(torch.equal(a, b) for a, b in zip(expected, resumed, strict=True))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cmaes_with_restarts_goes_below_the_run_pycma_stops(seed):
    # on Rastrigin pycma stops in a local minimum well before the budget
    kw = dict(dim=10, budget=20_000, random_state=seed, verbose=False, monitor=False)
    once = minimize("rastrigin", method="cmaes", **kw)
    ipop = minimize("rastrigin", method="cmaes", restarts=5, **kw)
    assert once.status == 5 and once.nfev < 10_000
    assert ipop.nfev >= 19_000 and ipop.fun < once.fun


def own_nevergrad_loop(x0, bounds, name, seed, budget, batch, sigma):
    param = ng.p.Array(init=x0)
    param.set_bounds(lower=bounds[0], upper=bounds[1])
    param.set_mutation(sigma=sigma)
    param.random_state = np.random.RandomState(seed)
    opt = ng.optimizers.registry[name](parametrization=param, budget=budget, num_workers=batch)
    for _ in range(budget // batch):
        candidates = [opt.ask() for _ in range(batch)]
        for c in candidates:
            opt.tell(c, float(np.sum(c.value**2)))
    return opt.provide_recommendation().value


@pytest.mark.parametrize("name", ["NGOpt", "TwoPointsDE", "OnePlusOne"])
def test_nevergrad_matches_its_own_loop(name):
    p = problems.make("sphere", dim=4)
    res = minimize(
        p,
        method="nevergrad",
        optimizer=name,
        batch_size=4,
        budget=200,
        random_state=7,
        verbose=False,
        monitor=False,
    )
    # the wrapper's default mutation scale: a third of the bound width (10 on sphere),
    # computed as (1 / 3) x 10
    sigma = (1 / 3) * 10.0
    expected = own_nevergrad_loop(p.x0.numpy(), p.bounds.numpy(), name, 7, 200, 4, sigma=sigma)
    np.testing.assert_allclose(res.x_last.numpy(), expected, rtol=0, atol=1e-12)


def test_a_bounded_nevergrad_run_does_not_warn_of_its_own_mutation_scale():
    import warnings

    # the default mutation scale is a third of the width: nevergrad, which asks for at
    # least 3 sigma between the bounds, has nothing to warn of (it did when the bounds
    # were set before the scale, against its own default sigma of 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ng.errors.NevergradRuntimeWarning)
        res = minimize(
            lambda x: float(np.sum((x - 0.3) ** 2)),
            method="nevergrad",
            x0=np.zeros(3),
            bounds=(-1, 1),
            budget=100,
            random_state=0,
            verbose=False,
        )
    assert res.fun < 1e-3


def test_nevergrad_batches_and_unknown_names():
    res = minimize(
        "rastrigin",
        method="nevergrad",
        dim=2,
        batch_size=10,
        budget=300,
        random_state=0,
        verbose=False,
    )
    assert res.nfev == 300 and res.nit == 30
    with pytest.raises(UnknownNameError, match="Did you mean.*'TwoPointsDE'"):
        minimize("sphere", method="nevergrad", optimizer="TwoPointDE", max_iter=1)
    # nevergrad's names ignoring case, when one name matches: the same run
    lower = dict(method="nevergrad", dim=2, budget=60, random_state=0, verbose=False)
    a = minimize("rastrigin", optimizer="oneplusone", **lower)
    b = minimize("rastrigin", optimizer="OnePlusOne", **lower)
    assert a.fun == b.fun and a.nfev == b.nfev == 56  # 7 batches of 8


@pytest.mark.parametrize(("method", "module"), [("cmaes", "cma"), ("nevergrad", "nevergrad")])
def test_missing_library_names_the_extra(method, module, monkeypatch):
    # a None entry in sys.modules makes every import of the module raise ImportError
    monkeypatch.setitem(sys.modules, module, None)
    import blackbox_opt  # the rest of the library still imports and works

    assert math.isfinite(minimize("sphere", method="spsa", max_iter=3, verbose=False).fun)
    with pytest.raises(MissingDependencyError, match=r"blackbox-opt\[baselines\]"):
        minimize("sphere", method=method, max_iter=1, verbose=False)
    assert blackbox_opt.list_methods()  # listing still works


def test_tensors_stay_on_the_problem_device_and_dtype():
    p = problems.make("sphere", dim=3, dtype=torch.float32)
    for method in ("cmaes", "nevergrad"):
        res = minimize(p, method=method, budget=100, random_state=0, verbose=False)
        assert res.x.dtype == torch.float32 and res.x.device == p.device


def test_cmaes_refuses_one_dimensional_problems_clearly():
    from blackbox_opt import UnsupportedProblemError

    with pytest.raises(UnsupportedProblemError, match="at least 2 parameters"):
        minimize("spline1d", method="cmaes", max_iter=2, verbose=False)


def test_nevergrad_leaves_the_global_numpy_generator_alone():
    np.random.seed(0)  # noqa: NPY002 - the legacy global generator is what is checked
    expected = np.random.rand()  # noqa: NPY002
    np.random.seed(0)  # noqa: NPY002
    minimize("sphere", method="nevergrad", dim=3, budget=64, random_state=1, verbose=False)
    assert np.random.rand() == expected  # noqa: NPY002


def test_nevergrad_bad_bounds_budget_and_options_are_clear_errors():
    from blackbox_opt import FunctionProblem, UnsupportedProblemError

    bounds = [[-1.0, -math.inf], [1.0, math.inf]]
    x0 = torch.zeros(2, dtype=torch.float64)
    mixed = FunctionProblem(lambda X: (X**2).sum(1), x0, bounds=bounds, vectorized=True)
    with pytest.raises(UnsupportedProblemError, match="finite bounds on every coordinate"):
        minimize(mixed, method="nevergrad", budget=16, verbose=False)
    with pytest.raises(InvalidParameterError, match="budget= or max_iter="):
        minimize("sphere", method="nevergrad", max_time=1.0, verbose=False)
    with pytest.raises(InvalidParameterError, match="num_workers"):
        minimize("sphere", method="nevergrad", optimizer_options={"num_workers": 2}, budget=8)
    res = minimize("sphere", method="nevergrad", max_iter=5, batch_size=4, verbose=False)
    assert res.nfev == 20  # the budget nevergrad plans with is max_iter x batch_size


def test_nevergrads_diagonal_cma_failure_is_explained_and_keeps_the_best_point():
    # nevergrad's own bug (its issue 1690): CMAbounded in 300-D asked for 2 at a time
    p = FunctionProblem(
        lambda X: (X**2).sum(1), torch.full((300,), 0.5), bounds=(-1.0, 1.0), vectorized=True
    )
    with pytest.raises(MethodError, match="issue 1690.*method='cmaes'") as info:
        minimize(
            p,
            method="nevergrad",
            optimizer="CMAbounded",
            batch_size=2,
            budget=20_000,
            random_state=0,
            verbose=False,
        )
    assert isinstance(info.value.__cause__, RuntimeError)
    result = info.value.result
    assert result is not None and result.status == Status.ERROR and 0 < result.nfev < 20_000
    assert result.fun < float(p(p.x0[None])[0])  # the best point of the iterations before
    assert result.fun == pytest.approx(float(p(result.x[None])[0]))


_CMA_RUN = """
import sys, torch
from blackbox_opt import CMAES

f = lambda X: ((X - 0.3) ** 2).sum(1)
opt = CMAES(random_state=0, popsize=6)
if sys.argv[1] == "save":
    opt.start(x0=[0.5, 0.5, 0.05], bounds=(0, 0.55))
    for _ in range(3):
        X = opt.ask()
        opt.tell(X, f(X))
    X = opt.ask()
    opt.tell(X[:2], f(X[:2]))  # saved part way through a batch
    torch.save(opt.state_dict(), sys.argv[2])
    sys.exit()
if sys.argv[1] == "resume":
    opt.load_state_dict(torch.load(sys.argv[2], weights_only=True))
    opt.start(x0=[0.5, 0.5, 0.05], bounds=(0, 0.55))
else:  # in one go
    opt.start(x0=[0.5, 0.5, 0.05], bounds=(0, 0.55))
    for _ in range(3):
        X = opt.ask()
        opt.tell(X, f(X))
X = opt.ask()
opt.tell(X, f(X))
for _ in range(5):
    X = opt.ask()
    opt.tell(X, f(X))
print(repr(opt.result().fun), opt.recommend().tolist())
"""


def test_cmaes_resumes_a_batch_exactly_in_a_new_process(tmp_path):
    # pycma files asked solutions under hash(bytes), salted per process: a state saved
    # part way through a batch, where bounds repaired points, must still resume exactly
    import os
    import subprocess

    script = tmp_path / "run.py"
    script.write_text(_CMA_RUN, encoding="utf-8")
    state = str(tmp_path / "state.pt")

    def run(*args, hash_seed):
        env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
        out = subprocess.run(
            [sys.executable, str(script), *args], env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    run("save", state, hash_seed=1)
    straight = run("straight", hash_seed=5)
    assert run("resume", state, hash_seed=2) == straight
    assert run("resume", state, hash_seed=3) == straight
