"""The PRDPT estimators against brute-force quadrature, and smooth()."""

import math

import numpy as np
import pytest
import torch

from blackbox_opt import EvaluationError, InvalidParameterError
from blackbox_opt.smoothing import draw_offsets, mean_radius, smooth


def f1(x):  # a plateau with a step, plus a slope: (B, 1) -> (B,)
    return (x[:, 0] < 0.5).double() + 0.3 * x[:, 0] ** 2


def f2(x):  # a tilted step in 2-D: (B, 2) -> (B,)
    return (x[:, 0] + 0.5 * x[:, 1] > 0.2).double() * (1.0 + x[:, 1] ** 2)


def gaussian_grad_1d(f, theta, sigma, n=400_001):
    tau = torch.linspace(-8 * sigma, 8 * sigma, n, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (tau / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    dkernel = -tau / sigma**2 * kernel
    values = f((theta - tau)[:, None])
    return torch.trapezoid(dkernel * values, tau).reshape(1)


def gaussian_grad_2d(f, theta, sigma, n=1601):
    t = torch.linspace(-7 * sigma, 7 * sigma, n, dtype=torch.float64)
    T1, T2 = torch.meshgrid(t, t, indexing="ij")
    tau = torch.stack([T1.flatten(), T2.flatten()], 1)
    kernel = torch.exp(-0.5 * (tau**2).sum(1) / sigma**2) / (2 * math.pi * sigma**2)
    values = f(theta - tau)
    d = (t[1] - t[0]) ** 2
    return ((-tau / sigma**2) * (kernel * values)[:, None]).sum(0) * d


def estimate(f, theta, sigma, sampler, antithetic, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    offsets, weights = draw_offsets(
        n,
        theta.shape[0],
        sigma,
        generator=g,
        sampler=sampler,
        antithetic=antithetic,
        dtype=torch.float64,
    )
    per_sample = weights * f(theta - offsets)[:, None]
    if antithetic:  # the pairs are the independent units
        per_sample = 0.5 * (per_sample[:n] + per_sample[n:])
    return per_sample.mean(0), per_sample.std(0) / math.sqrt(per_sample.shape[0])


@pytest.mark.parametrize("sampler", ["radial", "coordinate", "gaussian"])
@pytest.mark.parametrize("antithetic", [True, False])
def test_1d_estimator_matches_quadrature(sampler, antithetic):
    theta, sigma = torch.tensor([0.2], dtype=torch.float64), 0.4
    truth = gaussian_grad_1d(f1, theta, sigma)
    mean, se = estimate(f1, theta, sigma, sampler, antithetic, 200_000)
    assert abs(float(mean - truth)) < 4 * float(se), (mean, truth, se)
    assert float(se) < 0.02 * abs(float(truth))  # the check has teeth


@pytest.mark.parametrize("sampler", ["radial", "gaussian"])
def test_2d_estimator_matches_quadrature(sampler):
    theta, sigma = torch.tensor([0.1, -0.2], dtype=torch.float64), 0.3
    truth = gaussian_grad_2d(f2, theta, sigma)
    mean, se = estimate(f2, theta, sigma, sampler, True, 400_000)
    assert torch.all((mean - truth).abs() < 4 * se), (mean, truth, se)
    assert torch.all(se < 0.02 * truth.abs())


def test_paper_coordinate_sampler_is_a_different_smoothing_in_2d():
    # every coordinate from the derivative density: unbiased only in 1-D
    theta, sigma = torch.tensor([0.1, -0.2], dtype=torch.float64), 0.3
    truth = gaussian_grad_2d(f2, theta, sigma)
    mean, se = estimate(f2, theta, sigma, "coordinate", True, 400_000)
    assert torch.any((mean - truth).abs() > 10 * se)


def test_radial_weights_have_constant_magnitude_and_1d_reduces_to_the_paper():
    _, w = draw_offsets(1000, 5, 0.7, generator=torch.Generator().manual_seed(0))
    norms = torch.linalg.vector_norm(w, dim=1)
    assert torch.allclose(norms, torch.full_like(norms, mean_radius(5, 1.0) / 0.7))
    _, w1 = draw_offsets(1000, 1, 0.7, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(w1.abs(), torch.full_like(w1, math.sqrt(2 / math.pi) / 0.7))


@pytest.mark.parametrize("sampler", ["radial", "coordinate", "gaussian"])
def test_antithetic_pairs_lower_the_variance_at_equal_cost(sampler):
    theta, sigma, n = torch.tensor([0.1, -0.2], dtype=torch.float64), 0.3, 100_000
    _, se_pairs = estimate(f2, theta, sigma, sampler, True, n)  # 2n evaluations
    _, se_plain = estimate(f2, theta, sigma, sampler, False, 2 * n)  # 2n evaluations
    assert torch.all(se_pairs < se_plain), (se_pairs, se_plain)


def test_smooth_is_a_differentiable_function_for_torch_loops():
    theta = torch.tensor([0.0], dtype=torch.float64, requires_grad=True)
    g = smooth(
        lambda X: (X[:, 0] < 0.5).double(),
        sigma=0.3,
        n_samples=8,
        generator=torch.Generator().manual_seed(0),
    )
    opt = torch.optim.Adam([theta], lr=0.05)
    for _ in range(100):
        opt.zero_grad()
        g(theta).backward()
        opt.step()
    assert float(theta.detach()) > 0.5  # left the plateau for the zero-loss side


def test_smooth_backward_equals_the_estimator_and_is_seeded():
    f = lambda X: (X**2).sum(1)  # noqa: E731
    grads = []
    for _ in range(2):
        theta = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
        value = smooth(f, 0.1, n_samples=50_000, generator=torch.Generator().manual_seed(3))(theta)
        (2.0 * value).backward()  # the chain rule scales the estimate
        grads.append(theta.grad.clone())
    assert torch.equal(grads[0], grads[1])
    np.testing.assert_allclose(grads[0].numpy(), [4.0, -8.0], rtol=0.02)


def test_smooth_rejects_bad_input():
    with pytest.raises(InvalidParameterError, match="sigma"):
        smooth(lambda X: X.sum(1), sigma=0)
    with pytest.raises(InvalidParameterError, match="sampler"):
        smooth(lambda X: X.sum(1), sigma=1.0, sampler="sobol")
    with pytest.raises(InvalidParameterError, match=r"shape \(D,\), or a batch of thetas"):
        smooth(lambda X: X.sum(1), sigma=1.0)(torch.zeros(2, 2, 2))
    with pytest.raises(EvaluationError, match=r"must return one loss per point .* \(2,\)"):
        smooth(lambda X: X, sigma=1.0)(torch.zeros(2))
    with pytest.raises(InvalidParameterError, match="sigma holds 3 values; theta has 2"):
        smooth(lambda X: X.sum(1), sigma=[0.1, 0.1, 0.1])(torch.zeros(2))
    with pytest.raises(InvalidParameterError, match="backend"):
        smooth(lambda X: X.sum(1), sigma=1.0, backend="jax")


def test_smooth_takes_what_function_problem_takes():
    """numpy or torch, one point or a batch: the same estimate from the same draws."""
    target = np.array([0.3, -0.2, 0.5])
    forms = {
        "torch batch": (lambda X: ((X - torch.as_tensor(target)) ** 2).sum(1), True, "torch"),
        "numpy batch": (lambda X: ((X - target) ** 2).sum(1), True, "numpy"),
        "numpy point": (lambda x: float(((x - target) ** 2).sum()), False, "numpy"),
        "torch point": (lambda x: ((x - torch.as_tensor(target)) ** 2).sum(), False, "torch"),
    }
    grads = {}
    for name, (f, vectorized, backend) in forms.items():
        theta = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        g = smooth(
            f,
            0.1,
            n_samples=20_000,
            vectorized=vectorized,
            backend=backend,
            generator=torch.Generator().manual_seed(5),
        )
        g(theta).backward()
        grads[name] = theta.grad
    for name, grad in grads.items():
        torch.testing.assert_close(grad, grads["torch batch"], msg=name)
    np.testing.assert_allclose(grads["numpy point"].numpy(), -2 * target, atol=0.02)


def test_smooth_takes_a_batch_of_thetas_and_per_parameter_sigmas():
    f = lambda X: (X**2).sum(1)  # noqa: E731
    thetas = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64, requires_grad=True)
    calls = []

    def counted(X):
        calls.append(X.shape[0])
        return f(X)

    g = smooth(counted, [0.1, 0.3], n_samples=200_000, generator=torch.Generator().manual_seed(1))
    values = g(thetas)
    assert values.shape == (2,) and calls == [2 * 2 * 200_000]  # one call for both thetas
    values.sum().backward()
    np.testing.assert_allclose(thetas.grad.numpy(), 2 * thetas.detach().numpy(), rtol=0.03)
    # E f(theta - tau) = |theta|^2 + sum sigma_i^2 for tau ~ N(0, diag(sigma^2))
    gauss = smooth(
        f,
        [0.1, 0.3],
        n_samples=40_000,
        sampler="gaussian",
        generator=torch.Generator().manual_seed(2),
    )
    expected = (thetas.detach() ** 2).sum(1) + 0.1**2 + 0.3**2
    torch.testing.assert_close(gauss(thetas.detach()), expected, rtol=0.01, atol=0)
    # one theta of a batch of one equals the same theta alone, draw for draw
    one = smooth(f, 0.2, n_samples=3, generator=torch.Generator().manual_seed(4))
    alone = one(thetas.detach()[0])
    batch = smooth(f, 0.2, n_samples=3, generator=torch.Generator().manual_seed(4))
    assert float(batch(thetas.detach()[:1])[0]) == float(alone)
