"""Central finite differences, all 2D points of one gradient in one batched call."""

from __future__ import annotations

from numbers import Real
from typing import Any, ClassVar

import torch
from sklearn.utils._param_validation import Interval

from .base import RunState
from .gradient import GradientMethod

__all__ = ["FiniteDifferences"]


class FiniteDifferences(GradientMethod):
    """Gradient descent on central finite differences.

    Each iteration evaluates ``theta +- h e_i`` for every coordinate ``i`` (``2 D``
    points in one batched call), forms ``g_i = (f(theta + h e_i) - f(theta - h e_i))
    / (2 h)`` and hands ``g`` to the torch optimiser. On a plateau the differences are
    zero, like the true gradient; across a discontinuity they are huge. Cost grows
    linearly with D.

    Parameters
    ----------
    h : float, default=1e-3
        The step of the differences, in parameter units.
    lr : float, default=1e-2
        Learning rate of the torch optimiser.
    optimizer, optimizer_options :
        The torch optimiser (Adam by default).
    **kwargs
        The shared parameters of :class:`~blackbox_opt.BaseOptimizer`.

    Examples
    --------
    >>> from blackbox_opt import FunctionProblem
    >>> p = FunctionProblem(lambda x: float(((x - 1.0) ** 2).sum()), x0=[0.0, 0.0])
    >>> opt = FiniteDifferences(lr=0.1, budget=2000, verbose=False).fit(p)
    >>> opt.fun_ < 1e-6
    True
    """

    name = "fd"
    _parameter_constraints: ClassVar[dict] = {"h": [Interval(Real, 0, None, closed="neither")]}

    def __init__(self, *, h: float = 1e-3, **kwargs: Any):
        super().__init__(**kwargs)
        self.h = h

    def _start(self, state: RunState) -> None:
        super()._start(state)
        eye = torch.eye(state.dim, dtype=state.dtype, device=state.device)
        self._offsets = torch.cat([eye, -eye]) * self.h

    def _ask(self) -> torch.Tensor:
        return self._theta.detach() + self._offsets

    def _tell(self, X: torch.Tensor, y: torch.Tensor, grads: torch.Tensor | None) -> dict:
        D = self._state.dim
        grad = (y[:D] - y[D:]) / (2 * self.h)
        return {**self._step(grad), "sigma": self.h}
