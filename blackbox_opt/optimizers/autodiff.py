"""The autodiff baseline: a torch optimiser on the problem's own gradient."""

from __future__ import annotations

import torch

from .base import RunState
from .gradient import GradientMethod

__all__ = ["Autodiff"]


class Autodiff(GradientMethod):
    """Gradient descent (Adam by default) on the problem's true gradient.

    The baseline that shows where true gradients stall: on a plateau the gradient is
    exactly zero and the iterate does not move. Each iteration evaluates the loss and
    its gradient at the current iterate (one point, through
    :meth:`~blackbox_opt.Problem.value_and_grad`: torch autograd, or the renderer's
    own derivatives).

    Parameters
    ----------
    lr : float, array-like of shape (D,) or None, default=None
        Learning rate, in parameter units: None is 0.01 of each parameter's bound width
        (0.01 where it has no finite bounds); a vector gives one rate per parameter (see
        :class:`~blackbox_opt.optimizers.GradientMethod`).
    optimizer : str or type, default="adam"
        Any :mod:`torch.optim` optimiser by name or class.
    optimizer_options : dict, optional
        Its extra arguments.
    **kwargs
        The shared parameters of :class:`~blackbox_opt.BaseOptimizer`.

    Raises
    ------
    NotDifferentiableError
        In ``fit`` when the problem is not differentiable.

    Examples
    --------
    >>> import torch
    >>> from blackbox_opt import FunctionProblem
    >>> p = FunctionProblem(lambda x: ((x - 1.0) ** 2).sum(), x0=torch.zeros(2))
    >>> Autodiff(lr=0.1, max_iter=300, verbose=False).fit(p).fun_ < 1e-8
    True
    """

    name = "adam"
    needs_gradient = True

    def _start(self, state: RunState) -> None:
        if state.problem is not None:
            state.problem.require_gradients(f"The {self.name!r} method")
        super()._start(state)

    def _ask(self) -> torch.Tensor:
        return self._theta.detach()[None].clone()

    def _tell(self, X: torch.Tensor, y: torch.Tensor, grads: torch.Tensor | None) -> dict:
        return self._step(grads[0])
