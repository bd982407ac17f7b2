"""Any optimiser of nevergrad's registry, asking a batch of points per iteration."""

from __future__ import annotations

import contextlib
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch

from ..checkpoint import pickle_library_object, unpickle_library_object
from ..exceptions import (
    InvalidParameterError,
    MethodError,
    UnknownNameError,
    UnsupportedProblemError,
    did_you_mean,
)
from ..scales import is_uniform
from ..utils import require
from ..validation import Interval, PositiveVector
from .base import BaseOptimizer, RunState

__all__ = ["Nevergrad"]

#: Constructor arguments the wrapper sets itself.
_OWN_OPTIONS = frozenset({"parametrization", "budget", "num_workers"})


class Nevergrad(BaseOptimizer):
    """A nevergrad optimiser (NGOpt, DE, TwoPointsDE, PSO, OnePlusOne, CMA...), by name.

    Each iteration asks nevergrad for ``batch_size`` candidates (the optimiser is built
    with ``num_workers=batch_size``), evaluates them in one batched problem call and
    tells nevergrad every loss. The problem's bounds become bounds of the
    parametrisation (``ng.p.Array.set_bounds``); a problem that declares a
    :class:`~blackbox_opt.Space` is searched through nevergrad's own parameters instead
    (``Scalar``, ``Log``, ``Scalar.set_integer_casting`` for integers, ``Choice`` for
    categoricals, ``Array`` for blocks; :meth:`~blackbox_opt.Space.to_nevergrad`),
    and every candidate is handed to the problem as its flat vector. The
    parametrisation's random state is
    seeded from ``random_state``; the evaluation budget is passed to nevergrad, whose
    NGOpt chooses its algorithm from it.

    Parameters
    ----------
    optimizer : str, default="NGOpt"
        A name in ``nevergrad.optimizers.registry``, matched ignoring case when only
        one name matches that way (``"oneplusone"`` is ``"OnePlusOne"``); an unknown
        name lists the closest matches.
    batch_size : int, default=8
        Candidates per iteration (nevergrad's ``num_workers``).
    sigma : float, array-like of shape (D,) or None, default=None
        The parametrisation's mutation scale (``ng.p.Array.set_mutation``), in
        parameter units: the step size of nevergrad's mutations and the unit of its
        standardised space. None: a third of each parameter's bound width, 1 without
        bounds (nevergrad's own default); a vector gives each parameter its own. For a
        problem with a declared parameter space, nevergrad's own parameters keep their
        own scales (a sixth of a bounded real's range) and this is not used. A
        third is the widest scale nevergrad accepts without its warning that the
        bounds should be at least 3 sigma apart; its own default for an array built
        with both bounds, a sixth, kept NGOpt on the plateau of ``rect`` on 2 of 3 seeds
        at 1,000 evaluations, a third on 1 of 3, half the width on none.
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
    _check_params: ClassVar[dict] = {"optimizer": "TwoPointsDE", "batch_size": 4}
    _parameter_constraints: ClassVar[dict] = {
        "optimizer": [str],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "sigma": [Interval(Real, 0, None, closed="neither"), PositiveVector(), None],
        "optimizer_options": [dict, None],
    }

    def __init__(
        self,
        *,
        optimizer: str = "NGOpt",
        batch_size: int = 8,
        sigma: Any = None,
        optimizer_options: dict | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.sigma = sigma
        self.optimizer_options = optimizer_options

    def _check_params_consistency(self) -> None:
        both = sorted(set(self.optimizer_options or {}) & _OWN_OPTIONS)
        if both:
            raise InvalidParameterError(
                f"optimizer_options sets {both}, which the wrapper sets itself (from the "
                "problem, the budget and batch_size); give them there."
            )

    def _start(self, state: RunState) -> None:
        ng = require("nevergrad", "baselines")
        registry = ng.optimizers.registry
        name = self.optimizer
        if name not in registry:  # "oneplusone" or "ngopt": nevergrad's name, if just one
            loose = [k for k in registry if k.casefold() == str(name).casefold()]
            name = loose[0] if len(loose) == 1 else name
        if name not in registry:
            hint = did_you_mean(self.optimizer, registry, n=5, cutoff=0.6)
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
                "from it): give budget= or max_iter= (to the optimiser, or budget= to "
                "start() when driving it by ask/tell); max_time and target alone set none."
            )
        seed = self._library_seed(state)
        space = None if state.problem is None else state.problem.space
        if space is not None and not space.is_default:
            # nevergrad's own parameters: Scalar, Log, integer casting, Choice, Array
            parametrization = space.to_nevergrad(space.from_vector(state.x0))
            parametrization.random_state = np.random.RandomState(seed)
        else:
            space = None
            parametrization = ng.p.Array(init=state.x0.double().cpu().numpy())
            sigma = self._per_parameter("sigma", 1 / 3, 1.0)
            # before the bounds, which nevergrad checks against the mutation scale
            parametrization.set_mutation(
                sigma=float(sigma[0]) if is_uniform(sigma) else sigma.cpu().numpy()
            )
            # seeded before the bounds are set, and after the scale (a parameter of its
            # own): nevergrad would otherwise draw a seed from numpy's global generator
            parametrization.random_state = np.random.RandomState(seed)
        if space is None and state.bounds is not None:  # a declared space has its own
            finite = np.isfinite(state.bounds.double().cpu().numpy())
            if finite.all():
                lower, upper = state.bounds.double().cpu().numpy()
                parametrization.set_bounds(lower=lower, upper=upper)
            elif finite.any():
                raise UnsupportedProblemError(
                    "nevergrad's parametrisation takes finite bounds on every coordinate "
                    "or none; this problem mixes finite and infinite bounds."
                )
        # some of nevergrad's algorithms draw from numpy's global generator; they get a
        # private, seeded stream of their own, swapped in around every call
        stream = _NumpyStream(np.random.RandomState(seed + 1).get_state())
        with stream:
            optimizer = registry[name](
                parametrization=parametrization,
                budget=budget,
                num_workers=self.batch_size,
                **(self.optimizer_options or {}),
            )
        self._ng = _NevergradRun(optimizer, stream, space)

    def _get_state(self) -> dict:
        return {**super()._get_state(), "ng": pickle_library_object(self._ng, "nevergrad")}

    def _set_state(self, state: dict) -> None:
        super()._set_state(state)
        self._ng = unpickle_library_object(state["ng"], "nevergrad")

    def _ask(self) -> torch.Tensor:
        state = self._state
        X = torch.from_numpy(self._ng.ask(self.batch_size))
        return X.to(device=state.device, dtype=state.dtype)

    def _batch_range(self) -> tuple[int, int]:
        return (1, self.batch_size)

    def _ask_n(self, n: int) -> torch.Tensor:
        state = self._state
        return torch.from_numpy(self._ng.ask(n)).to(device=state.device, dtype=state.dtype)

    def _reask(self, slots: torch.Tensor) -> torch.Tensor:
        state = self._state
        X = self._ng.replace(slots.tolist())
        return torch.from_numpy(X).to(device=state.device, dtype=state.dtype)

    def _tell(self, X: torch.Tensor, y: torch.Tensor, grads: torch.Tensor | None) -> None:
        self._ng.tell(y.double().cpu().tolist())

    def _recommend(self) -> torch.Tensor:
        state = self._state
        value = torch.from_numpy(self._ng.recommendation())
        return value.to(device=state.device, dtype=state.dtype)


class _NumpyStream:
    """A private stream of numpy's global generator, swapped in inside ``with``."""

    def __init__(self, state: tuple):
        self.state = state
        self._outside: tuple | None = None

    def __enter__(self) -> _NumpyStream:
        self._outside = np.random.get_state()  # noqa: NPY002 - the global generator is the point
        np.random.set_state(self.state)  # noqa: NPY002
        return self

    def __exit__(self, *exc: object) -> None:
        self.state = np.random.get_state()  # noqa: NPY002
        np.random.set_state(self._outside)  # noqa: NPY002
        self._outside = None


