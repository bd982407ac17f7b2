"""Random search: uniform samples in the bounds, or Gaussian samples around a centre."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import torch

from ..exceptions import InvalidParameterError
from ..scales import is_uniform
from ..validation import Interval, Options, PositiveVector
from .base import BaseOptimizer, RunState

__all__ = ["RandomSearch"]


class RandomSearch(BaseOptimizer):
    """Random search: uniform in the bounds, or Gaussian around x0 or the best point.

    Each iteration draws ``batch_size`` points and evaluates them in one batched call;
    the recommendation is the best point seen.

    Parameters
    ----------
    batch_size : int, default=16
        Points per iteration.
    sampling : {"auto", "uniform", "gaussian"}, default="auto"
        ``"uniform"`` samples the box of the bounds (which must be finite);
        ``"gaussian"`` samples ``N(centre, sigma^2 I)``; ``"auto"`` is uniform when the
        problem has finite bounds, Gaussian otherwise.
    sigma : float, array-like of shape (D,) or None, default=None
        Standard deviation of the Gaussian samples, in parameter units. None: 0.1 of
        each parameter's bound width, 0.1 where it has no finite bounds; a vector gives
        each parameter its own (see :mod:`blackbox_opt.scales`).
    center : {"x0", "best"}, default="x0"
        Where Gaussian samples are centred: the start, or the best point so far (a
        simple local search).
    **kwargs
        The shared parameters of :class:`~blackbox_opt.BaseOptimizer`.

    Examples
    --------
    >>> from blackbox_opt import FunctionProblem
    >>> p = FunctionProblem(lambda x: float(((x - 0.3) ** 2).sum()), [0.0, 0.0], [-1, 1])
    >>> opt = RandomSearch(budget=2000, random_state=0, verbose=False).fit(p)
    >>> opt.fun_ < 1e-3
    True
    """

    name = "random"
    _stays_in_bounds = True
    _recommends_best = True
    _check_params: ClassVar[dict] = {"batch_size": 4}
    _derived_state: ClassVar[frozenset[str]] = frozenset({"_uniform", "_scale"})
    _parameter_constraints: ClassVar[dict] = {
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "sampling": [Options({"auto", "uniform", "gaussian"})],
        "sigma": [Interval(Real, 0, None, closed="neither"), PositiveVector(), None],
        "center": [Options({"x0", "best"})],
    }

    def __init__(
        self,
        *,
        batch_size: int = 16,
        sampling: str = "auto",
        sigma: Any = None,
        center: str = "x0",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.batch_size = batch_size
        self.sampling = sampling
        self.sigma = sigma
        self.center = center

    def _start(self, state: RunState) -> None:
        finite = state.finite_bounds
        self._uniform = self.sampling == "uniform" or (self.sampling == "auto" and finite)
        if self._uniform and not finite:
            raise InvalidParameterError(
                "sampling='uniform' needs finite bounds on every coordinate."
            )
        sigma = self._per_parameter("sigma", 0.1, 0.1)
        self._scale = float(sigma[0]) if is_uniform(sigma) else sigma.to(state.dtype)

    def _ask(self) -> torch.Tensor:
        return self._draw(self.batch_size)

    def _batch_range(self) -> tuple[int, int]:
        return (1, 2**31 - 1)

    def _ask_n(self, n: int) -> torch.Tensor:
        return self._draw(n)

    def _reask(self, slots: torch.Tensor) -> torch.Tensor:
        return self._draw(slots.numel())

    def _draw(self, n: int) -> torch.Tensor:
        state = self._state
        shape = (n, state.dim)
        if self._uniform:
            u = torch.rand(
                shape, generator=state.generator, device=state.device, dtype=state.dtype
            )
            return state.bounds[0] + u * (state.bounds[1] - state.bounds[0])
        centre = state.x0 if self.center == "x0" else state.best_x
        noise = torch.randn(
            shape, generator=state.generator, device=state.device, dtype=state.dtype
        )
        return self._project(centre + self._scale * noise)

    def _tell(self, X: torch.Tensor, y: torch.Tensor, grads: torch.Tensor | None) -> None:
        return None

    def _recommend(self) -> torch.Tensor:
        return self._state.best_x
