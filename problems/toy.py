"""Toy problems: Rosenbrock and the ZeroGrads 1-D Akima spline."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from blackbox_opt import Problem

__all__ = ["Rosenbrock", "Spline1D", "akima_slopes", "hermite_eval"]


class Rosenbrock(Problem):
    """The Rosenbrock function ``sum 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2``.

    A curved narrow valley with its minimum 0 at ``(1, ..., 1)``.

    Parameters
    ----------
    dim : int, default=2
        The dimension (at least 2).
    x0 : array-like of shape (dim,), optional
        The start; default ``(-1.2, 1, -1.2, 1, ...)``, the classic one.
    bounds : array-like, optional
        Default ``[-2, 3]`` in every coordinate.
    dtype : torch.dtype, default=torch.float64
    device : str or torch.device, optional

    Examples
    --------
    >>> p = Rosenbrock()
    >>> p(torch.tensor([[1.0, 1.0], [-1.2, 1.0]], dtype=torch.float64))
    tensor([ 0.0000, 24.2000], dtype=torch.float64)
    """

    id = "rosenbrock"
    default_dim: ClassVar[int] = 2
    differentiable = True
    tags = ("toy", "differentiable")
    hard_bounds = False  # defined everywhere: the bounds frame the search

    def __init__(
        self,
        dim: int = 2,
        *,
        x0: Any = None,
        bounds: Any = (-2.0, 3.0),
        dtype: torch.dtype = torch.float64,
        device: Any = None,
    ):
        if not isinstance(dim, int) or dim < 2:
            raise ValueError(f"Rosenbrock needs dim >= 2; got {dim!r}.")
        if x0 is None:
            x0 = [-1.2 if i % 2 == 0 else 1.0 for i in range(dim)]
        super().__init__(x0, bounds, x_opt=[1.0] * dim, f_opt=0.0, dtype=dtype, device=device)

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        a, b = X[:, :-1], X[:, 1:]
        return (100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2).sum(-1)


#: The ZeroGrads toy: Akima nodes (x, y).
SPLINE_X = (-100.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 100.0)
SPLINE_Y = (9.0, 7.5, 7.0, 6.5, 6.0, 4.0, 3.5, 0.0, 2.0, 1.0, 6.0, 8.0, 9.0)


def akima_slopes(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Akima's node derivatives for nodes ``(x, y)`` (Akima, 1970).

    With secant slopes ``m_i`` extended by two on each side (``m_{-1} = 2 m_0 - m_1``,
    ...), the derivative at node ``i`` is the weighted mean
    ``(|m_{i+1} - m_i| m_{i-1} + |m_{i-1} - m_{i-2}| m_i) / (|m_{i+1} - m_i| +
    |m_{i-1} - m_{i-2}|)``, or the plain mean of ``m_{i-1}`` and ``m_i`` when both
    weights vanish.

    Parameters
    ----------
    x, y : torch.Tensor of shape (n,)
        Increasing nodes and their values (n >= 2).

    Returns
    -------
    torch.Tensor of shape (n,)
    """
    m = (y[1:] - y[:-1]) / (x[1:] - x[:-1])
    if m.shape[0] == 1:
        return m.expand(2).clone()
    left1 = 2 * m[0] - m[1]
    left2 = 2 * left1 - m[0]
    right1 = 2 * m[-1] - m[-2]
    right2 = 2 * right1 - m[-1]
    mm = torch.cat([left2[None], left1[None], m, right1[None], right2[None]])
    # mm[j] is m_{j-2}; node i uses m_{i-2}..m_{i+1} = mm[i..i+3]
    w1 = (mm[3:] - mm[2:-1]).abs()  # |m_{i+1} - m_i|
    w2 = (mm[1:-2] - mm[:-3]).abs()  # |m_{i-1} - m_{i-2}|
    m_prev, m_here = mm[1:-2], mm[2:-1]
    denom = w1 + w2
    safe = torch.where(denom > 0, denom, torch.ones_like(denom))
    weighted = (w1 * m_prev + w2 * m_here) / safe
    return torch.where(denom > 0, weighted, 0.5 * (m_prev + m_here))


def hermite_eval(
    x: torch.Tensor, y: torch.Tensor, slopes: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """Evaluate the cubic Hermite interpolant through ``(x, y)`` with ``slopes`` at ``t``.

    Points outside ``[x[0], x[-1]]`` are extrapolated with the end intervals' cubics.

    Parameters
    ----------
    x, y, slopes : torch.Tensor of shape (n,)
    t : torch.Tensor of any shape

    Returns
    -------
    torch.Tensor of the shape of ``t``
    """
    idx = torch.searchsorted(x.contiguous(), t.detach().contiguous(), right=True) - 1
    idx = idx.clamp(0, x.shape[0] - 2)
    x0, x1 = x[idx], x[idx + 1]
    h = x1 - x0
    s = (t - x0) / h
    s2 = s * s
    s3 = s2 * s
    h00 = 2 * s3 - 3 * s2 + 1
    h10 = s3 - 2 * s2 + s
    h01 = -2 * s3 + 3 * s2
    h11 = s3 - s2
    return h00 * y[idx] + h10 * h * slopes[idx] + h01 * y[idx + 1] + h11 * h * slopes[idx + 1]


class Spline1D(Problem):
    """The ZeroGrads 1-D toy: the square of an Akima spline through fixed nodes.

    The spline passes through ``x = (-100, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 100)``,
    ``y = (9, 7.5, 7, 6.5, 6, 4, 3.5, 0, 2, 1, 6, 8, 9)``; the loss is its value
    squared, with its minimum 0 at ``x = 4`` (``x_opt``) and a local minimum near
    ``x = 6``. The start is ``1.1``. Akima's interpolant undershoots just after the
    node at 4: it dips to -0.021 at 4.06 and crosses zero again at ``x = 4.1163``, so
    the loss has a second exact zero there, behind a bump of height 4.4e-4; the
    ZeroGrads paper reports 4.0 as the optimum, and so does ``x_opt``.

    Parameters
    ----------
    x0 : float, default=1.1
    bounds : pair of float, default=(-2, 8)
    dtype : torch.dtype, default=torch.float64
    device : str or torch.device, optional

    Examples
    --------
    >>> p = Spline1D()
    >>> float(p(torch.tensor([4.0], dtype=torch.float64)))
    0.0
    """

    id = "spline1d"
    default_dim: ClassVar[int] = 1
    differentiable = True
    tags = ("toy", "differentiable", "local-minima")
    hard_bounds = False  # defined everywhere: the bounds frame the search

    def __init__(
        self,
        *,
        x0: Any = 1.1,
        bounds: Any = (-2.0, 8.0),
        dtype: torch.dtype = torch.float64,
        device: Any = None,
    ):
        super().__init__(x0, bounds, x_opt=[4.0], f_opt=0.0, dtype=dtype, device=device)
        nodes = torch.tensor(SPLINE_X, dtype=self.dtype, device=self.device)
        values = torch.tensor(SPLINE_Y, dtype=self.dtype, device=self.device)
        self.register_buffer("nodes", nodes)
        self.register_buffer("values", values)
        self.register_buffer("slopes", akima_slopes(nodes, values))

    def spline(self, t: torch.Tensor) -> torch.Tensor:
        """The Akima interpolant's value at ``t`` (any shape)."""
        return hermite_eval(self.nodes, self.values, self.slopes, t)

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        return self.spline(X[:, 0]) ** 2
