"""Any optimiser of nevergrad's registry, asking a batch of points per iteration."""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.utils._param_validation import Interval

from ..exceptions import InvalidParameterError, UnknownNameError, UnsupportedProblemError
from ..utils import require
from .base import BaseOptimizer, RunState

__all__ = ["Nevergrad"]


class Nevergrad(BaseOptimizer):
    """A nevergrad optimiser (NGOpt, DE, TwoPointsDE, PSO, OnePlusOne, CMA...), by name.

    Each iteration asks nevergrad for ``batch_size`` candidates (the optimiser is built
    with ``num_workers=batch_size``), evaluates them in one batched problem call and
    tells nevergrad every loss. The problem's bounds become bounds of the
    parametrisation (``ng.p.Array.set_bounds``); the parametrisation's random state is
    seeded from ``random_state``; the evaluation budget is passed to nevergrad, whose
    NGOpt chooses its algorithm from it.

    Parameters
    ----------
    optimizer : str, default="NGOpt"
        A name in ``nevergrad.optimizers.registry``; an unknown name lists the closest
        matches.
    batch_size : int, default=8
        Candidates per iteration (nevergrad's ``num_workers``).
    optimizer_options : dict, optional
        Extra keyword arguments of the registry entry's constructor. Most entries are
        preconfigured and take none; a few do (``Portfolio``'s ``config``, ``cGA``'s
        ``arity``). ``parametrization``, ``budget`` and ``num_workers`` are set by the
        wrapper and may not be given here.
    **kwargs
        The shared parameters of :class:`~blackbox_opt.BaseOptimizer`.

    Examples
    --------
    >>> import problems
    >>> res = Nevergrad(optimizer="TwoPointsDE", budget=2000, random_state=0,
    ...                 verbose=False).minimize(problems.make("sphere", dim=3))
    >>> res.fun < 1e-3
    True
    """

    name = "nevergrad"
    _stays_in_bounds = True
    requires = ("baselines",)
    _run_state: ClassVar[tuple[str, ...]] = ("_ng", "_candidates", "_np_state")
    _check_params: ClassVar[dict] = {"optimizer": "TwoPointsDE", "batch_size": 4}
    _parameter_constraints: ClassVar[dict] = {
        "optimizer": [str],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "optimizer_options": [dict, None],
    }

    def __init__(
        self,
        *,
        optimizer: str = "NGOpt",
        batch_size: int = 8,
        optimizer_options: dict | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.optimizer_options = optimizer_options

    def _check_params_consistency(self) -> None:
        both = sorted(set(self.optimizer_options or {}) & {"parametrization", "budget",
                                                            "num_workers"})  # fmt: skip
        if both:
            raise InvalidParameterError(
                f"optimizer_options sets {both}, which the wrapper sets itself (from the "
                "problem, the budget and batch_size); give them there."
            )

    def _start(self, state: RunState) -> None:
        ng = require("nevergrad", "baselines")
        registry = ng.optimizers.registry
        if self.optimizer not in registry:
            close = difflib.get_close_matches(self.optimizer, list(registry), n=5, cutoff=0.6)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownNameError(
                f"Unknown nevergrad optimizer {self.optimizer!r}.{hint} "
                f"nevergrad has {len(registry)}; list them with "
                "sorted(nevergrad.optimizers.registry)."
            )
        budget = state.budget
        if budget is None and self.max_iter is not None:
            budget = self.max_iter * self.batch_size
        if budget is None:
            raise InvalidParameterError(
                "nevergrad's optimisers plan with their budget (NGOpt picks its algorithm "
                "from it): give budget= or max_iter=, not only max_time or target."
            )
        parametrization = ng.p.Array(init=state.x0.double().cpu().numpy())
        # seeded first: nevergrad would otherwise draw a seed from numpy's global
        # generator when the bounds are set
        seed = self._library_seed(state)
        parametrization.random_state = np.random.RandomState(seed)
        # some of nevergrad's algorithms draw from numpy's global generator; they get a
        # private, seeded stream of their own, swapped in around every call
        self._np_state = np.random.RandomState(seed + 1).get_state()
        if state.bounds is not None:
            finite = np.isfinite(state.bounds.double().cpu().numpy())
            if finite.all():
                lower, upper = state.bounds.double().cpu().numpy()
                parametrization.set_bounds(lower=lower, upper=upper)
            elif finite.any():
                raise UnsupportedProblemError(
                    "nevergrad's parametrisation takes finite bounds on every coordinate "
                    "or none; this problem mixes finite and infinite bounds."
                )
        with self._private_numpy():
            self._ng = registry[self.optimizer](
                parametrization=parametrization,
                budget=budget,
                num_workers=self.batch_size,
                **(self.optimizer_options or {}),
            )
        self._candidates: list | None = None

    @contextlib.contextmanager
    def _private_numpy(self) -> Iterator[None]:
        """Run nevergrad with numpy's global generator set to this run's own stream."""
        outside = np.random.get_state()  # noqa: NPY002 - the global generator is the point
        np.random.set_state(self._np_state)  # noqa: NPY002
        try:
            yield
        finally:
            self._np_state = np.random.get_state()  # noqa: NPY002
            np.random.set_state(outside)  # noqa: NPY002

    def _ask(self) -> torch.Tensor:
        state = self._state
        with self._private_numpy():
            self._candidates = [self._ng.ask() for _ in range(self.batch_size)]
        X = torch.from_numpy(np.stack([c.value for c in self._candidates]))
        return X.to(device=state.device, dtype=state.dtype)

    def _tell(self, X: torch.Tensor, y: torch.Tensor, grads: torch.Tensor | None) -> None:
        with self._private_numpy():
            for candidate, loss in zip(self._candidates, y.double().cpu().tolist(), strict=True):
                self._ng.tell(candidate, loss)
        self._candidates = None

    def _recommend(self) -> torch.Tensor:
        state = self._state
        with self._private_numpy():
            value = np.asarray(self._ng.provide_recommendation().value, dtype=np.float64)
        return torch.from_numpy(value).to(device=state.device, dtype=state.dtype)
