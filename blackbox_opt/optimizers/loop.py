"""The fit loop: ask, evaluate, tell, monitor, until a stop; one error policy.

:meth:`BaseOptimizer.fit <blackbox_opt.BaseOptimizer.fit>` builds a :class:`RunLoop`
and calls :meth:`RunLoop.run`. Read top to bottom, one iteration is
:meth:`RunLoop.iterate`: the stop test, ``ask``, the budget test, the evaluation,
``tell``, the monitoring evaluation, the progress bar, the callback and the method's
own convergence test.

Every evaluation of the problem (the method's batches and the monitoring of its
iterate) goes through :func:`~blackbox_opt.evaluation.evaluate`, and every failure of
the forward model (an exception it raises, non-finite losses) is handled by one
policy, the optimiser's ``on_error``:

- ``"raise"``: the run ends, the optimiser is fitted with the best point so far, and
  an :class:`~blackbox_opt.EvaluationError` carrying that result is raised;
- ``"stop"``: the run ends and returns that result with ``success=False``.

The library's own errors (a bad parameter, a problem without gradients) propagate as
they are; ``KeyboardInterrupt`` ends the run and returns the result so far.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..evaluation import evaluate, evaluate_rest, is_forward_model_failure
from ..exceptions import (
    BlackboxOptError,
    CallbackError,
    EvaluationError,
    InvalidParameterError,
    MethodError,
    PointsFailedError,
)
from ..problem import Problem
from ..result import HISTORY_COLUMNS, OptimizeResult, Status

if TYPE_CHECKING:
    from .base import BaseOptimizer

__all__ = ["ALL_FAILED_LIMIT", "FAILED_STREAK_LIMIT", "RunLoop"]

#: Under ``on_error`` "penalize" or "reask", a run whose first this-many evaluations
#: all failed ends with an :class:`~blackbox_opt.EvaluationError`: the forward model
#: does not run at all.
ALL_FAILED_LIMIT = 10

#: Under ``on_error`` "penalize" or "reask", a run whose last this-many evaluations (in
#: whole batches) all failed, after some that succeeded, ends with an
#: :class:`~blackbox_opt.EvaluationError` holding the result so far: the forward model
#: has stopped working (a render server down, a licence expired), which the policies for
#: lost frames would otherwise take to the end of the budget as penalties.
FAILED_STREAK_LIMIT = 50


def _monitor_every(monitor: Any) -> int | str | None:
    if monitor is True:
        return 1
    if monitor is False:
        return None
    return monitor  # an int, or "auto"


def _auto_monitor_every(problem: Problem, batch: int) -> int:
    """Iterations between monitoring evaluations under ``monitor="auto"``.

    A problem is monitored after every iteration, unless its ``cost`` is
    ``"expensive"`` (a renderer, an external program, a callable evaluated point by
    point): then every ``ceil(10 / batch)`` iterations, so that the monitoring adds at
    most a tenth to the evaluations the budget pays for. The rule reads the problem's
    declaration, not a timing, so that the same seed gives the same run.
    """
    if getattr(problem, "cost", "cheap") != "expensive":
        return 1
    return max(1, math.ceil(10 / batch))


class RunLoop:
    """One run of an optimiser on a problem, from a started optimiser to its result.

    Parameters
    ----------
    optimizer : BaseOptimizer
        Started on ``problem`` (:meth:`~blackbox_opt.BaseOptimizer.start`).
    problem : Problem
    budget : int or None
        Evaluations the run may charge.
    callback : callable or None
        ``callback(intermediate_result)`` after every iteration.
    """

    def __init__(
        self,
        optimizer: BaseOptimizer,
        problem: Problem,
        budget: int | None,
        callback: Callable[[OptimizeResult], Any] | None,
        checkpoint: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
    ):
        self.optimizer = optimizer
        self.problem = problem
        self.budget = budget
        self.callback = callback
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        self.checkpoint_every = checkpoint_every
        self._last_save = time.monotonic()
        self._save_seconds = 0.0  # how long the last checkpoint took to write
        self.state = optimizer._require_started()
        self.verbose = sys.stderr.isatty() if optimizer.verbose is None else optimizer.verbose
        self._last_postfix = 0.0
        self._unchecked: tuple[torch.Tensor, int] | None = None
        #: iterations between monitoring evaluations (None: only the final iterate);
        #: ``monitor="auto"`` decides from the problem's cost at the first batch
        self.monitor_every = _monitor_every(optimizer.monitor)
        self._monitored_at = -1  # the iteration whose iterate was monitored last
        #: on_error "penalize" and "reask": a failed evaluation costs one point, not the run
        self.failures_cost_one_point = optimizer.on_error in ("penalize", "reask")
        self._first_failure: str | None = None  # why the first failed point failed
        self._last_failure: str | None = None  # and why the latest did
        self._counted = (0, 0)  # nfev and nfail when the streak was last counted
        self._streak = 0  # evaluations failed since the last batch with a success
        #: a declared space's scalar parameters at the iterate become named history columns
        space = problem.space
        self.named_space = None if space.is_default else space

    def run(self) -> None:
        """Iterate until a stop, then fit the optimiser with the result.

        Raises
        ------
        EvaluationError
            When the forward model failed and ``on_error="raise"``.
        """
        from tqdm.auto import tqdm

        opt = self.optimizer
        self.bar = tqdm(
            total=self.budget if self.budget is not None else opt.max_iter,
            unit="eval" if self.budget is not None else "it",
            desc=f"{opt.name or type(opt).__name__} on {self.problem.name}",
            disable=not self.verbose,
            leave=False,
            dynamic_ncols=True,
        )
        status, failure = Status.RUNNING, None
        fresh = self.state.nit == 0 and self.state.nfev == 0 and self.state.pending is None
        try:
            if fresh:
                self.first_batch()
                self.monitor(new_row=True)
                self.check_monitored()
            else:
                history = self.state.history
                if len(history) and history["nit"][-1] == self.state.nit:
                    if not math.isnan(history["loss"][-1]):  # the iterate was evaluated
                        self._monitored_at = self.state.nit  # at the save: not again
                if self.state.pending is None and opt._converged():
                    # resumed from a state saved once the method had converged: the run
                    # is over, as it was (a budget or iteration limit is met in iterate)
                    status = Status.CONVERGED
            self._counted = (self.state.nfev, self.state.nfail)  # a resumed run's too
            while status == Status.RUNNING:
                status = self.iterate()
            if self._monitored_at != self.state.nit:
                self.monitor(new_row=False)  # the final iterate, evaluated once
            self.check_monitored()
        except KeyboardInterrupt:
            status = Status.INTERRUPTED
        except _ModelFailure as exc:
            status, failure = Status.ERROR, exc.cause
        except EvaluationError as exc:  # non-finite losses, found by tell or monitor
            status, failure = Status.ERROR, exc
        except (_CallbackFailure, _MethodFailure) as exc:
            status, failure = Status.ERROR, exc
        finally:
            self.bar.close()
        self.finish(status, failure)

    def first_batch(self) -> None:
        """Ask for the first batch before anything is evaluated: a budget that cannot
        pay for it is an error, not an empty run that reports success."""
        opt, state = self.optimizer, self.state
        X = opt.ask()  # pending now: the first iteration evaluates these very points
        if self.budget is not None and X.shape[0] > self.budget:
            state.pending = None
            raise InvalidParameterError(
                f"A budget of {self.budget} evaluations cannot pay for one iteration of "
                f"{opt.name or type(opt).__name__}, which evaluates {X.shape[0]} points per "
                f"iteration here; give budget >= {X.shape[0]} (nothing was evaluated)."
            )

    def iterate(self) -> int:
        """One ask/evaluate/tell round; returns the status after it (RUNNING to go on)."""
        opt, state = self.optimizer, self.state
        status = opt._stop_reason(self.budget)
        if status != Status.RUNNING:
            return status
        X = self.method_call(opt.ask)  # the pending batch's waiting points, if any
        if self.budget is not None and state.nfev + X.shape[0] > self.budget:
            return Status.BUDGET
        try:
            y, grads = self.evaluate(X, gradients=opt.needs_gradient)
        except _ModelFailure as exc:
            if not self.failures_cost_one_point:
                self.keep_evaluated(X, exc.cause)
                raise
            y, grads = self.evaluate_each(X, exc.cause)
        try:
            self.method_call(opt.tell, X, y, grads)  # reads the losses: the device caught up
        except EvaluationError as exc:  # penalize with nothing to base the penalty on
            if self._first_failure is None:
                raise
            raise EvaluationError(
                f"{str(exc).rstrip('.')}. The forward model failed before any evaluation "
                f"succeeded: {self._first_failure.rstrip('.')}.",
                result=exc.result,
            ) from exc
        self.check_all_failed()
        if self.monitor_every == "auto":
            self.monitor_every = _auto_monitor_every(self.problem, X.shape[0])
        self.check_monitored()
        self.progress(X.shape[0])
        if state.pending is not None:  # points to redraw (on_error="reask"): go on
            return Status.RUNNING
        every = self.monitor_every
        if opt._recommends_best or (every is not None and state.nit % every == 0):
            self.monitor(new_row=False)
        if self.callback is not None:
            try:
                self.callback(opt.result())
            except StopIteration:
                return Status.CALLBACK
            except Exception as exc:
                raise _CallbackFailure(exc) from exc
        self.save_checkpoint(due=True)
        if opt._converged():
            return Status.CONVERGED
        return Status.RUNNING

    @staticmethod
    def method_call(call: Any, *args: Any) -> Any:
        """``call(*args)``, a step of the method, with its own failures carried to
        :meth:`finish` (which keeps the result so far): an exception of a wrapped
        library or a broken contract (:class:`~blackbox_opt.MethodError`). The
        library's errors about the losses or the parameters pass as they are."""
        try:
            return call(*args)
        except MethodError as exc:
            raise _MethodFailure(exc) from exc
        except (BlackboxOptError, _Carried):
            raise
        except Exception as exc:
            raise _MethodFailure(exc) from exc

    def evaluate_each(
        self, X: torch.Tensor, cause: Exception | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Every point's loss after the batch raised, so that only the points that fail
        cost the policy; a failed point's loss is NaN. Each point is evaluated once:
        what a :class:`~blackbox_opt.PointsFailedError` holds is not evaluated again
        (:func:`~blackbox_opt.evaluation.evaluate_rest`)."""
        try:
            y, errors = evaluate_rest(self.problem, X, cause)
        except Exception as exc:
            if is_forward_model_failure(exc):
                raise _ModelFailure(exc) from exc
            raise
        if errors and self._first_failure is None:
            self._first_failure = errors[min(errors)]
        if errors:
            self._last_failure = errors[max(errors)]
        return y, None

    def check_all_failed(self) -> None:
        """End the run once its first :data:`ALL_FAILED_LIMIT` evaluations have all
        failed: a forward model that never runs (a wrong signature, a missing file, a
        loss of None) is not a lost frame, and ``on_error`` "penalize" or "reask" would
        spend the whole budget on it and report success. Likewise once the last
        :data:`FAILED_STREAK_LIMIT` evaluations, in whole batches, have all failed after
        some that succeeded: the model has stopped working. Host counters only: no
        synchronisation with the device."""
        state = self.state
        if state.nfail >= ALL_FAILED_LIMIT and state.nfail == state.nfev:
            raise self.all_failed_error()
        nfev, nfail = state.nfev - self._counted[0], state.nfail - self._counted[1]
        self._counted = (state.nfev, state.nfail)
        if nfev == 0:
            return
        self._streak = self._streak + nfev if nfail == nfev else 0
        if self._streak >= FAILED_STREAK_LIMIT and state.nfev > state.nfail:
            why = (self._last_failure or "it returned NaN or inf").rstrip(".")
            raise EvaluationError(
                f"The last {self._streak} evaluations of {self.problem.name} all failed "
                f"(the latest: {why}), after {state.nfev - state.nfail} that succeeded: "
                "the forward model has stopped working, which is not lost frames "
                f"(on_error={self.optimizer.on_error!r}). The result so far is kept; with "
                "a checkpoint, the same call resumes the run once the model works again."
            )

    def all_failed_error(self) -> EvaluationError:
        """The error of a run whose every evaluation failed."""
        state = self.state
        why = (self._first_failure or "it returned NaN or inf").rstrip(".")
        return EvaluationError(
            f"All {state.nfev} evaluations of {self.problem.name} so far failed (the "
            f"first: {why}). That is a forward model that does not run, not "
            f"lost frames, which on_error={self.optimizer.on_error!r} is for: fix the "
            "model and run again."
        )

    def keep_evaluated(self, X: torch.Tensor, cause: Exception) -> None:
        """Before a failure ends the run (``on_error`` "raise" or "stop"), tell the
        method the points of the batch that were evaluated, and count the failed ones.

        The told points stay in the pending batch: the result's best point counts them,
        and a run resumed from the checkpoint evaluates only the batch's other points.
        Nothing is kept for a method that needs gradients (the failure carries none).
        """
        opt, state = self.optimizer, self.state
        losses = getattr(cause, "losses", None)
        if not isinstance(cause, PointsFailedError) or losses is None or opt.needs_gradient:
            return
        losses = losses.to(device=X.device, dtype=X.dtype)
        done = torch.isfinite(losses)  # failed and unevaluated points hold NaN
        n_done = int(done.sum())
        if n_done:
            self.method_call(opt.tell, X[done], losses[done])
        # the points tried without a loss: they raised, or returned a non-finite one
        failed = X.shape[0] - len(cause.unevaluated) - n_done
        state.nfev += failed
        state.nfail += failed

    def save_checkpoint(self, *, due: bool) -> None:
        """Write the run's state to the checkpoint file, atomically.

        With ``due``, only when ``checkpoint_every`` iterations have passed (or, without
        it, 30 seconds, or 20 times as long as the last save took if that is longer, so
        that saving a large state costs at most 5 % of the run); always otherwise (the
        end of the run).
        """
        if self.checkpoint is None:
            return
        if due:
            every = self.checkpoint_every
            if every is not None and self.state.nit % every != 0:
                return
            wait = max(30.0, 20.0 * self._save_seconds)
            if every is None and time.monotonic() - self._last_save < wait:
                return
        started = time.monotonic()
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        partial = self.checkpoint.with_name(self.checkpoint.name + ".partial")
        # the live state, written out at once: no copy of it is made
        torch.save(self.optimizer._state_dict(copy=False), partial)
        os.replace(partial, self.checkpoint)  # a reader sees the old file or the new one
        self._last_save = time.monotonic()
        self._save_seconds = self._last_save - started

    def monitor(self, *, new_row: bool) -> None:
        """Evaluate the current recommendation (not charged) and record it.

        ``new_row`` starts a history row (the start point); otherwise the values go
        into the row of the iteration just told. The loss stays on the device: a
        non-finite one never becomes the best, and :meth:`check_monitored` reports it
        as a failure of the forward model once the device has caught up (after the
        next ``tell``), so monitoring adds no host-device synchronisation.
        """
        opt, state = self.optimizer, self.state
        self._monitored_at = state.nit
        x = opt._recommend().detach()
        if opt._recommends_best and state.nit > 0:
            loss = state.best_f.clone()
        else:
            try:
                loss = self.evaluate(x[None])[0][0]
            except _ModelFailure:
                if not self.failures_cost_one_point:
                    raise
                loss = torch.full((), math.nan, dtype=state.dtype, device=state.device)
            state.nfev_monitor += 1
            self._unchecked = (loss, state.nit)
            better = torch.isfinite(loss) & (loss < state.best_f)
            state.best_f = torch.where(better, loss, state.best_f)
            state.best_x = torch.where(better, x, state.best_x)
        err = self.problem.param_error(x)
        row = dict(
            loss=loss,
            best=state.best_f.clone(),
            nfev_monitor=state.nfev_monitor,
            param_error=math.nan if err is None else err,
        )
        if self.named_space is not None:
            for name, value in self.named_space.columns(x).items():
                row["param_" + name if name in HISTORY_COLUMNS else name] = value
        if new_row or len(state.history) == 0:
            if opt.record_x:  # the start point; the tells record the later iterates
                row["x"] = x.clone()
            state.history.append(
                nit=state.nit, nfev=state.nfev, time=time.perf_counter() - state.t0, **row
            )
        else:
            state.history.update_last(**row)

    def check_monitored(self) -> None:
        """Raise for a non-finite loss at the last monitored iterate (see :meth:`monitor`)."""
        if self._unchecked is None:
            return
        loss, nit = self._unchecked
        self._unchecked = None
        if self.failures_cost_one_point:
            return  # a failed monitoring evaluation costs its history row only
        value = float(loss)
        if not math.isfinite(value):
            raise EvaluationError(
                f"The forward model returned a non-finite loss ({value}) at the method's "
                f"iterate after iteration {nit}."
            )

    def evaluate(
        self, X: torch.Tensor, *, gradients: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Evaluate on the problem; a failure of the forward model ends the run.

        Only failures raised here count as the forward model's: an error raised by the
        method's own ``ask`` or ``tell`` is the method's and propagates as it is.
        """
        try:
            return evaluate(self.problem, X, gradients=gradients)
        except Exception as exc:
            if is_forward_model_failure(exc):
                raise _ModelFailure(exc) from exc
            raise

    def progress(self, n_points: int) -> None:
        """Advance the progress bar, showing the best loss at most twice a second."""
        self.bar.update(n_points if self.budget is not None else 1)
        if self.verbose and time.monotonic() - self._last_postfix > 0.5:
            self._last_postfix = time.monotonic()
            postfix = {"best": f"{float(self.state.best_f):.4g}"}
            if self.state.nfev_monitor:  # the renders made only to monitor, not charged
                postfix["monitor"] = self.state.nfev_monitor
            self.bar.set_postfix(postfix, refresh=False)

    def finish(self, status: int, failure: Exception | None) -> None:
        """Fit the optimiser with the result; apply ``on_error`` to a failure."""
        opt, state = self.optimizer, self.state
        if failure is None and status in Status.SUCCESS and 0 < state.nfev == state.nfail:
            # a run that ended before ALL_FAILED_LIMIT failures, with every one failed
            status, failure = Status.ERROR, self.all_failed_error()
        detail = ""
        if status == Status.CONVERGED:  # the method says how: converged, or stalled
            status, detail = opt._convergence()
            if status == Status.STALLED and self._streak:  # flat because all failed
                why = (self._last_failure or "it returned NaN or inf").rstrip(".")
                detail = (
                    f"Its last {self._streak} evaluations all failed (the latest: {why}) "
                    f"and on_error={opt.on_error!r} gave them one loss, which the method "
                    "took for a plateau: the forward model has stopped working."
                )
        message = Status.MESSAGES[status] + (f" {detail}" if detail else "")
        carried = {_CallbackFailure: ("The callback", CallbackError, self.state.nit)}
        carried[_MethodFailure] = (opt.name or type(opt).__name__, MethodError, None)
        if type(failure) in carried:
            who, error, at = carried[type(failure)]
            cause = failure.cause
            what = f"{type(cause).__name__}: {str(cause).rstrip('.')}"
            at = self.state.nit + 1 if at is None else at
            opt._finish(status, f"{who} raised {what}")
            self.save_checkpoint(due=False)
            raise error(
                f"{who} raised at iteration {at}: {what}. The best point so far is in this "
                "error's .result and in the optimiser's x_.",
                result=opt.result_,
            ) from cause
        if failure is not None:
            message = f"{message} {type(failure).__name__}: {failure}"
        opt._finish(status, message)
        self.save_checkpoint(due=False)
        if failure is None or opt.on_error == "stop":
            return
        if isinstance(failure, PointsFailedError):  # the same error, saying where it was
            raise PointsFailedError(
                f"The forward model of {self.problem.name} failed at iteration "
                f"{self.state.nit + 1}: {str(failure).rstrip('.')}. The best point so far "
                "(counting this batch's evaluated points) is in this error's .result and "
                "in the optimiser's x_.",
                losses=failure.losses,
                errors=failure.errors,
                unevaluated=failure.unevaluated,
                result=opt.result_,
            ) from failure
        if isinstance(failure, EvaluationError):
            failure.result = opt.result_
            raise failure
        raise EvaluationError(
            f"The forward model of {self.problem.name} raised at iteration "
            f"{self.state.nit + 1}: {type(failure).__name__}: {failure}. The best point so "
            "far is in this error's .result and in the optimiser's x_.",
            result=opt.result_,
        ) from failure


class _Carried(Exception):
    """Carries an exception out of the loop to ``finish``, which decides what it costs."""

    def __init__(self, cause: Exception):
        super().__init__(str(cause))
        self.cause = cause


class _ModelFailure(_Carried):
    """A failure of the forward model."""


class _CallbackFailure(_Carried):
    """An exception of the user's callback."""


class _MethodFailure(_Carried):
    """An exception of the method's ``ask`` or ``tell``."""