class _NevergradRun:
    """A nevergrad optimiser, its pending candidates and its private numpy stream.

    Kept together so that a saved state pickles them as one object, and the pending
    candidates stay the very objects the optimiser handed out.
    """

    def __init__(self, optimizer: Any, stream: _NumpyStream, space: Any = None):
        self.optimizer = optimizer
        self.stream = stream
        self.space = space
        self.candidates: list = []

    def flat(self, value: Any) -> np.ndarray:
        """A candidate's value as the problem's flat vector."""
        if self.space is None:
            return np.asarray(value, dtype=np.float64)
        return self.space.to_vector(value, check=False).numpy()

    def ask(self, n: int) -> np.ndarray:
        with self.stream, self.known_failures():
            self.candidates = [self.optimizer.ask() for _ in range(n)]
        return np.stack([self.flat(c.value) for c in self.candidates])

    def replace(self, slots: list[int]) -> np.ndarray:
        """New candidates in place of failed ones (which are never told)."""
        with self.stream, self.known_failures():
            for slot in slots:
                self.candidates[slot] = self.optimizer.ask()
        return np.stack([self.flat(self.candidates[s].value) for s in slots])

    def tell(self, losses: list[float]) -> None:
        with self.stream, self.known_failures():
            for candidate, loss in zip(self.candidates, losses, strict=True):
                self.optimizer.tell(candidate, loss)
        self.candidates = []

    @contextlib.contextmanager
    def known_failures(self) -> Any:
        """Explain nevergrad's known failures where they happen.

        Its diagonal CMA-ES (``CMAbounded``, ``LargeDiagCMA``, ``CMApara``, and what
        ``NGOpt`` picks for a few hundred parameters or more when several candidates
        are asked at a time) loses the step-size adaptation's mean-shift samples in
        pycma and raises after a few iterations (nevergrad issue 1690, open in
        nevergrad 1.0.12).
        """
        try:
            yield
        except RuntimeError as exc:
            if "Mean shift samples are expected but missing" not in str(exc):
                raise
            chosen = getattr(self.optimizer, "_info", dict)().get("sub-optim")
            name = type(self.optimizer).__name__ + (f" (which chose {chosen})" if chosen else "")
            raise MethodError(
                f"nevergrad's {name} failed inside pycma: its diagonal CMA-ES breaks when "
                "several candidates are asked at a time in a few hundred dimensions or "
                "more (a known nevergrad bug, its issue 1690). Use method='cmaes' (pycma "
                "itself, each population one batched call; restarts= for IPOP), "
                "batch_size=1, or another nevergrad optimizer such as 'TwoPointsDE'."
            ) from exc

    def recommendation(self) -> np.ndarray:
        with self.stream:
            value = self.optimizer.provide_recommendation().value
        return self.flat(value)
