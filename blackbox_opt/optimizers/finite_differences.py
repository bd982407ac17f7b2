"""Central finite differences, all 2D points of one gradient in one batched call."""

from __future__ import annotations

from numbers import Real
from typing import Any, ClassVar

import torch

from ..exceptions import InsufficientMemoryError
from ..scales import is_uniform
from ..utils import available_memory
from ..validation import Interval, PositiveVector
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
    h : float, array-like of shape (D,) or None, default=None
        The step of the differences, in parameter units. None: 1e-3 of each
        parameter's bound width, 1e-3 where it has no finite bounds; a vector gives
        each parameter its own (see :mod:`blackbox_opt.scales`).
    lr : float, array-like of shape (D,) or None, default=None
        Learning rate of the torch optimiser, in parameter units: None is 0.01 of each
        parameter's bound width (0.01 where it has no finite bounds); a vector gives one
        rate per parameter (see :class:`~blackbox_opt.optimizers.GradientMethod`).
    optimizer, optimizer_options :
        The torch optimiser (Adam by default).
    **kwargs
        The shared parameters of :class:`~blackbox_opt.BaseOptimizer`.

    Raises
    ------
    InsufficientMemoryError
        At the start, when the ``2 D x D`` points of one iteration (plus the offsets)
        would take more than half of the available memory (e.g. D = 49,152, a 128 x 128
        texture: 36 GiB): nothing is evaluated, and the message names methods whose
        cost does not grow with D.

    Examples
    --------
    >>> from blackbox_opt import FunctionProblem
    >>> p = FunctionProblem(lambda x: float(((x - 1.0) ** 2).sum()), x0=[0.0, 0.0])
    >>> opt = FiniteDifferences(lr=0.1, budget=2000, verbose=False).fit(p)
    >>> opt.fun_ < 1e-6
    True
    """

    name = "fd"
    #: 2: points sampled beyond the bounds are evaluated on them (``ask`` clamps)
    version: ClassVar[int] = 2
    _parameter_constraints: ClassVar[dict] = {
        "h": [Interval(Real, 0, None, closed="neither"), PositiveVector(), None]
    }
    _derived_state: ClassVar[frozenset[str]] = frozenset({"_offsets", "_h"})

    def __init__(self, *, h: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.h = h

    def _start(self, state: RunState) -> None:
        # the 2D x D offsets and the 2D x D points asked from them
        needed = 4 * state.dim * state.dim * torch.empty((), dtype=state.dtype).element_size()
        free = available_memory() if state.device.type == "cpu" else None
        if free is not None and needed > free // 2:
            raise InsufficientMemoryError(
                f"Finite differences in {state.dim} dimensions evaluate {2 * state.dim} "
                f"points of {state.dim} values per iteration: about {needed / 2**20:,.0f} MiB, "
                f"more than half of the {free / 2**20:,.0f} MiB available. Use a method whose "
                "cost does not grow with D (spsa, prdpt, zerograds)."
            )
        super()._start(state)
        h = self._per_parameter("h", 1e-3, 1e-3)
        self._h = float(h[0]) if is_uniform(h) else h.to(state.dtype)
        eye = torch.eye(state.dim, dtype=state.dtype, device=state.device)
        self._offsets = torch.cat([eye, -eye]) * self._h

    def _ask(self) -> torch.Tensor:
        return self._theta.detach() + self._offsets

    def _tell(self, X: torch.Tensor, y: torch.Tensor, grads: torch.Tensor | None) -> dict:
        D = self._state.dim
        grad = (y[:D] - y[D:]) / (2 * self._h)
        sigma = self._h.mean() if torch.is_tensor(self._h) else self._h
        return {**self._step(grad), "sigma": sigma}
