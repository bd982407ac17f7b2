"""Ask and tell: the pending batch, matched tells, failed evaluations, the best point.

:class:`AskTell` is the part of :class:`~blackbox_opt.BaseOptimizer` that a caller who
evaluates elsewhere talks to. ``ask`` opens a
:class:`~blackbox_opt.optimizers.pending.PendingBatch`; ``tell`` matches told rows to
it, applies ``on_error`` to failed evaluations, and lets the method step (its
``_tell`` hook) once the batch is complete, in the order it was asked.
"""

from __future__ import annotations

import math
import time
from numbers import Integral
from typing import Any

import torch

from ..exceptions import EvaluationError, InvalidParameterError, MethodError
from .pending import PendingBatch
from .run_state import _as_batch, _as_losses

__all__ = ["AskTell"]


class AskTell:
    """Mixin of :class:`~blackbox_opt.BaseOptimizer`: ``ask``, ``tell``, the best point."""

    def ask(self, n: int | None = None) -> torch.Tensor:
        """Return points to evaluate: a new batch, or the pending one's unanswered points.

        With no batch pending, the method proposes its next batch. While a batch is
        pending (asked, not yet told in full), ``ask()`` proposes nothing new: it
        returns the batch's points that are still waiting for a loss, after drawing
        new points for those that failed under ``on_error="reask"``. So a caller that
        lost track of what it sent, or lost a frame, asks again.

        Parameters
        ----------
        n : int, optional
            The number of points, for methods that can choose their batch size
            (``random``, ``nevergrad``, ``cmaes`` from its parent number ``mu`` up to
            its population). Other methods ask batches of a fixed size and refuse ``n``.

        Returns
        -------
        torch.Tensor of shape (B, D)

        Raises
        ------
        InvalidParameterError
            For an ``n`` the method cannot honour, or an ``n`` while a batch is pending.
        """
        state = self._require_started()
        self.__dict__.pop("_resume", None)  # driven by hand from here: nothing to re-apply
        batch = state.pending
        if batch is not None:
            if n is not None:
                raise InvalidParameterError(
                    f"A batch of {batch.size} points is pending ({batch.n_told()} told): tell "
                    "their losses before asking for new points; ask() without n returns "
                    "those still waiting."
                )
            redraw = batch.redraw.nonzero().flatten()
            if redraw.numel():
                points = self._into_bounds(self._reask(redraw).to(dtype=state.dtype))
                batch.replace(redraw, points)
            waiting = batch.waiting()
            return batch.hand_out(batch.X[waiting].clone(), waiting)
        if n is None:
            X = self._into_bounds(self._checked_batch(self._ask(), "_ask", None))
        else:
            sizes = self._batch_range()
            if sizes is None:
                raise InvalidParameterError(
                    f"{type(self).__name__} asks batches whose size its own parameters set; "
                    f"call ask() without n (got n={n!r})."
                )
            low, high = sizes
            if not (isinstance(n, Integral) and not isinstance(n, bool) and low <= n <= high):
                raise InvalidParameterError(
                    f"{type(self).__name__} can ask for {low} to {high} points here; got n={n!r}."
                )
            X = self._into_bounds(self._checked_batch(self._ask_n(int(n)), "_ask_n", int(n)))
        batch = PendingBatch(X, needs_gradient=self.needs_gradient)
        state.pending = batch
        return batch.hand_out(X, torch.arange(X.shape[0], device=X.device))

    def _into_bounds(self, X: torch.Tensor) -> torch.Tensor:
        """The asked points moved onto the nearest bound where they lie outside.

        A renderer is never called outside the bounds it was given (a negative radius,
        an index past the end). The smoothing methods keep their own offsets, so their
        estimates are of the smoothed loss of ``f(clip(x))``: the loss continued
        constantly beyond the bounds. A method whose points stay inside by
        construction (``_stays_in_bounds``) is not clamped, nor are the points of a
        problem whose bounds are not hard (:attr:`~blackbox_opt.Problem.hard_bounds`).
        """
        problem = self._state.problem
        if self._stays_in_bounds:
            return X
        if problem is not None and not getattr(problem, "hard_bounds", True):
            return X  # a loss defined everywhere: its bounds frame the search
        return self._project(X)

    def _checked_batch(self, X: Any, hook: str, n: int | None) -> torch.Tensor:
        """The method's proposed batch, or an error that names the method as the culprit."""
        state = self._state
        rows = "B" if n is None else str(n)
        expected = (
            f"{type(self).__name__}.{hook} must return a torch.Tensor of shape ({rows}, "
            f"{state.dim}), dtype {state.dtype}, on {state.device}"
        )
        if not torch.is_tensor(X):
            raise MethodError(f"{expected}; it returned a {type(X).__name__}.")
        if X.ndim != 2 or X.shape[1] != state.dim or X.shape[0] < 1:
            raise MethodError(f"{expected}; it returned shape {tuple(X.shape)}.")
        if n is not None and X.shape[0] != n:
            raise MethodError(f"{expected}; it returned {X.shape[0]} points.")
        if X.dtype != state.dtype or X.device != state.device:
            raise MethodError(f"{expected}; it returned {X.dtype} on {X.device}.")
        return X

    @property
    def n_waiting(self) -> int:
        """Points of the pending batch still waiting for a loss (0 when none is pending).

        Points that failed under ``on_error="reask"`` count: the next :meth:`ask`
        returns their replacements.

        Returns
        -------
        int
        """
        batch = self._require_started().pending
        return 0 if batch is None else batch.size - batch.n_told()

    def tell(self, X: Any, y: Any, grads: Any = None) -> None:
        """Give the method the losses of points it asked for: all at once, or in pieces.

        The rows of ``X`` are matched to the pending batch by their values
        (bit-for-bit equal to what :meth:`ask` returned), so they may come in any order
        and in several tells; the method steps once every point of the batch has its
        loss, and it sees the batch in the order it was asked. A tell that does not fit
        is refused before anything changes.

        A non-finite loss (NaN, inf) is a failed evaluation, handled by ``on_error``:
        ``"raise"`` and ``"stop"`` refuse the tell with
        :class:`~blackbox_opt.EvaluationError` (nothing recorded); ``"penalize"``
        records the penalty instead, set once the batch is complete from the losses
        seen before it and the batch's own, so that the run does not depend on the
        order of the tells; ``"reask"`` records nothing for that point and the next
        :meth:`ask` returns a new point in its place.

        Parameters
        ----------
        X : tensor or array-like of shape (P, D)
            Points of the pending batch.
        y : tensor or array-like of shape (P,)
            Their losses (numbers; NaN marks a failed evaluation).
        grads : tensor or array-like of shape (P, D), optional
            Their gradients; required by methods with ``needs_gradient``.

        Raises
        ------
        InvalidParameterError
            When no batch is pending, for a row that was not asked or whose loss was
            told already, for a count of losses that differs from the rows, for losses
            that are not numbers; nothing is recorded.
        EvaluationError
            For non-finite losses under ``on_error="raise"`` or ``"stop"``.
        """
        state = self._require_started()
        batch = state.pending
        if batch is None:
            raise InvalidParameterError(
                "No batch is pending: tell() takes the points of the last ask(), and "
                + ("every one of them has its loss." if state.nit else "nothing was asked yet.")
            )
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
        slots = batch.match(X)
        # one reduction and one read: NaN and inf propagate through the sum (a finite
        # sum that overflows is checked point by point and passes)
        failed = None if math.isfinite(float(y.sum())) else ~torch.isfinite(y)
        if failed is not None and bool(failed.any()):
            y = self._failed_losses(y, failed, slots, batch)
            keep = ~batch.redraw[slots]
            slots, y = slots[keep], y[keep]
            grads = grads[keep] if grads is not None else None
            state.nfail += int(failed.sum())
        batch.fill(slots, y, grads)
        state.nfev += X.shape[0]
        if batch.complete():
            self._complete_batch(batch)

    def _failed_losses(
        self, y: torch.Tensor, failed: torch.Tensor, slots: torch.Tensor, batch: PendingBatch
    ) -> torch.Tensor:
        """Apply ``on_error`` to the non-finite losses ``y[failed]`` of a tell."""
        state = self._state
        if self.on_error in ("raise", "stop"):
            bad = failed.nonzero().flatten().tolist()[:10]
            raise EvaluationError(
                f"The forward model returned non-finite losses (NaN or inf) at point(s) {bad} "
                f"(rows of X) told at iteration {state.nit + 1}; nothing was recorded. "
                "on_error='penalize' or 'reask' would cost these points instead of the run.",
                result=self.result(),
            )
        if self.on_error == "reask":
            batch.mark_redraw(slots[failed])
            return y
        if batch.n_told() + slots.numel() == batch.size:
            # the tell completes the batch, and the penalty is set then: refuse the tell
            # now, before anything is recorded, if there is nothing to base it on
            told = batch.told & ~batch.penalized
            self._penalty(torch.cat([batch.y[told], y[~failed]]))
        batch.penalized[slots[failed]] = True
        batch.any_penalized = True
        return y  # the penalty replaces these losses once the batch is complete

    def _penalty(self, others: torch.Tensor | None = None) -> torch.Tensor:
        """The loss told for a failed point under ``on_error="penalize"``; ``others``: the
        finite losses of its batch, which count as seen (a first batch with a failure).

        It is set when the batch is complete, so that it does not depend on the order
        or the pieces in which the batch's losses were told.
        """
        state = self._state
        if self.penalty is not None:
            return torch.tensor(float(self.penalty), dtype=state.dtype, device=state.device)
        worst, best = state.worst_f, state.best_f
        if others is not None and others.numel():
            worst, best = torch.maximum(worst, others.max()), torch.minimum(best, others.min())
        if not math.isfinite(float(worst)):
            raise EvaluationError(
                "on_error='penalize' bases its penalty on the worst loss seen so far, and no "
                "finite loss has been seen yet; give penalty= a value.",
                result=self.result(),
            )
        spread = worst - best
        return worst + torch.where(spread > 0, spread, worst.abs().clamp(min=1.0))

    def _complete_batch(self, batch: PendingBatch) -> None:
        """The batch is complete: update the best point and let the method step."""
        state = self._state
        state.pending = None
        if batch.any_penalized:
            penalty = self._penalty(batch.y[~batch.penalized])
            batch.y = torch.where(batch.penalized, penalty, batch.y)
        usable = finite = batch.y
        if batch.any_penalized:  # penalties never become the best, nor the worst seen
            usable = torch.where(batch.penalized, torch.full_like(batch.y, math.inf), batch.y)
            finite = torch.where(batch.penalized, torch.full_like(batch.y, -math.inf), batch.y)
        self._update_best(batch.X, usable)
        state.worst_f = torch.maximum(state.worst_f, finite.max())
        info = self._tell(batch.X, batch.y, batch.grads) or {}
        if self.record_x:
            info = {**info, "x": self._recommend().detach().clone()}
        state.nit += 1
        state.history.append(
            nit=state.nit,
            nfev=state.nfev,
            nfev_monitor=state.nfev_monitor,
            time=time.perf_counter() - state.t0,
            best=state.best_f,  # replaced, never modified in place: no copy needed
            **info,
        )

    def _eligible(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``y`` with the points that may not become the best point set to inf."""
        state = self._state
        if state.bounds is not None and not self._stays_in_bounds:
            # points probed outside the bounds never count
            inside = ((X >= state.bounds[0]) & (X <= state.bounds[1])).all(1)
            y = torch.where(inside, y, torch.full_like(y, math.inf))
        return y

    def _update_best(self, X: torch.Tensor, y: torch.Tensor) -> None:
        state = self._state
        y = self._eligible(X, y)
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
