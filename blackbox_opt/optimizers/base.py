"""The optimiser base class: the scikit-learn estimator contract and ask/tell.

Every method subclasses :class:`BaseOptimizer` and implements a few small hooks
(``_start``, ``_ask``, ``_tell``, ``_recommend``, and ``_get_state``/``_set_state``
for its run state); the public ``start``, ``ask``, ``tell``, ``recommend``,
``state_dict`` and ``load_state_dict`` are written once, here. ``tell`` validates the
losses, counts evaluations and tracks the best point on the device without waiting
on it. ``fit`` hands the run to :class:`~blackbox_opt.optimizers.loop.RunLoop`, which
drives ask/evaluate/tell under the budget with one error policy.
"""

from __future__ import annotations

import inspect
import math
import os
import time
from collections.abc import Callable, Mapping
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator

from ..exceptions import InvalidParameterError, NotFittedError
from ..problem import Problem, _as_bounds, _as_vector
from ..result import OptimizeResult, Status
from ..scales import bound_widths, resolve_scale
from ..utils import check_int, check_param_constraints, check_random_state, missing_attribute
from ..validation import Interval, Options
from .asktell import AskTell
from .loop import RunLoop
from .run_state import RunState
from .saving import Saving

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


class BaseOptimizer(AskTell, Saving, BaseEstimator):
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
    monitor : bool, int or "auto", default="auto"
        Evaluate the loss at the method's current iterate (for the history's ``loss``
        column and the best point) after every iteration (True), every ``k``
        iterations (an int), or only at the start and the end (False). These
        evaluations are not charged to the budget, but they are renders all the same:
        the progress bar shows their number and the result's ``nfev_monitor`` holds
        it. ``"auto"`` follows the problem's ``cost`` as the problem declares it:
        every iteration for a cheap problem; for an ``"expensive"`` one (Mitsuba
        scenes, external renderers, a :class:`~blackbox_opt.FunctionProblem` evaluated
        point by point) every ``ceil(10 / B)`` iterations for batches of ``B``
        points, so that monitoring adds at most a tenth to the evaluations (SPSA's
        2-point batches: every 5th iteration). The final iterate is always evaluated.
        Methods whose recommendation is their best point (random search) monitor for
        free.
    verbose : bool, optional
        Show a progress bar; None shows it when standard error is a terminal.
    record_x : bool, default=False
        Keep the method's iterate (its recommendation, as ``x_last``) of every
        iteration, and the start point, in the history: ``result.history.x`` is then
        an array of shape ``(nit + 1, D)``. It costs one copy of the iterate per
        iteration, ``D`` times the dtype's size in bytes (4 for float32): 2,000
        iterations of an 18-parameter problem keep 144 kB, 1,000 of a 35,152-weight
        network 141 MB. Nothing is evaluated for it.
    on_error : {"raise", "stop", "penalize", "reask"}, default="raise"
        What a failed evaluation costs: the forward model raised, or returned NaN or
        inf, at one of the method's points or at the monitored iterate (see
        :ref:`failures` for every case):

        - ``"raise"``: the run ends and :class:`~blackbox_opt.EvaluationError` is
          raised; its ``result`` holds the best point so far (the optimiser is left
          fitted with it too);
        - ``"stop"``: the run ends and returns that result with ``success=False``;
        - ``"penalize"``: the failed point costs one evaluation and is told the
          ``penalty``; the run goes on;
        - ``"reask"``: the failed point costs one evaluation and the method draws a
          new point in its place (methods whose batches are populations: ``random``,
          ``cmaes``, ``nevergrad``); the run goes on.

        No point is evaluated twice: a function evaluated point by point stops at its
        first failure, and the batch's other points are evaluated next only under
        penalize and reask; under raise and stop the points evaluated before the
        failure are kept (told to the method, counted in the best point). Under
        penalize and reask, a run whose first 10 evaluations all failed (or that
        ended with every evaluation failed) raises
        :class:`~blackbox_opt.EvaluationError` naming the first failure: a model
        that never runs is a set-up to fix, not lost frames, and would otherwise
        spend the budget and report success.
    penalty : float, optional
        The loss told for a failed point under ``on_error="penalize"``. Default: the
        worst loss seen so far (the batch's other points included) plus its
        distance from the best (at least ``max(|worst|, 1)``), so a failed point is
        always the worst of its batch. It is set once the batch is complete, so the
        order of the tells does not change it.
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
    #: Attributes that ``_start`` computes from the parameters and the problem alone
    #: (offsets, schedules' constants): not saved, rebuilt by ``start`` on resume.
    #: Every other attribute a run sets must be saved by ``_get_state``; the shared
    #: check suite fails on one that is neither. Merged with the parent classes'.
    _derived_state: ClassVar[frozenset[str]] = frozenset()
    #: Work buffers whose contents are overwritten before every use (never carried
    #: from one step to the next): neither saved nor compared. Merged like
    #: ``_derived_state``.
    _scratch_state: ClassVar[frozenset[str]] = frozenset()

    _parameter_constraints: ClassVar[dict] = {
        "budget": [Interval(Integral, 1, None, closed="left"), None],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "max_time": [Interval(Real, 0, None, closed="neither"), None],
        "target": [Real, None],
        "monitor": ["boolean", Interval(Integral, 1, None, closed="left"), Options({"auto"})],
        "verbose": ["boolean", None],
        "record_x": ["boolean"],
        "on_error": [Options({"raise", "stop", "penalize", "reask"})],
        "penalty": [Real, None],
        "random_state": _RANDOM_STATE,
    }

    def __init__(
        self,
        *,
        budget: int | None = None,
        max_iter: int | None = None,
        max_time: float | None = None,
        target: float | None = None,
        monitor: bool | int | str = "auto",
        verbose: bool | None = None,
        record_x: bool = False,
        on_error: str = "raise",
        penalty: float | None = None,
        random_state: Any = None,
    ):
        self.budget = budget
        self.max_iter = max_iter
        self.max_time = max_time
        self.target = target
        self.monitor = monitor
        self.verbose = verbose
        self.record_x = record_x
        self.on_error = on_error
        self.penalty = penalty
        self.random_state = random_state

    # -- class machinery -----------------------------------------------------------------
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        parent = cls.__mro__[1]
        cls._parameter_constraints = {
            **getattr(parent, "_parameter_constraints", {}),
            **cls.__dict__.get("_parameter_constraints", {}),
        }
        cls._derived_state = frozenset(getattr(parent, "_derived_state", ())) | frozenset(
            cls.__dict__.get("_derived_state", ())
        )
        cls._scratch_state = frozenset(getattr(parent, "_scratch_state", ())) | frozenset(
            cls.__dict__.get("_scratch_state", ())
        )
        init = cls.__dict__.get("__init__")
        if init is None:
            return
        lost = [
            p.name
            for p in list(inspect.signature(init).parameters.values())[1:]
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
        if lost:
            raise TypeError(
                f"{cls.__name__}.__init__ takes {lost} positionally: an optimiser's "
                "parameters must be keyword-only, or get_params, clone and minimize would "
                f"lose them. Write def __init__(self, *, {lost[0]}=..., **kwargs) and pass "
                "**kwargs to super().__init__."
            )
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

    def _convergence(self) -> tuple[int, str]:
        """Hook: once :meth:`_converged` is True, the status that says how (``CONVERGED``
        by default; ``STALLED`` for a method that stopped because the loss was flat) and
        a detail added to the message (the wrapped library's stopping rule)."""
        return Status.CONVERGED, ""

    def _batch_range(self) -> tuple[int, int] | None:
        """Hook: the smallest and largest ``n`` that ``ask(n)`` accepts; None (the
        default) for a method whose batch size its own parameters set."""
        return None

    def _ask_n(self, n: int) -> torch.Tensor:
        """Hook: a new batch of ``n`` points, for methods that choose their batch size."""
        raise NotImplementedError

    def _reask(self, slots: torch.Tensor) -> torch.Tensor:
        """Hook: new points ``(k, D)`` for the failed rows ``slots`` of the pending batch.

        Population methods implement it (``on_error="reask"``); the method's own
        bookkeeping of the pending batch must take the new points in those rows.
        """
        raise NotImplementedError

    def _get_state(self) -> dict:
        """Hook: the method's own run state, as tensors and plain values.

        Keys name the attributes they restore (``"theta"`` for ``self._theta``). Extend
        the parent's dict; a wrapped library's object goes in through
        :func:`~blackbox_opt.checkpoint.pickle_library_object`.
        """
        return {}

    def _set_state(self, state: dict) -> None:
        """Hook: restore what :meth:`_get_state` saved, into a started optimiser."""

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
        x0 : array-like of shape (D,), dict or fitted initialiser, optional
            The start point (default: ``problem.x0``; required without a problem); a
            dict gives it by name in the problem's :attr:`~blackbox_opt.Problem.space`. An
            object with an ``as_x0(problem)`` method, such as a fitted
            :class:`~blackbox_opt.MetaInitializer`, gives its start for the problem.
        bounds : optional
            Bounds: a ``(low, high)`` pair, D ``(low, high)`` pairs,
            ``scipy.optimize.Bounds`` or a ``(2, D)`` array; in place of the problem's
            when both are given.
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
        if isinstance(x0, Mapping) and problem is not None:  # a start by name
            x0 = problem.space.to_vector(x0, dtype=problem.dtype, device=problem.device)
        if problem is None:
            if x0 is None:
                raise InvalidParameterError("start() needs a problem or an x0.")
            dtype = x0.dtype if torch.is_tensor(x0) and x0.is_floating_point() else None
            x0 = _as_vector(x0, "x0", dtype or torch.float64, None)
            bounds = _as_bounds(bounds, x0)
            scales = None
        else:
            x0 = problem.x0 if x0 is None else x0
            x0 = _as_vector(x0, "x0", problem.dtype, problem.device, problem.x0)
            scales = problem.scales if bounds is None else None
            bounds = _as_bounds(problem.bounds if bounds is None else bounds, x0)
        if self.on_error == "reask" and type(self)._reask is BaseOptimizer._reask:
            raise InvalidParameterError(
                f"on_error='reask' needs a method that can draw a new point in place of a "
                f"failed one (random, cmaes, nevergrad); {type(self).__name__}'s points "
                "depend on each other. Use on_error='penalize'."
            )
        if self.on_error == "penalize" and self.needs_gradient:
            raise InvalidParameterError(
                f"on_error='penalize' tells a failed point a made-up loss, which has no "
                f"gradient for {type(self).__name__}; use 'raise' or 'stop'."
            )
        generator = check_random_state(self.random_state, x0.device)
        if scales is None:
            scales = bound_widths(bounds, x0.shape[0], x0.dtype, x0.device)
        state = RunState(
            dim=x0.shape[0],
            x0=x0,
            bounds=bounds,
            generator=generator,
            scales=scales.to(dtype=x0.dtype, device=x0.device),
            problem=problem,
            budget=self.budget if budget is None else budget,
        )
        state.best_x = x0.clone()
        state.best_f = torch.full((), math.inf, dtype=x0.dtype, device=x0.device)
        state.worst_f = torch.full((), -math.inf, dtype=x0.dtype, device=x0.device)
        self._state = state
        for attr in FITTED_ATTRIBUTES:
            self.__dict__.pop(attr, None)
        self._start(state)
        resume = self.__dict__.pop("_resume", None)  # applied once: a later run is new
        try:
            if resume is not None:
                self._apply_state(resume)
        finally:
            self.__dict__.pop("_resume_source", None)
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

    def recommend(self) -> torch.Tensor:
        """Return the method's current recommendation (its iterate or mean).

        Returns
        -------
        torch.Tensor of shape (D,)
        """
        self._require_started()
        return self._recommend().detach().clone()

    # -- the fit loop ----------------------------------------------------------------------
    def fit(
        self,
        problem: Problem,
        x0: Any = None,
        *,
        budget: int | None = None,
        bounds: Any = None,
        callback: Callable[[OptimizeResult], Any] | None = None,
        checkpoint: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
        evaluator: Any = None,
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
        bounds : optional
            Bounds for this run in place of the problem's, in any form that
            :func:`blackbox_opt.minimize` takes; the methods search inside them and
            scale their default steps to their widths.
        callback : callable, optional
            ``callback(intermediate_result)`` after every iteration, with an
            :class:`~blackbox_opt.OptimizeResult` of the run so far; raising
            ``StopIteration`` ends the run. Any other exception ends it too, with
            :class:`~blackbox_opt.CallbackError` carrying the result so far.
        checkpoint : str or path-like, optional
            A file to save the run's :meth:`state_dict` to, atomically (written
            beside it, then renamed): every ``checkpoint_every`` iterations and when
            the run ends for any reason, Ctrl-C and failures included. If the file
            exists when ``fit`` starts, the run resumes from it (same class and
            parameters, or an error that names what differs) and ends exactly as the
            uninterrupted run would have. The stopping limits may differ (see
            :meth:`load_state_dict`): the same file with a larger ``budget`` or
            ``max_iter`` goes on from where the saved run ended. A run that ended
            early on its own terms (a callback's ``StopIteration``, ``max_time``)
            evaluated its last iterate once for its result; that render is kept, so
            the resumed history has a loss in that row (and ``nfev_monitor`` one
            more) where an unstopped run has none, and a point it found better than
            the rest of the run stays the best.
        checkpoint_every : int, optional
            Iterations between checkpoints; default: at most every 30 seconds, or 20
            times as long as the last save took where that is longer (a state of
            hundreds of megabytes), so that saving costs at most 5 % of the run.
        evaluator : Evaluator, distributed.Client or str, optional
            Where the problem's batches are evaluated (see
            :mod:`blackbox_opt.evaluators`): ``"serial"`` (the default, this
            process), ``"processes"``, ``"dask"`` (a new LocalCluster), a Dask client,
            or an evaluator. The run is the same whatever evaluator evaluates it.

        Returns
        -------
        self
            Fitted: ``x_``, ``fun_``, ``nfev_``, ``n_iter_``, ``result_``.

        Raises
        ------
        InvalidParameterError
            For bad arguments, or a budget that cannot pay for one iteration (nothing
            is evaluated then).
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
        if checkpoint_every is not None:
            check_int(checkpoint_every, "checkpoint_every", 1)
        budget = budget if budget is not None else self.budget
        if budget is None and self.max_iter is None and self.max_time is None:
            budget = DEFAULT_BUDGET
        if checkpoint is not None and os.path.exists(checkpoint):
            self._resume_source = os.fspath(checkpoint)  # named in a refusal's message
            try:
                self.load_state_dict(torch.load(checkpoint, weights_only=True))
            except BaseException:
                self.__dict__.pop("_resume_source", None)
                raise
        if evaluator is None:
            self.start(problem, x0, bounds=bounds, budget=budget)
            RunLoop(self, problem, budget, callback, checkpoint, checkpoint_every).run()
            return self
        from ..evaluators import evaluating

        if not isinstance(problem, Problem):
            self.start(problem)  # the error for a problem that is not one
        with evaluating(problem, evaluator) as evaluated:
            self.start(evaluated, x0, bounds=bounds, budget=budget)
            RunLoop(self, evaluated, budget, callback, checkpoint, checkpoint_every).run()
        return self

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

    def result(self) -> OptimizeResult:
        """The result of the run so far (also usable while driving ask/tell by hand).

        Returns
        -------
        OptimizeResult
        """
        state = self._require_started()
        best_x, best_f = state.best_x, float(state.best_f)
        batch = state.pending
        if batch is not None and bool(batch.told.any()):  # told points of a partial batch
            usable = batch.told & ~batch.penalized
            y = torch.where(usable, batch.y, torch.full_like(batch.y, math.inf))
            y = self._eligible(batch.X, y)
            i = int(torch.argmin(y))
            if float(y[i]) < best_f:
                best_x, best_f = batch.X[i], float(y[i])
        problem = state.problem
        x_last = self.recommend()
        named = {}
        if problem is not None:
            space = problem.space
            named = {
                "params": space.from_vector(best_x),
                "params_last": space.from_vector(x_last),
                "params0": space.from_vector(state.x0),
            }
        return OptimizeResult(
            x=best_x.clone(),
            **named,
            fun=best_f,
            success=state.status in Status.SUCCESS,
            status=state.status,
            message=state.message,
            nfev=state.nfev,
            nfev_monitor=state.nfev_monitor,
            nfail=state.nfail,
            nit=state.nit,
            x_last=x_last,
            x0=state.x0.clone(),
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
        bounds: Any = None,
        callback: Callable[[OptimizeResult], Any] | None = None,
        checkpoint: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
        evaluator: Any = None,
    ) -> OptimizeResult:
        """Run :meth:`fit` and return its :class:`~blackbox_opt.OptimizeResult`.

        Parameters
        ----------
        problem, x0, budget, bounds, callback, checkpoint, checkpoint_every, evaluator :
            As in :meth:`fit`.

        Returns
        -------
        OptimizeResult
        """
        fitted = self.fit(
            problem,
            x0,
            budget=budget,
            bounds=bounds,
            callback=callback,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
            evaluator=evaluator,
        )
        return fitted.result_

    # -- helpers for subclasses ------------------------------------------------------------
    def _restored(self, value: Any) -> Any:
        """A saved value for ``_set_state``: tensors moved to the run's device."""
        if torch.is_tensor(value):
            return value.to(device=self._state.device)
        return value

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

    def _per_parameter(self, name: str, fraction: float, absolute: float) -> torch.Tensor:
        """The parameter ``name`` as one value per coordinate (see :mod:`~blackbox_opt.scales`).

        None gives ``fraction`` of each coordinate's scale (its bound width), or
        ``absolute`` where it has none; a number is used as it is; a vector is checked
        against the run's dimension.
        """
        return resolve_scale(
            getattr(self, name),
            scales=self._state.scales,
            fraction=fraction,
            absolute=absolute,
            name=name,
            owner=type(self).__name__,
        )

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        """Clamp ``x`` into the bounds (no-op without bounds)."""
        bounds = self._state.bounds
        if bounds is None:
            return x
        return torch.maximum(torch.minimum(x, bounds[1]), bounds[0])
