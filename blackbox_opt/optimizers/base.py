"""The optimiser base class: the scikit-learn estimator contract and the ask/tell loop.

Every method subclasses :class:`BaseOptimizer` and implements a few small hooks
(``_start``, ``_ask``, ``_tell``, ``_recommend``); the public ``start``, ``ask``,
``tell``, ``recommend`` and the ``fit`` loop are written once, here. The loop counts
evaluations against the budget, tracks the best point on the device without waiting
on it, records the history, drives the progress bar and the callback, and keeps the
best result through user interrupts and failing forward models.
"""

from __future__ import annotations

import inspect
import math
import pickle
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from ..exceptions import (
    BlackboxOptError,
    EvaluationError,
    InvalidParameterError,
    NotFittedError,
)
from ..problem import Problem, _as_bounds, _as_vector
from ..result import History, OptimizeResult, Status
from ..utils import check_param_constraints, check_random_state, missing_attribute

__all__ = ["DEFAULT_BUDGET", "BaseOptimizer", "RunState"]

#: Evaluations allowed when neither ``budget`` nor ``max_iter``/``max_time`` is set.
DEFAULT_BUDGET = 10_000

FITTED_ATTRIBUTES = ("x_", "fun_", "nfev_", "nfev_monitor_", "n_iter_", "result_")

_RANDOM_STATE = [
    Interval(Integral, 0, None, closed="left"),
    torch.Generator,
    np.random.Generator,
    None,
]


@dataclass
class RunState:
    """What a started optimiser knows about the run (not part of its parameters)."""

    dim: int
    x0: torch.Tensor
    bounds: torch.Tensor | None
    generator: torch.Generator
    problem: Problem | None = None
    budget: int | None = None
    nit: int = 0
    nfev: int = 0
    nfev_monitor: int = 0
    best_x: torch.Tensor | None = None
    best_f: torch.Tensor | None = None
    history: History = field(default_factory=History)
    t0: float = field(default_factory=time.perf_counter)
    status: int = Status.RUNNING
    message: str = Status.MESSAGES[Status.RUNNING]

    @property
    def device(self) -> torch.device:
        return self.x0.device

    @property
    def dtype(self) -> torch.dtype:
        return self.x0.dtype

    @property
    def finite_bounds(self) -> bool:
        """Whether the run has bounds and all of them are finite."""
        return self.bounds is not None and bool(torch.isfinite(self.bounds).all())


