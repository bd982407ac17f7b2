"""PRDPT: the paper's rect acceptance, the sigma schedule, the optimiser choice."""

import numpy as np
import pytest
import torch

import problems
from blackbox_opt import InvalidParameterError, minimize
from blackbox_opt.optimizers.prdpt import PRDPT
from blackbox_opt.testing import quadratic_problem


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
def test_rect_leaves_the_plateau_and_reaches_the_target(seed):
    # the paper's setting: N = 4 antithetic pairs, sigma 0.05, Adam lr 1e-3, 500 iterations
    p = problems.make("rect")
    res = minimize(
        p,
        method="prdpt",
        sigma=0.05,
        n_samples=4,
        lr=1e-3,
        max_iter=500,
        random_state=seed,
        verbose=False,
    )
    assert res.nfev == 4000
    assert float(((res.x - p.x_opt) ** 2).mean()) <= 1e-8
    assert float(((res.x_last - p.x_opt) ** 2).mean()) <= 1e-8


def test_linear_schedule_holds_then_decays_to_sigma_min():
    res = minimize(
        quadratic_problem(),
        method="prdpt",
        sigma=0.5,
        sigma_min=0.01,
        anneal_start=0.5,
        max_iter=100,
        random_state=0,
        verbose=False,
    )
    sigma = res.history["sigma"][1:]  # row 0 is the start
    assert np.all(sigma[:51] == 0.5)
    assert np.all(np.diff(sigma[50:]) < 0)
    assert sigma[-1] == pytest.approx(0.01, rel=1e-9)  # reached at the last iteration


def test_callable_and_constant_schedules():
    res = minimize(
        quadratic_problem(),
        method="prdpt",
        schedule=lambda t: 0.1 / (1 + t),
        max_iter=5,
        random_state=0,
        verbose=False,
    )
    np.testing.assert_allclose(res.history["sigma"][1:], [0.1 / (1 + t) for t in range(5)])
    res = minimize(
        quadratic_problem(),
        method="prdpt",
        schedule="constant",
        sigma=0.2,
        max_iter=5,
        random_state=0,
        verbose=False,
    )
    assert np.all(res.history["sigma"][1:] == 0.2)
    with pytest.raises(InvalidParameterError, match="sigma_min"):
        minimize(quadratic_problem(), method="prdpt", sigma=0.1, sigma_min=0.2, max_iter=2)


def test_batch_is_one_call_of_2n_points_and_any_torch_optimizer_works():
    p = quadratic_problem(4)
    opt = PRDPT(n_samples=3, random_state=0).start(p)
    assert opt.ask().shape == (6, 4)
    res = PRDPT(
        optimizer="sgd", lr=0.05, sigma=0.05, max_iter=400, random_state=0, verbose=False
    ).minimize(p)
    assert torch.allclose(res.x_last, p.x_opt, atol=0.05)
