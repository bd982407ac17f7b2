"""Test problems for the check suites, and the check of the Problem contract."""

from __future__ import annotations

from typing import Any

import torch

from ..problem import FunctionProblem, Problem
from ..space import Array, Categorical, Fixed, Integer, Real, Space
from ._helpers import _assert

__all__ = ["check_problem", "mixed_problem", "quadratic_problem"]


def quadratic_problem(dim: int = 3, *, fail_at: int | None = None, fail_with: Any = None):
    """A small differentiable test problem: ``sum (x - c)^2`` with ``c = (0.5, -0.25, ...)``.

    Parameters
    ----------
    dim : int, default=3
        The dimension.
    fail_at : int, optional
        Make the ``fail_at``-th call (1-based, counting batched calls) misbehave.
    fail_with : exception instance or float, optional
        Raise this exception, or return this value (e.g. NaN) for the whole batch.

    Returns
    -------
    FunctionProblem
        With bounds ``[-2, 2]``, ``x0 = (1, -1, 1, ...)`` and the known optimum.
    """
    centre = torch.tensor([0.5 * (-0.5) ** i for i in range(dim)], dtype=torch.float64)
    calls = {"n": 0}

    def quadratic(X: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        if fail_at is not None and calls["n"] == fail_at:
            if isinstance(fail_with, BaseException):
                raise fail_with
            return torch.full(X.shape[:1], float(fail_with), dtype=X.dtype)
        return ((X - centre) ** 2).sum(-1)

    x0 = torch.tensor([1.0 if i % 2 == 0 else -1.0 for i in range(dim)], dtype=torch.float64)
    return FunctionProblem(
        quadratic,
        x0,
        bounds=(-2.0, 2.0),
        vectorized=True,
        x_opt=centre,
        f_opt=0.0,
        name="quadratic",
    )


def mixed_problem() -> FunctionProblem:
    """A small mixed test problem over every kind of parameter, taken by name.

    ``offset`` real in [-1, 1] (optimum 0.3), ``lr`` log-scale real in [1e-3, 1]
    (optimum 1e-2), ``n`` integer in [1, 4] (optimum 3), ``colour`` categorical of
    red, green, blue (optimum green), ``field`` a 2 x 2 array in [0, 1] (optimum 0.25
    everywhere) and ``weight`` fixed at 2. The loss is
    ``weight / 2 * ((offset - 0.3)^2 + log10(lr / 1e-2)^2 + (n - 3)^2 +
    [colour != green] + sum (field - 0.25)^2)``, vectorised in torch (differentiable in
    the real parameters); its minimum is 0.

    Returns
    -------
    FunctionProblem
        Ten flat coordinates, starting at the space's defaults.
    """
    space = Space(
        offset=Real(-1.0, 1.0, init=-0.5),
        lr=Real(1e-3, 1.0, log=True, init=0.3),
        n=Integer(1, 4, init=1),
        colour=Categorical(["red", "green", "blue"]),
        field=Array((2, 2), 0.0, 1.0, init=0.9),
        weight=Fixed(2.0),
    )

    def mixed(offset, lr, n, colour, field, weight):
        loss = (offset - 0.3) ** 2 + torch.log10(lr / 1e-2) ** 2 + (n - 3).to(offset) ** 2
        loss = loss + (colour != 1).to(offset) + ((field - 0.25) ** 2).sum((1, 2))
        return weight / 2 * loss

    optimum = {"offset": 0.3, "lr": 1e-2, "n": 3, "colour": "green", "field": 0.25}
    return FunctionProblem(
        mixed,
        space=space,
        vectorized=True,
        backend="torch",
        x_opt=optimum,
        f_opt=0.0,
        name="mixed",
    )


def check_problem(problem: Problem, *, batch: int = 4, seed: int = 0) -> None:
    """Check a problem against the Problem contract.

    Batched and single evaluation agree, evaluation is deterministic, the known
    optimum beats the start, and ``render`` has the declared shape.

    Parameters
    ----------
    problem : Problem
    batch : int, default=4
        Points evaluated.
    seed : int, default=0
        Seeds the test points.
    """
    g = torch.Generator(device=problem.device).manual_seed(seed)
    D = problem.dim
    noise = torch.randn(batch, D, generator=g, device=problem.device, dtype=problem.dtype)
    X = problem.x0 + 0.05 * noise
    if problem.bounds is not None:
        X = torch.maximum(torch.minimum(X, problem.bounds[1]), problem.bounds[0])
    with torch.no_grad():
        batched = problem(X)
        singles = torch.stack([problem(x) for x in X])
        again = problem(X)
    _assert(tuple(batched.shape) == (batch,), f"batched shape {tuple(batched.shape)}")
    _assert(
        torch.allclose(batched, singles, rtol=1e-5, atol=1e-7),
        f"B single calls differ from one batched call: {singles} vs {batched}",
    )
    _assert(torch.equal(batched, again), "evaluation is not deterministic")
    if problem.x_opt is not None:
        f_opt = float(problem(problem.x_opt))
        _assert(f_opt < float(problem(problem.x0)), "x_opt is not better than x0")
        if problem.f_opt is not None:
            _assert(
                abs(f_opt - problem.f_opt) <= 1e-6 * max(1.0, abs(problem.f_opt)),
                f"loss at x_opt {f_opt} differs from f_opt {problem.f_opt}",
            )
    if problem.image_shape is not None:
        images = problem.render(X)
        _assert(
            tuple(images.shape) == (batch, *problem.image_shape),
            f"render shape {tuple(images.shape)}",
        )