class BaseOptimizer(BaseEstimator):
    """Base class of every optimiser.

    Subclasses declare their parameters as keyword-only ``__init__`` arguments that are
    only stored, add constraints for them to ``_parameter_constraints``, and implement
    ``_start``, ``_ask``, ``_tell`` and ``_recommend``. The parameters below are shared
    by every method; each subclass's signature is merged with them, so ``get_params``,
    ``set_params`` and ``sklearn.base.clone`` see all of them.

    Parameters
    ----------
    budget : int, optional
        Evaluations of the problem the run may use; a batch that would exceed it is
        not evaluated. Monitoring evaluations are not charged. When ``budget``,
        ``max_iter`` and ``max_time`` are all None, ``DEFAULT_BUDGET`` (10,000) applies.
    max_iter : int, optional
        Iterations (ask/tell rounds) the run may use.
    max_time : float, optional
        Wall-clock seconds after which the run stops (checked between iterations).
    target : float, optional
        Stop as soon as the best loss is at or below this value.
    monitor : bool, default=True
        Evaluate the loss at the method's current iterate after every iteration, for
        the history and the best point. These evaluations are counted in
        ``nfev_monitor_``, not charged to the budget. With False, only the final
        iterate is evaluated.
    verbose : bool, optional
        Show a progress bar; None shows it when standard error is a terminal.
    on_error : {"raise", "stop"}, default="raise"
        What happens when the forward model raises or returns NaN or inf: ``"raise"``
        raises :class:`~blackbox_opt.EvaluationError` whose ``result`` holds the best
        point so far (the optimiser is left fitted with it too); ``"stop"`` ends the
        run and returns that result with ``success=False``.
    random_state : int, torch.Generator, numpy.random.Generator or None
        Seeds every random draw of the run: the same seed gives the same run.

    Notes
    -----
    Methods keep their iterate inside the problem's bounds, but may probe points a
    little outside them (smoothing kernels, finite differences, SPSA perturbations);
    such points never become the reported best point, which is always inside.

    Attributes
    ----------
    x_ : torch.Tensor of shape (D,)
        The best point found.
    fun_ : float
        Its loss.
    nfev_ : int
        Evaluations charged to the budget.
    nfev_monitor_ : int
        Monitoring evaluations.
    n_iter_ : int
        Iterations run.
    result_ : OptimizeResult
        The full result, history included.
    """

    #: The name the method is registered under.
    name: ClassVar[str] = ""
    #: Whether ``tell`` needs the gradients of the losses (autodiff methods).
    needs_gradient: ClassVar[bool] = False
    #: Extras the method needs (shown in listings).
    requires: ClassVar[tuple[str, ...]] = ()
    #: Parameter overrides that make the method fast on a tiny problem (used by the
    #: shared check suite).
    _check_params: ClassVar[dict] = {}
    #: True when the recommendation is always the best point evaluated, so monitoring
    #: needs no extra evaluation.
    _recommends_best: ClassVar[bool] = False
    #: True when every point the method asks for lies inside the bounds.
    _stays_in_bounds: ClassVar[bool] = False
    #: Attributes holding the method's run state, saved by :meth:`state_dict`.
    _run_state: ClassVar[tuple[str, ...]] = ()

    _parameter_constraints: ClassVar[dict] = {
        "budget": [Interval(Integral, 1, None, closed="left"), None],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "max_time": [Interval(Real, 0, None, closed="neither"), None],
        "target": [Real, None],
        "monitor": ["boolean"],
        "verbose": ["boolean", None],
        "on_error": [StrOptions({"raise", "stop"})],
        "random_state": _RANDOM_STATE,
    }

    def __init__(
        self,
        *,
        budget: int | None = None,
        max_iter: int | None = None,
        max_time: float | None = None,
        target: float | None = None,
        monitor: bool = True,
        verbose: bool | None = None,
        on_error: str = "raise",
        random_state: Any = None,
    ):
        self.budget = budget
        self.max_iter = max_iter
        self.max_time = max_time
        self.target = target
        self.monitor = monitor
        self.verbose = verbose
        self.on_error = on_error
        self.random_state = random_state

    # -- class machinery -----------------------------------------------------------------
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        parent = cls.__mro__[1]
        cls._parameter_constraints = {
            **getattr(parent, "_parameter_constraints", {}),
            **cls.__dict__.get("_parameter_constraints", {}),
        }
        init = cls.__dict__.get("__init__")
        if init is None:
            return
        own = [
            p
            for p in inspect.signature(init).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        ]
        inherited = [
            p
            for p in inspect.signature(parent.__init__).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in {q.name for q in own}
        ]
        self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
        init.__signature__ = inspect.Signature([self_param, *own, *inherited])

    def __getattr__(self, name: str) -> Any:
        raise missing_attribute(self, name, FITTED_ATTRIBUTES, "fit(problem)")

    def _validate_params(self) -> None:
        check_param_constraints(self)
        self._check_params_consistency()

    def _check_params_consistency(self) -> None:
        """Hook: cross-parameter checks that a constraint table cannot express."""

    # -- hooks for subclasses ------------------------------------------------------------
    def _start(self, state: RunState) -> None:
        """Initialise the method's own state from ``state`` (x0, bounds, generator)."""

    def _ask(self) -> torch.Tensor:
        """Return the next batch of points ``(B, D)``."""
        raise NotImplementedError

    def _tell(self, X: torch.Tensor, y: torch.Tensor, grads: torch.Tensor | None) -> dict | None:
        """Update the method with the losses ``y`` at ``X``; may return history info."""
        raise NotImplementedError

    def _recommend(self) -> torch.Tensor:
        """Return the method's current recommendation ``(D,)``."""
        raise NotImplementedError

    def _converged(self) -> bool:
        """Hook: True when the method has converged by its own criterion."""
        return False

    # -- ask / tell ----------------------------------------------------------------------
    def start(
        self,
        problem: Problem | None = None,
        x0: Any = None,
        *,
        bounds: Any = None,
        budget: int | None = None,
    ) -> BaseOptimizer:
        """Begin a run: validate the parameters and set up the method's state.

        Called by :meth:`fit`; call it yourself to drive the method with :meth:`ask`
        and :meth:`tell` when the evaluations happen elsewhere.

        Parameters
        ----------
        problem : Problem, optional
            The problem; gives the start, the bounds, the device and the dtype.
        x0 : array-like of shape (D,) or fitted initialiser, optional
            The start point (default: ``problem.x0``; required without a problem). An
            object with an ``as_x0(problem)`` method, such as a fitted
            :class:`~blackbox_opt.MetaInitializer`, gives its start for the problem.
        bounds : array-like of shape (2, D), optional
            Bounds, when no problem gives them.
        budget : int, optional
            The evaluations the run will use (default: the ``budget`` parameter);
            schedules that span the run (sigma annealing, gains) read it.

        Returns
        -------
        self
        """
        self._validate_params()
        if problem is not None and not isinstance(problem, Problem):
            raise InvalidParameterError(
                f"problem must be a blackbox_opt.Problem; got {type(problem).__name__}. "
                "Use blackbox_opt.minimize for ids and plain callables."
            )
        if x0 is not None and callable(getattr(x0, "as_x0", None)):
            x0 = x0.as_x0(problem)  # a fitted initialiser (MetaInitializer) gives its start
        if problem is None:
            if x0 is None:
                raise InvalidParameterError("start() needs a problem or an x0.")
            dtype = x0.dtype if torch.is_tensor(x0) and x0.is_floating_point() else None
            x0 = _as_vector(x0, "x0", dtype or torch.float64, None)
            bounds = _as_bounds(bounds, x0)
        else:
            x0 = problem.x0 if x0 is None else x0
            x0 = _as_vector(x0, "x0", problem.dtype, problem.device, problem.x0)
            bounds = _as_bounds(problem.bounds if bounds is None else bounds, x0)
        generator = check_random_state(self.random_state, x0.device)
        state = RunState(
            dim=x0.shape[0],
            x0=x0,
            bounds=bounds,
            generator=generator,
            problem=problem,
            budget=self.budget if budget is None else budget,
        )
        state.best_x = x0.clone()
        state.best_f = torch.full((), math.inf, dtype=x0.dtype, device=x0.device)
        self._state = state
        for attr in FITTED_ATTRIBUTES:
            self.__dict__.pop(attr, None)
        self._start(state)
        state.t0 = time.perf_counter()  # set-up (first imports, allocations) is not run time
        return self

    def _require_started(self) -> RunState:
        state = self.__dict__.get("_state")
        if state is None:
            raise NotFittedError(
                f"{type(self).__name__} has no run in progress: call start(problem) or "
                "fit(problem) first."
            )
        return state

    def ask(self) -> torch.Tensor:
        """Return the next batch of points to evaluate.

        Returns
        -------
        torch.Tensor of shape (B, D)
        """
        self._require_started()
        return self._ask()

    def tell(self, X: Any, y: Any, grads: Any = None) -> None:
        """Give the method the losses of the points it asked for.

        Parameters
        ----------
        X : tensor of shape (B, D)
            The points returned by :meth:`ask`.
        y : tensor or array-like of shape (B,)
            Their losses.
        grads : tensor of shape (B, D), optional
            Their gradients; required by methods with ``needs_gradient``.
        """
        state = self._require_started()
        X = _as_batch(X, state, "X")
        y = _as_losses(y, X.shape[0], state)
        if self.needs_gradient:
            if grads is None:
                raise InvalidParameterError(
                    f"{type(self).__name__} uses gradients: tell(X, y, grads) needs grads."
                )
            grads = _as_batch(grads, state, "grads")
            if grads.shape != X.shape:
                raise InvalidParameterError(
                    f"grads must have the shape of X {tuple(X.shape)}; got {tuple(grads.shape)}."
                )
        # one reduction and one read: NaN and inf propagate through the sum (a finite
        # sum that overflows is checked point by point below and passes)
        if not math.isfinite(float(y.sum())) and not bool(torch.isfinite(y).all()):
            bad = (~torch.isfinite(y)).nonzero().flatten().tolist()[:10]
            raise EvaluationError(
                f"The forward model returned non-finite losses (NaN or inf) at point(s) {bad} "
                f"of the batch at iteration {state.nit + 1}.",
                result=self.result(),
            )
        self._update_best(X, y)
        state.nfev += X.shape[0]
        info = self._tell(X, y, grads) or {}
        state.nit += 1
        state.history.append(
            nit=state.nit,
            nfev=state.nfev,
            nfev_monitor=state.nfev_monitor,
            time=time.perf_counter() - state.t0,
            best=state.best_f,  # replaced, never modified in place: no copy needed
            **info,
        )

    def state_dict(self) -> dict:
        """Everything needed to resume the run exactly, as tensors and plain values.

        Save it with :func:`torch.save`; it loads with ``torch.load(...,
        weights_only=True)``. To resume, build the optimiser with the same parameters,
        :meth:`start` it on the same problem, then :meth:`load_state_dict`. The wrapped
        libraries' optimisers (pycma, nevergrad) are stored pickled, as bytes, and
        :meth:`load_state_dict` unpickles them: load such states only from trusted
        files.

        Returns
        -------
        dict
        """
        state = self._require_started()
        return {
            "class": type(self).__name__,
            "dim": state.dim,
            "run": {
                "nit": state.nit,
                "nfev": state.nfev,
                "nfev_monitor": state.nfev_monitor,
                "best_x": state.best_x.clone(),
                "best_f": state.best_f.clone(),
                "generator": state.generator.get_state(),
                "history": state.history.to_dict(),
            },
            "method": {name: _pack(getattr(self, name, None)) for name in self._run_state},
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a run saved by :meth:`state_dict` into this started optimiser.

        Parameters
        ----------
        state_dict : dict
            From :meth:`state_dict` of an optimiser of the same class and dimension.
        """
        state = self._require_started()
        if state_dict.get("class") != type(self).__name__ or state_dict.get("dim") != state.dim:
            raise InvalidParameterError(
                f"This state is of a {state_dict.get('class')} in {state_dict.get('dim')} "
                f"dimensions; this optimiser is a {type(self).__name__} in {state.dim}."
            )
        run = state_dict["run"]
        state.nit, state.nfev, state.nfev_monitor = run["nit"], run["nfev"], run["nfev_monitor"]
        state.best_x = run["best_x"].to(device=state.device, dtype=state.dtype)
        state.best_f = run["best_f"].to(device=state.device, dtype=state.dtype)
        state.generator.set_state(run["generator"])
        columns = run["history"]
        n_rows = len(next(iter(columns.values()))) if columns else 0
        state.history = History([{c: v[i] for c, v in columns.items()} for i in range(n_rows)])
        for name, value in state_dict["method"].items():
            setattr(self, name, _unpack(getattr(self, name, None), value, state))

    def recommend(self) -> torch.Tensor:
        """Return the method's current recommendation (its iterate or mean).

        Returns
        -------
        torch.Tensor of shape (D,)
        """
        self._require_started()
        return self._recommend().detach().clone()

    def _update_best(self, X: torch.Tensor, y: torch.Tensor) -> None:
        state = self._state
        if state.bounds is not None and not self._stays_in_bounds:
            # points probed outside the bounds never count
            inside = ((X >= state.bounds[0]) & (X <= state.bounds[1])).all(1)
            y = torch.where(inside, y, torch.full_like(y, math.inf))
        if state.device.type == "cpu":  # reading values costs nothing here: compare on the host
            values = y.tolist()
            i = min(range(len(values)), key=values.__getitem__)
            if values[i] < float(state.best_f):
                state.best_f, state.best_x = y[i].clone(), X[i].clone()
            return
        i = torch.argmin(y)  # on an accelerator: no host-device synchronisation
        better = y[i] < state.best_f
        state.best_f = torch.where(better, y[i], state.best_f)
        state.best_x = torch.where(better, X[i], state.best_x)

    # -- the fit loop ----------------------------------------------------------------------
    def fit(
        self,
        problem: Problem,
        x0: Any = None,
        *,
        budget: int | None = None,
        callback: Callable[[OptimizeResult], Any] | None = None,
    ) -> BaseOptimizer:
        """Minimise ``problem`` from ``x0``.

        Parameters
        ----------
        problem : Problem
            The problem (see :func:`blackbox_opt.minimize` for ids and callables).
        x0 : array-like of shape (D,) or fitted initialiser, optional
            The start point (default: ``problem.x0``); see :meth:`start`.
        budget : int, optional
            Overrides the ``budget`` parameter for this run.
        callback : callable, optional
            ``callback(intermediate_result)`` after every iteration, with an
            :class:`~blackbox_opt.OptimizeResult` of the run so far; raising
            ``StopIteration`` ends the run.

        Returns
        -------
        self
            Fitted: ``x_``, ``fun_``, ``nfev_``, ``n_iter_``, ``result_``.
        """
        if budget is not None:
            if not isinstance(budget, Integral) or isinstance(budget, bool) or budget < 1:
                raise InvalidParameterError(
                    f"budget must be a positive int (evaluations); got {budget!r}."
                )
        if callback is not None and not callable(callback):
            raise InvalidParameterError(
                f"callback must be callable; got {type(callback).__name__}."
            )
        budget = budget if budget is not None else self.budget
        if budget is None and self.max_iter is None and self.max_time is None:
            budget = DEFAULT_BUDGET
        self.start(problem, x0, budget=budget)
        state = self._state
        from tqdm.auto import tqdm

        verbose = sys.stderr.isatty() if self.verbose is None else self.verbose
        bar = tqdm(
            total=budget if budget is not None else self.max_iter,
            unit="eval" if budget is not None else "it",
            desc=f"{self.name or type(self).__name__} on {problem.name}",
            disable=not verbose,
            leave=False,
            dynamic_ncols=True,
        )
        last_postfix = 0.0
        error: BaseException | None = None
        status = Status.RUNNING
        try:
            try:
                self._monitor_point(record_row=True)
            except Exception as exc:  # KeyboardInterrupt is no Exception: it goes on up
                if not _forward_model_failure(exc):
                    raise
                error, status = exc, Status.ERROR
            while status == Status.RUNNING:
                status = self._stop_reason(budget)
                if status != Status.RUNNING:
                    break
                X = self.ask()
                if budget is not None and state.nfev + X.shape[0] > budget:
                    status = Status.BUDGET
                    break
                try:
                    y, grads = self._evaluate(problem, X)
                except Exception as exc:
                    if not _forward_model_failure(exc):
                        raise
                    error, status = exc, Status.ERROR
                    break
                try:
                    self.tell(X, y, grads)
                except EvaluationError as exc:  # non-finite losses from the model
                    error, status = exc, Status.ERROR
                    break
                if self.monitor:
                    self._monitor_point(record_row=False)
                bar.update(X.shape[0] if budget is not None else 1)
                if verbose and time.monotonic() - last_postfix > 0.5:
                    last_postfix = time.monotonic()
                    bar.set_postfix(best=f"{float(state.best_f):.4g}", refresh=False)
                if callback is not None:
                    try:
                        callback(self.result())
                    except StopIteration:
                        status = Status.CALLBACK
                        break
                if self._converged():
                    status = Status.CONVERGED
                    break
        except KeyboardInterrupt:
            status = Status.INTERRUPTED
        finally:
            bar.close()
        if not self.monitor and status != Status.ERROR:
            self._monitor_point(record_row=False)
        message = Status.MESSAGES[status]
        if error is not None:
            message = f"{message} {type(error).__name__}: {error}"
        self._finish(status, message)
        if error is not None and self.on_error == "raise":
            if isinstance(error, EvaluationError):
                error.result = self.result_
                raise error
            raise EvaluationError(
                f"The forward model of {problem.name} raised at iteration {state.nit + 1}: "
                f"{type(error).__name__}: {error}. The best point so far is in this "
                "error's .result and in the optimiser's x_.",
                result=self.result_,
            ) from error
        return self

    def _evaluate(
        self, problem: Problem, X: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.needs_gradient:
            return problem.value_and_grad(X)
        with torch.no_grad():
            return problem.evaluate(X), None

    def _stop_reason(self, budget: int | None) -> int:
        state = self._state
        if budget is not None and state.nfev >= budget:
            return Status.BUDGET
        if self.max_iter is not None and state.nit >= self.max_iter:
            return Status.MAX_ITER
        if self.max_time is not None and time.perf_counter() - state.t0 >= self.max_time:
            return Status.MAX_TIME
        if self.target is not None and float(state.best_f) <= self.target:
            return Status.TARGET
        return Status.RUNNING

    def _monitor_point(self, *, record_row: bool) -> None:
        """Evaluate the current recommendation (not charged) and record it."""
        state = self._state
        problem = state.problem
        if problem is None:
            return
        x = self._recommend().detach()
        if self._recommends_best and state.nit > 0:
            loss = state.best_f.clone()
        else:
            with torch.no_grad():
                try:
                    loss = problem.evaluate(x[None])[0]
                except Exception:
                    if record_row:
                        raise
                    loss = torch.full((), math.nan, dtype=state.dtype, device=state.device)
            state.nfev_monitor += 1
        finite = torch.isfinite(loss)
        better = finite & (loss < state.best_f)
        state.best_f = torch.where(better, loss, state.best_f)
        state.best_x = torch.where(better, x, state.best_x)
        err = problem.param_error(x)
        row = dict(
            loss=loss,
            best=state.best_f.clone(),
            nfev_monitor=state.nfev_monitor,
            param_error=math.nan if err is None else err,
        )
        if record_row or len(state.history) == 0:
            state.history.append(
                nit=state.nit, nfev=state.nfev, time=time.perf_counter() - state.t0, **row
            )
        else:
            state.history.update_last(**row)

    def result(self) -> OptimizeResult:
        """The result of the run so far (also usable while driving ask/tell by hand).

        Returns
        -------
        OptimizeResult
        """
        state = self._require_started()
        best_f = float(state.best_f)
        problem = state.problem
        return OptimizeResult(
            x=state.best_x.clone(),
            fun=best_f,
            success=state.status in Status.SUCCESS,
            status=state.status,
            message=state.message,
            nfev=state.nfev,
            nfev_monitor=state.nfev_monitor,
            nit=state.nit,
            x_last=self.recommend(),
            history=state.history,
            method=self.name or type(self).__name__,
            problem=problem.name if problem is not None else None,
            time=time.perf_counter() - state.t0,
        )

    def _finish(self, status: int, message: str) -> None:
        state = self._state
        state.status = status
        state.message = message
        result = self.result()
        self.result_ = result
        self.x_ = result.x
        self.fun_ = result.fun
        self.nfev_ = result.nfev
        self.nfev_monitor_ = result.nfev_monitor
        self.n_iter_ = result.nit

    def minimize(
        self,
        problem: Problem,
        x0: Any = None,
        *,
        budget: int | None = None,
        callback: Callable[[OptimizeResult], Any] | None = None,
    ) -> OptimizeResult:
        """Run :meth:`fit` and return its :class:`~blackbox_opt.OptimizeResult`.

        Parameters
        ----------
        problem, x0, budget, callback :
            As in :meth:`fit`.

        Returns
        -------
        OptimizeResult
        """
        return self.fit(problem, x0, budget=budget, callback=callback).result_

    # -- helpers for subclasses ------------------------------------------------------------
    def _library_seed(self, state: RunState) -> int:
        """A seed for a wrapped library's own numpy generator.

        An int ``random_state`` is passed through, so a run matches the library seeded
        with the same number; otherwise a seed is drawn from the run's generator.
        """
        if isinstance(self.random_state, Integral) and not isinstance(self.random_state, bool):
            return int(self.random_state)
        draw = torch.randint(0, 2**31 - 1, (1,), generator=state.generator, device=state.device)
        return int(draw)

    def _expected_iterations(self, evaluations_per_iteration: int) -> int | None:
        """Iterations the run will last, from ``max_iter`` and the budget (None if open)."""
        state = self._state
        limits = []
        if self.max_iter is not None:
            limits.append(self.max_iter)
        if state.budget is not None:
            limits.append(max(1, state.budget // evaluations_per_iteration))
        return min(limits) if limits else None

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        """Clamp ``x`` into the bounds (no-op without bounds)."""
        bounds = self._state.bounds
        if bounds is None:
            return x
        return torch.maximum(torch.minimum(x, bounds[1]), bounds[0])


def _forward_model_failure(exc: Exception) -> bool:
    """Whether ``exc`` comes from the forward model (handled by ``on_error``).

    The library's own errors (bad parameters, a non-differentiable problem...) are
    raised as they are; anything else, and non-finite losses, count as a failure of the
    user's model.
    """
    return isinstance(exc, EvaluationError) or not isinstance(exc, BlackboxOptError)


def _as_batch(X: Any, state: RunState, what: str) -> torch.Tensor:
    if not torch.is_tensor(X):
        X = torch.as_tensor(np.asarray(X, dtype=np.float64))
    X = X.detach().to(device=state.device, dtype=state.dtype)
    if X.ndim != 2 or X.shape[1] != state.dim:
        raise InvalidParameterError(
            f"{what} must have shape (B, {state.dim}); got {tuple(X.shape)}."
        )
    return X


def _as_losses(y: Any, batch: int, state: RunState) -> torch.Tensor:
    if not torch.is_tensor(y):
        y = torch.as_tensor(np.asarray(y, dtype=np.float64))
    y = y.detach().to(device=state.device, dtype=state.dtype)
    if y.shape != (batch,):
        raise InvalidParameterError(
            f"y must hold one loss per point, shape ({batch},); got {tuple(y.shape)}."
        )
    return y


def _is_plain(value: Any) -> bool:
    """Whether ``torch.load(weights_only=True)`` can restore ``value`` as it is."""
    if value is None or isinstance(value, bool | int | float | str) or torch.is_tensor(value):
        return True
    if isinstance(value, list | tuple):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str | int) and _is_plain(v) for k, v in value.items())
    return False


def _pack(value: Any) -> Any:
    if hasattr(value, "state_dict") and not torch.is_tensor(value):
        return value.state_dict()
    if torch.is_tensor(value):
        return value.detach().clone()
    if _is_plain(value):
        return value
    # a wrapped library's own object (a pycma or nevergrad optimiser): pickled into
    # bytes, so the state still loads with weights_only=True; unpickling it runs that
    # library's code, so load states only from trusted files
    data = bytearray(pickle.dumps(value))
    return {"__pickled__": torch.frombuffer(data, dtype=torch.uint8).clone()}


def _unpack(current: Any, saved: Any, state: RunState) -> Any:
    if isinstance(saved, dict) and set(saved) == {"__pickled__"}:
        return pickle.loads(saved["__pickled__"].numpy().tobytes())
    if hasattr(current, "load_state_dict") and not torch.is_tensor(current):
        current.load_state_dict(saved)
        return current
    if torch.is_tensor(saved):
        saved = saved.to(device=state.device)
        if torch.is_tensor(current) and current.shape == saved.shape:
            with torch.no_grad():  # in place: torch optimisers hold this very tensor
                current.copy_(saved)
            return current
    return saved
