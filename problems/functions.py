"""Classic benchmark functions with a ``dim`` parameter, for checking the baselines."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from blackbox_opt import Problem

__all__ = ["Ellipsoid", "Rastrigin", "Sphere"]


class _Function(Problem):
    """A benchmark function on ``[low, high]^dim`` with its minimum 0 at the origin."""

    default_dim: ClassVar[int] = 10
    differentiable = True
    default_x0: ClassVar[float] = 1.0
    default_bounds: ClassVar[tuple[float, float]] = (-5.0, 5.0)

    def __init__(
        self,
        dim: int = 10,
        *,
        x0: Any = None,
        bounds: Any = None,
        dtype: torch.dtype = torch.float64,
        device: Any = None,
    ):
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"{type(self).__name__} needs an int dim >= 1; got {dim!r}.")
        super().__init__(
            [self.default_x0] * dim if x0 is None else x0,
            self.default_bounds if bounds is None else bounds,
            x_opt=[0.0] * dim,
            f_opt=0.0,
            dtype=dtype,
            device=device,
        )


class Sphere(_Function):
    """The sphere ``sum x_i^2``: the simplest check of convergence.

    Parameters
    ----------
    dim : int, default=10
    x0 : array-like, optional
        Default ``(1, ..., 1)``.
    bounds : array-like, optional
        Default ``[-5, 5]^dim``.
    dtype : torch.dtype, default=torch.float64
    device : str or torch.device, optional

    Examples
    --------
    >>> float(Sphere(dim=3)(torch.ones(3, dtype=torch.float64)))
    3.0
    """

    id = "sphere"
    tags = ("toy", "differentiable")
    hard_bounds = False  # defined everywhere: the bounds frame the search

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        return (X * X).sum(-1)


class Ellipsoid(_Function):
    """The ill-conditioned ellipsoid ``sum 10^(6 (i-1)/(D-1)) x_i^2`` (condition 1e6).

    Parameters
    ----------
    dim : int, default=10
    x0, bounds, dtype, device :
        As in :class:`Sphere`.

    Examples
    --------
    >>> float(Ellipsoid(dim=2)(torch.ones(2, dtype=torch.float64)))
    1000001.0
    """

    id = "ellipsoid"
    tags = ("toy", "differentiable", "ill-conditioned")
    hard_bounds = False  # defined everywhere: the bounds frame the search

    def __init__(self, dim: int = 10, **kwargs: Any):
        super().__init__(dim, **kwargs)
        exponents = torch.arange(dim, dtype=self.dtype, device=self.device)
        scale = 6.0 / (dim - 1) if dim > 1 else 0.0
        self.register_buffer("weights", 10.0 ** (scale * exponents))

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        return (self.weights * X * X).sum(-1)


class Rastrigin(_Function):
    """Rastrigin ``10 D + sum (x_i^2 - 10 cos(2 pi x_i))``: a regular grid of local minima.

    Parameters
    ----------
    dim : int, default=10
    x0 : array-like, optional
        Default ``(3, ..., 3)``, next to one of the local minima.
    bounds : array-like, optional
        Default ``[-5.12, 5.12]^dim``.
    dtype, device :
        As in :class:`Sphere`.

    Examples
    --------
    >>> float(Rastrigin(dim=2)(torch.zeros(2, dtype=torch.float64)))
    0.0
    """

    id = "rastrigin"
    tags = ("toy", "differentiable", "multimodal")
    hard_bounds = False  # defined everywhere: the bounds frame the search
    default_x0: ClassVar[float] = 3.0
    default_bounds: ClassVar[tuple[float, float]] = (-5.12, 5.12)

    def _evaluate(self, X: torch.Tensor) -> torch.Tensor:
        return (X * X - 10.0 * torch.cos(2.0 * math.pi * X)).sum(-1) + 10.0 * X.shape[-1]
