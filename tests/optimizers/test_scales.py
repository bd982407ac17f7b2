"""Scale-aware defaults, per-parameter scales, scipy-style bounds and monitoring."""

import math

import numpy as np
import pytest
import torch

from blackbox_opt import FunctionProblem, InvalidParameterError, get_method, minimize
from blackbox_opt.scales import resolve_scale

#: three parameters in different units: [-1, 1], [0, 100], unbounded
BOUNDS = [(-1.0, 1.0), (0.0, 100.0), (None, None)]


def wide_problem(**kw):
    return FunctionProblem(
        lambda X: ((X - torch.tensor([0.5, 60.0, 2.0], dtype=X.dtype)) ** 2).sum(1),
        torch.tensor([0.0, 50.0, 0.0], dtype=torch.float64),
        bounds=BOUNDS,
        vectorized=True,
        **kw,
    )


def test_resolve_scale_forms():
    widths = torch.tensor([2.0, 100.0, math.inf], dtype=torch.float64)
    kw = dict(scales=widths, fraction=0.1, absolute=0.5, name="sigma", owner="PRDPT")
    assert resolve_scale(None, **kw).tolist() == [0.2, 10.0, 0.5]
    assert resolve_scale(0.3, **kw).tolist() == [0.3, 0.3, 0.3]
    assert resolve_scale(np.array([1.0, 2.0, 3.0]), **kw).tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(InvalidParameterError, match=r"PRDPT's sigma .* shape \(3,\); got shape"):
        resolve_scale([1.0, 2.0], **kw)
    with pytest.raises(InvalidParameterError, match=r"coordinate\(s\) \[1\]"):
        resolve_scale([1.0, 0.0, 3.0], **kw)


@pytest.mark.parametrize(("method", "fraction"), [("spsa", 0.1), ("fd", 1e-3)])
def test_probe_steps_default_to_fractions_of_each_bound_width(method, fraction):
    p = wide_problem()
    X = get_method(method, random_state=0).start(p).ask()
    # SPSA and FD probe theta +- step: each coordinate's step is its own, a fraction
    # of its bound width, and the absolute default where it has no bounds
    step = (X - p.x0).abs().max(0).values
    np.testing.assert_allclose(step.numpy(), [fraction * 2.0, fraction * 100.0, fraction])


def test_random_search_sigma_defaults_to_a_tenth_of_each_bound_width():
    opt = get_method("random", random_state=0, sampling="gaussian", batch_size=20_000)
    spread = opt.start(wide_problem()).ask().std(0)
    np.testing.assert_allclose(spread.numpy(), [0.2, 10.0, 0.1], rtol=0.03)
    opt = get_method("random", random_state=0, sigma=0.5, sampling="gaussian", batch_size=20_000)
    spread = opt.start(wide_problem()).ask().std(0)  # a number is absolute
    np.testing.assert_allclose(spread.numpy()[1:], [0.5, 0.5], rtol=0.03)


def test_cmaes_sigma0_per_parameter_reaches_pycma():
    cma = pytest.importorskip("cma")
    assert cma
    opt = get_method("cmaes", random_state=0, popsize=4000).start(wide_problem())
    X = opt.ask()
    # a quarter of each bound width, 0.5 where unbounded (before pycma's adaptation);
    # pycma's boundary transform narrows both bounded coordinates alike, so compare
    # their ratio
    spread = X.std(0).numpy()
    assert spread[1] / spread[0] == pytest.approx(25.0 / 0.5, rel=0.05)
    assert spread[2] == pytest.approx(0.5, rel=0.05)
    vector = get_method("cmaes", sigma0=[0.1, 1.0, 2.0], random_state=0, popsize=4000)
    np.testing.assert_allclose(
        vector.start(wide_problem()).ask().std(0).numpy(), [0.1, 1.0, 2.0], rtol=0.05
    )


def test_cma_options_typos_get_the_closest_names():
    pytest.importorskip("cma")
    with pytest.raises(InvalidParameterError, match=r"'tolfunn'.*Did you mean 'tolfun'"):
        minimize(wide_problem(), method="cmaes", cma_options={"tolfunn": 1e-9}, budget=100)
    with pytest.raises(InvalidParameterError, match=r"'Seed' \(seed\), which CMAES sets"):
        minimize(wide_problem(), method="cmaes", cma_options={"Seed": 3}, budget=100)
    # pycma's own spellings (any case, a unique start) are accepted
    res = minimize(
        wide_problem(),
        method="cmaes",
        cma_options={"TolFun": 1e-12, "maxfev": 500},
        budget=2000,
        random_state=0,
        verbose=False,
    )
    assert res.fun < 1e-3


