"""Shared machinery of the methods that step an iterate with a gradient or an estimate.

:class:`GradientMethod` keeps the iterate ``theta`` as a :class:`torch.nn.Parameter`
and hands each gradient to any :mod:`torch.optim` optimiser, chosen by name or class,
projecting back into the bounds after every step.
"""

from __future__ import annotations

from numbers import Real
from typing import Any, ClassVar

import torch

from ..exceptions import InvalidParameterError, UnknownNameError, unknown_name_message
from ..scales import is_uniform
from ..validation import Interval, PositiveVector
from .base import BaseOptimizer, RunState

__all__ = ["GradientMethod", "make_torch_optimizer", "torch_optimizer_class"]


def _torch_optimizers() -> dict[str, type]:
    return {
        name.lower(): obj
        for name, obj in vars(torch.optim).items()
        if isinstance(obj, type)
        and issubclass(obj, torch.optim.Optimizer)
        and obj is not torch.optim.Optimizer
    }


def torch_optimizer_class(spec: str | type) -> type:
    """Return the :mod:`torch.optim` class named by ``spec`` (any case) or ``spec`` itself.

    Parameters
    ----------
    spec : str or type
        ``"adam"``, ``"SGD"``, ``"adamw"``... or a :class:`torch.optim.Optimizer`
        subclass.

    Returns
    -------
    type

    Examples
    --------
    >>> torch_optimizer_class("adam")
    <class 'torch.optim.adam.Adam'>
    """
    if isinstance(spec, type):
        if not issubclass(spec, torch.optim.Optimizer):
            raise InvalidParameterError(
                f"optimizer must be a torch.optim.Optimizer subclass; got {spec.__name__}."
            )
        return spec
    table = _torch_optimizers()
    try:
        return table[str(spec).lower()]
    except KeyError:
        raise UnknownNameError(
            unknown_name_message("torch optimizer", spec, sorted(table))
        ) from None


def make_torch_optimizer(
    spec: str | type, params: list[torch.Tensor], lr: float, options: dict | None
) -> torch.optim.Optimizer:
    """Build a torch optimiser over ``params`` with learning rate ``lr``.

    Parameters
    ----------
    spec : str or type
        See :func:`torch_optimizer_class`.
    params : list of tensors
        The parameters (leaf tensors with ``requires_grad``).
    lr : float
        The learning rate.
    options : dict, optional
        Further constructor arguments (``betas``, ``momentum``...); ``lr`` may not be
        repeated here.

    Returns
    -------
    torch.optim.Optimizer
    """
    options = dict(options or {})
    if "lr" in options:
        raise InvalidParameterError(
            "lr is given both as the method's lr and in optimizer_options; give it once."
        )
    cls = torch_optimizer_class(spec)
    try:
        return cls(params, lr=lr, **options)
    except TypeError as exc:
        raise InvalidParameterError(
            f"optimizer_options {options} do not fit {cls.__name__}: {exc}"
        ) from None


class GradientMethod(BaseOptimizer):
    """Base class of methods that descend a gradient or a gradient estimate.

    Parameters
    ----------
    lr : float, array-like of shape (D,) or None, default=None
        The learning rate of the parameter optimiser, in parameter units (Adam's steps
        are about ``lr`` long in each coordinate). None: 0.01 of each parameter's bound
        width, 0.01 where it has no finite bounds (see :mod:`blackbox_opt.scales`). A
        number applies to every parameter; a vector gives one rate per parameter (the
        optimiser's step is scaled per coordinate, exactly so for torch optimisers whose
        step is proportional to the learning rate: Adam, SGD, RMSprop...).
    optimizer : str or type, default="adam"
        A :mod:`torch.optim` optimiser by name (any case) or class.
    optimizer_options : dict, optional
        Extra arguments of the optimiser (``betas``, ``momentum``...).
    **kwargs
        The shared parameters of :class:`~blackbox_opt.BaseOptimizer`.
    """

    _parameter_constraints: ClassVar[dict] = {
        "lr": [Interval(Real, 0, None, closed="neither"), PositiveVector(), None],
        "optimizer": [str, type],
        "optimizer_options": [dict, None],
    }
    #: Parameter values under which every step goes through the torch optimiser, so
    #: that a caller may supply its own (Meta-SGD's learned per-parameter rates).
    _steps_through_optimizer: ClassVar[dict] = {}
    #: The default learning rate: this fraction of each bound width (absolute without).
    _lr_default: ClassVar[float] = 1e-2
    _derived_state: ClassVar[frozenset[str]] = frozenset({"_lr_base", "_lr_ratio"})

    def __init__(
        self,
        *,
        lr: Any = None,
        optimizer: Any = "adam",
        optimizer_options: dict | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.lr = lr
        self.optimizer = optimizer
        self.optimizer_options = optimizer_options

    def _start(self, state: RunState) -> None:
        self._theta = torch.nn.Parameter(state.x0.clone())
        lr = self._per_parameter("lr", self._lr_default, self._lr_default)
        if is_uniform(lr):  # one rate: the torch optimiser's own
            self._lr_base, self._lr_ratio = float(lr[0]), None
        else:  # per-parameter rates: the largest in the optimiser, the ratios on the step
            self._lr_base = float(lr.max())
            self._lr_ratio = (lr / self._lr_base).to(state.dtype)
        self._torch_optimizer = make_torch_optimizer(
            self.optimizer, [self._theta], self._lr_base, self.optimizer_options
        )

    def _get_state(self) -> dict:
        return {
            **super()._get_state(),
            "theta": self._theta.detach(),
            "torch_optimizer": self._torch_optimizer.state_dict(),
        }

    def _set_state(self, state: dict) -> None:
        super()._set_state(state)
        with torch.no_grad():  # in place: the torch optimiser holds this very tensor
            self._theta.copy_(state["theta"])
        self._torch_optimizer.load_state_dict(state["torch_optimizer"])

    def _step(self, grad: torch.Tensor) -> dict:
        """Apply one optimiser step along ``grad`` and return history info."""
        self._theta.grad = grad.to(self._theta.dtype)
        if self._lr_ratio is None:
            self._torch_optimizer.step()
            with torch.no_grad():
                self._theta.copy_(self._project(self._theta))
        else:
            before = self._theta.detach().clone()
            self._torch_optimizer.step()
            with torch.no_grad():
                step = (self._theta - before) * self._lr_ratio
                self._theta.copy_(self._project(before + step))
        return {"grad_norm": torch.linalg.vector_norm(grad)}

    def _recommend(self) -> torch.Tensor:
        return self._theta.detach()
