"""Behaviour of the first methods on problems with known optima."""

import numpy as np
import pytest
import torch

import problems
from blackbox_opt import (
    SPSA,
    Autodiff,
    FiniteDifferences,
    FunctionProblem,
    InsufficientMemoryError,
    NotDifferentiableError,
    RandomSearch,
    UnknownNameError,
    minimize,
)
from blackbox_opt.testing import quadratic_problem


def test_spsa_spall_gains_reach_quadratic_optimum():
    p = quadratic_problem(5)
    res = SPSA(update="spall", budget=6000, random_state=1, verbose=False).fit(p).result_
    assert torch.allclose(res.x_last, p.x_opt, atol=2e-3)


def test_spsa_adam_variant_and_batched_perturbations_on_rosenbrock():
    res = minimize(
        "rosenbrock",
        method="spsa",
        update="optimizer",
        lr=2e-2,
        c=0.1,  # absolute; the default 0.1 of the bound width (0.5) stops at 7e-3
        n_perturbations=4,
        budget=40_000,
        random_state=0,
        verbose=False,
    )
    assert res.fun < 1e-3
    # 4 perturbations = 8 points per batched call
    assert res.nfev == 8 * res.nit


def test_spsa_gradient_estimate_is_unbiased_on_a_linear_function():
    # for f = w.x, (f(x+cD) - f(x-cD)) / 2c * D = (w.D) D, whose mean is w
    w = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    p = FunctionProblem(lambda X: X @ w, torch.zeros(3, dtype=torch.float64), vectorized=True)
    opt = SPSA(n_perturbations=20_000, random_state=0).start(p)
    X = opt.ask()
    y = p(X)
    K = opt.n_perturbations
    estimate = (((y[:K] - y[K:]) / (2 * opt._ck()))[:, None] * opt._delta).mean(0)
    assert torch.allclose(estimate, w, atol=0.05)


def test_fd_gradient_matches_the_analytic_gradient():
    p = problems.make("rosenbrock", dim=4)
    opt = FiniteDifferences(h=1e-5, random_state=0).start(p)
    X = opt.ask()
    assert X.shape == (8, 4)
    y = p(X)
    fd = (y[:4] - y[4:]) / 2e-5
    _, grad = p.value_and_grad(p.x0[None])
    assert torch.allclose(fd, grad[0], rtol=1e-6)


def test_fd_converges_on_rosenbrock():
    # h: a small absolute step (the default, 1e-3 of the bound width 5, leaves a
    # difference bias that stops the run at 2.5e-5)
    res = minimize("rosenbrock", method="fd", lr=2e-2, h=1e-3, budget=20_000, verbose=False)
    assert res.fun < 1e-6


def test_fd_refuses_a_dimension_whose_points_do_not_fit_in_memory(monkeypatch):
    from blackbox_opt.optimizers import finite_differences

    # 2D points of D values, plus the offsets: 4 D^2 float64, 32 MiB at D = 1024
    monkeypatch.setattr(finite_differences, "available_memory", lambda: 40 * 2**20)
    p = quadratic_problem(dim=1024)
    with pytest.raises(InsufficientMemoryError, match=r"2048 points.*spsa, prdpt"):
        minimize(p, "fd", budget=10_000, verbose=False)
    assert p.n_evaluations == 0  # refused before evaluating anything
    monkeypatch.setattr(finite_differences, "available_memory", lambda: 80 * 2**20)
    assert minimize(p, "fd", max_iter=1, verbose=False).nfev == 2048


def test_adam_converges_on_differentiable_rosenbrock():
    res = minimize("rosenbrock", method="adam", lr=2e-2, budget=5000, verbose=False)
    np.testing.assert_allclose(res.x.numpy(), [1.0, 1.0], atol=1e-4)


def test_adam_stays_on_the_rect_plateau():
    p = problems.make("rect")
    res = Autodiff(lr=1e-3, max_iter=500, verbose=False).fit(p).result_
    # the true gradient only carries the sub-pixel aliasing ripple of the flat loss:
    # the iterate stays within a pixel (1/255) of the start and nowhere near the target
    assert torch.allclose(res.x_last, p.x0, atol=1 / 255)
    start_error = float(((p.x0 - p.x_opt) ** 2).mean())
    assert float(((res.x_last - p.x_opt) ** 2).mean()) > 0.9 * start_error


def test_adam_refuses_a_non_differentiable_problem():
    p = FunctionProblem(lambda x: float(np.sum(x**2)), x0=np.ones(2))
    with pytest.raises(NotDifferentiableError, match="not differentiable"):
        Autodiff(max_iter=3, verbose=False).fit(p)


def test_adam_accepts_other_torch_optimisers_by_name_and_class():
    p = quadratic_problem()
    a = Autodiff(optimizer="SGD", lr=0.1, max_iter=200, verbose=False).fit(p)
    b = Autodiff(optimizer=torch.optim.SGD, lr=0.1, max_iter=200, verbose=False).fit(p)
    assert torch.equal(a.x_, b.x_)
    assert a.fun_ < 1e-12
    with pytest.raises(UnknownNameError, match="Did you mean .*'adam'"):
        Autodiff(optimizer="adma", max_iter=2, verbose=False).fit(p)


def test_random_search_uniform_in_bounds_and_gaussian_without():
    p = quadratic_problem()
    opt = RandomSearch(batch_size=500, random_state=0).start(p)
    X = opt.ask()
    assert bool((X >= -2).all() and (X <= 2).all())
    assert X.min() < -1.9 and X.max() > 1.9  # covers the box
    free = FunctionProblem(lambda X: (X**2).sum(-1), torch.zeros(2), vectorized=True)
    opt = RandomSearch(batch_size=4000, sigma=0.5, random_state=0).start(free)
    X = opt.ask()
    assert abs(float(X.std()) - 0.5) < 0.02 and abs(float(X.mean())) < 0.02


def test_random_search_local_mode_beats_global_sampling_in_5d():
    p = quadratic_problem(5)
    glob = RandomSearch(budget=3000, random_state=0, verbose=False).fit(p).fun_
    local = (
        RandomSearch(
            budget=3000,
            sampling="gaussian",
            center="best",
            sigma=0.02,
            random_state=0,
            verbose=False,
        )
        .fit(p)
        .fun_
    )
    assert local < glob