def test_per_parameter_learning_rates_scale_each_step():
    p = wide_problem()
    steps = {}
    for lr in (0.01, [0.01, 1.0, 0.01]):
        opt = get_method("fd", lr=lr, random_state=0).start(p)
        X = opt.ask()
        opt.tell(X, p(X))
        steps[str(lr)] = (opt.recommend() - p.x0).abs()
    # Adam's first step is lr in every coordinate that has a gradient
    np.testing.assert_allclose(steps["0.01"].numpy(), [0.01, 0.01, 0.01], rtol=1e-6)
    np.testing.assert_allclose(steps[str([0.01, 1.0, 0.01])].numpy(), [0.01, 1.0, 0.01], rtol=1e-6)
    # the default: 0.01 of each bound width, 0.01 where unbounded
    opt = get_method("fd", random_state=0).start(p)
    X = opt.ask()
    opt.tell(X, p(X))
    np.testing.assert_allclose(
        (opt.recommend() - p.x0).abs().numpy(), [0.02, 1.0, 0.01], rtol=1e-6
    )


def test_scale_aware_defaults_solve_a_problem_in_mixed_units():
    """The same problem in metres and in millimetres: the defaults find both optima."""
    for unit in (1.0, 1000.0):
        target = torch.tensor([0.3, -0.2], dtype=torch.float64) * unit
        p = FunctionProblem(
            lambda X, t=target, u=unit: (((X - t) / u) ** 2).sum(1),
            torch.zeros(2, dtype=torch.float64),
            bounds=(-unit, unit),
            vectorized=True,
        )
        res = minimize(p, method="prdpt", budget=4000, random_state=0, verbose=False)
        assert float(((res.x_last - target) / unit).abs().max()) < 0.02, unit


def test_minimize_takes_scipy_bounds_for_any_problem():
    import scipy.optimize

    f = lambda x: float(((x - 0.25) ** 2).sum())  # noqa: E731
    for bounds in ([(0, 1)] * 3, scipy.optimize.Bounds(0, 1), (0, 1), [[0] * 3, [1] * 3]):
        res = minimize(
            f,
            x0=np.full(3, 0.5),
            bounds=bounds,
            method="random",
            budget=64,
            random_state=0,
            verbose=False,
        )
        assert np.all((res.x >= 0) & (res.x <= 1))
    with pytest.raises(InvalidParameterError, match=r"x0 has 5 value\(s\) but bounds give 18"):
        minimize(f, x0=np.zeros(5), bounds=[(0, 1)] * 18, method="random", budget=64)
    # for a Problem, bounds replace its own for the run (and scale the defaults)
    p = wide_problem()
    res = minimize(
        p,
        method="random",
        bounds=[(-0.1, 0.1), (49, 51), (-1, 1)],
        budget=64,
        random_state=0,
        verbose=False,
    )
    assert float(res.x[1]) >= 49 and float(res.x[1]) <= 51
    with pytest.raises(InvalidParameterError, match=r"x0 has 2 value\(s\); the problem has 3"):
        minimize(p, method="random", x0=[0.0, 1.0], budget=64)


def test_monitor_auto_follows_the_declared_cost():
    f = lambda X: (X**2).sum(1)  # noqa: E731
    x0 = torch.ones(3, dtype=torch.float64)
    cheap = FunctionProblem(f, x0, vectorized=True)
    costly = FunctionProblem(f, x0, vectorized=True, cost="expensive")
    assert cheap.cost == "cheap" and costly.cost == "expensive"
    assert FunctionProblem(lambda x: float((x**2).sum()), x0).cost == "expensive"
    kw = dict(method="spsa", budget=200, random_state=0, verbose=False)  # 2 points a batch
    every = minimize(cheap, **kw)
    sparse = minimize(costly, **kw)
    assert every.nfev_monitor == every.nit + 1  # the start and every iteration
    # every ceil(10 / 2) = 5 iterations, the start and the final iterate
    assert sparse.nfev_monitor == 1 + every.nit // 5 + (every.nit % 5 != 0)
    assert sparse.nfev_monitor <= 1 + 0.1 * sparse.nfev + 1
    # the method's run is the same: monitoring only reads it
    torch.testing.assert_close(every.x_last, sparse.x_last, rtol=0, atol=0)
    assert minimize(costly, monitor=True, **kw).nfev_monitor == every.nfev_monitor
    assert minimize(cheap, monitor=10, **kw).nfev_monitor == 1 + every.nit // 10 + (
        every.nit % 10 != 0
    )
    assert minimize(cheap, monitor=False, **kw).nfev_monitor == 2
    with pytest.raises(InvalidParameterError, match="monitor"):
        minimize(cheap, monitor="sometimes", **kw)
    with pytest.raises(InvalidParameterError, match="cost"):
        FunctionProblem(f, x0, cost="pricey")
