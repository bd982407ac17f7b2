"""Saving a run and resuming it: ``state_dict`` and ``load_state_dict``.

:class:`Saving` is the part of :class:`~blackbox_opt.BaseOptimizer` that turns a run
into tensors and plain values and back; each method adds its own state through the
``_get_state``/``_set_state`` hooks. :mod:`blackbox_opt.checkpoint` describes the
format.
"""

from __future__ import annotations

import inspect

import torch

from ..checkpoint import STATE_FORMAT, copy_state, plain_params
from ..exceptions import InvalidParameterError
from ..result import History
from .pending import PendingBatch

__all__ = ["Saving"]

#: Parameters that may differ between a saved run and the optimiser resuming it: the
#: stopping limits (a resumed run may be given longer), the progress bar, the seed (the
#: saved generator replaces it), the failure policy and the number of torch threads (a
#: run may resume on another machine; the threads change at most the rounding).
RESUME_MAY_DIFFER = frozenset(
    {
        "verbose",
        "random_state",
        "max_time",
        "on_error",
        "budget",
        "max_iter",
        "target",
        "n_threads",
    }
)


class Saving:
    """Mixin of :class:`~blackbox_opt.BaseOptimizer`: ``state_dict``, ``load_state_dict``."""

    def state_dict(self) -> dict:
        """Everything needed to resume the run exactly, as tensors and plain values.

        Like :meth:`torch.optim.Optimizer.state_dict`: the run's counters, best point,
        history and random generator, the method's own state (each method saves its
        iterate, its inner optimisers and any pending batch explicitly in
        ``_get_state``), and the parameters it was built with. Save it with
        :func:`torch.save`; it loads with ``torch.load(..., weights_only=True)``. To
        resume, build the optimiser with the same parameters, :meth:`start` it on the
        same problem, then :meth:`load_state_dict`. The wrapped libraries' optimisers
        (pycma, nevergrad) are stored as labelled pickles (see
        :mod:`blackbox_opt.checkpoint`) and unpickled on load: load such states only
        from trusted files.

        Returns
        -------
        dict
            ``format``, ``class``, ``dim``, ``params``, ``run`` and ``method``. The
            dict is a copy: it does not change as the run goes on.
        """
        return self._state_dict(copy=True)

    def _state_dict(self, copy: bool) -> dict:
        """:meth:`state_dict`; without ``copy``, the live tensors themselves, for a save
        that writes them out at once (a checkpoint: no second copy of a large state)."""
        state = self._require_started()
        keep = copy_state if copy else (lambda value: value)
        return {
            "format": STATE_FORMAT,
            "class": type(self).__name__,
            "dim": state.dim,
            "params": plain_params(self.get_params(deep=False)),
            "run": keep(
                {
                    "nit": state.nit,
                    "nfev": state.nfev,
                    "nfev_monitor": state.nfev_monitor,
                    "nfail": state.nfail,
                    "x0": state.x0,
                    "bounds": state.bounds,
                    "problem": None if state.problem is None else state.problem.name,
                    "best_x": state.best_x,
                    "best_f": state.best_f,
                    "worst_f": state.worst_f,
                    "pending": None if state.pending is None else state.pending.state_dict(),
                    "generator": state.generator.get_state(),
                    "history": state.history.to_dict(as_tensors=True),
                }
            ),
            "method": keep(self._get_state()),
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Resume a run saved by :meth:`state_dict`.

        On an optimiser that has not started, the state is kept and applied by the next
        :meth:`start` or :meth:`fit`, which then continues the saved run instead of
        starting anew: ``PRDPT(**same_params).load_state_dict(saved)`` then
        ``.fit(problem)``. On a started optimiser it is applied at once (and a
        following :meth:`fit` continues from it too, unless :meth:`ask` was called in
        between).

        Parameters
        ----------
        state_dict : dict
            From :meth:`state_dict` of an optimiser of the same class, dimension and
            parameters. ``verbose``, ``random_state`` (the saved generator replaces
            the seed), ``on_error`` and ``n_threads`` may differ, and so may the stopping limits
            ``budget``, ``max_iter``, ``max_time`` and ``target``: a run saved at its
            end goes on to larger limits. A schedule that follows the run's length
            (sigma annealing, SPSA's gains) then stretches to the new end from the
            iteration the run is at, so such a run is not the one a single run to the
            larger limit would have made; with the same limits it is exactly that. A
            nevergrad optimiser keeps the plan it made for the saved budget (NGOpt's
            choice of algorithm) and is asked for more points past it.

        Raises
        ------
        InvalidParameterError
            For a state of another class, format or set of parameters, or (when it is
            applied) of another dimension, start point, bounds or problem (by name),
            naming what differs.
        """
        if not isinstance(state_dict, dict) or state_dict.get("format") != STATE_FORMAT:
            got = state_dict.get("format") if isinstance(state_dict, dict) else None
            raise InvalidParameterError(
                f"This is not a state of format {STATE_FORMAT} from "
                f"BaseOptimizer.state_dict() (format {got!r})."
            )
        if state_dict.get("class") != type(self).__name__:
            raise InvalidParameterError(
                f"{self._this_state()} is of a {state_dict.get('class')}; this optimiser is a "
                f"{type(self).__name__}."
            )
        ours = plain_params(self.get_params(deep=False))
        # a parameter added after the state was saved ran at its default there
        saved = {**self._param_defaults(), **state_dict["params"]}
        differ = sorted(
            name
            for name in set(ours) | set(saved)
            if name not in RESUME_MAY_DIFFER and ours.get(name) != saved.get(name)
        )
        if differ:
            listing = ", ".join(f"{n}={saved.get(n)!r} (here {ours.get(n)!r})" for n in differ)
            raise InvalidParameterError(
                f"{self._this_state()} was saved by a {type(self).__name__} with other "
                f"parameters: {listing}. Build the optimiser with the saved parameters to "
                "resume."
            )
        if self.__dict__.get("_state") is not None:
            self._apply_state(state_dict)
        self._resume = state_dict

    def _apply_state(self, state_dict: dict) -> None:
        """Put a checked saved state into the started run."""
        state = self._state
        if state_dict.get("dim") != state.dim:
            raise InvalidParameterError(
                f"{self._this_state()} is of a {state_dict.get('class')} in "
                f"{state_dict.get('dim')} dimensions; this optimiser's problem has {state.dim}."
            )
        for name, saved, ours in (
            ("another start x0", state_dict["run"].get("x0", state.x0), state.x0),
            ("other bounds", state_dict["run"].get("bounds", state.bounds), state.bounds),
        ):  # a state saved before these were kept is not checked
            if not _same_tensor(saved, ours):
                raise InvalidParameterError(
                    f"{self._this_state()} was saved by a run with {name}: "
                    f"{_brief(saved)} (here {_brief(ours)}). Resume with the saved run's "
                    "start and bounds, or start a new run without this state."
                )
        saved_name = state_dict["run"].get("problem")
        name = None if state.problem is None else state.problem.name
        if saved_name is not None and name is not None and saved_name != name:
            raise InvalidParameterError(
                f"{self._this_state()} was saved by a run on the problem {saved_name!r}; "
                f"this run's problem is {name!r}. Resume it on {saved_name!r}, or start "
                "a new run without this state (another checkpoint file, or delete this "
                "one)."
            )
        expected = set(self._get_state())
        saved_keys = set(state_dict["method"])
        if saved_keys != expected:
            raise InvalidParameterError(
                f"{self._this_state()} ({type(self).__name__}) has the fields "
                f"{sorted(saved_keys)}; this version of the method saves {sorted(expected)}."
            )
        run = state_dict["run"]
        on_run = dict(device=state.device, dtype=state.dtype)
        state.nit, state.nfev, state.nfev_monitor = run["nit"], run["nfev"], run["nfev_monitor"]
        state.nfail = run["nfail"]
        state.best_x = run["best_x"].to(**on_run)
        state.best_f = run["best_f"].to(**on_run)
        state.worst_f = run["worst_f"].to(**on_run)
        pending = run["pending"]
        state.pending = (
            None if pending is None else PendingBatch.from_state_dict(pending, state.device)
        )
        state.generator.set_state(run["generator"])
        state.history = History.from_dict(run["history"])
        self._set_state(state_dict["method"])

    @classmethod
    def _param_defaults(cls) -> dict:
        """The constructor's defaults, as :func:`plain_params` writes them."""
        signature = inspect.signature(cls)
        return plain_params(
            {
                name: p.default
                for name, p in signature.parameters.items()
                if p.default is not inspect.Parameter.empty
            }
        )

    def _this_state(self) -> str:
        """How errors name the state: the checkpoint file ``fit`` resumes from, if any."""
        source = self.__dict__.get("_resume_source")
        return "This state" if source is None else f"The checkpoint {source}"

    @property
    def resuming(self) -> bool:
        """Whether a loaded state waits to be applied by the next :meth:`start` or ``fit``.

        Returns
        -------
        bool
        """
        return "_resume" in self.__dict__


def _same_tensor(a, b) -> bool:
    """Equal, compared in the lower precision of the two (a float32 run resumed in
    float64 has the same start)."""
    if a is None or b is None:
        return a is None and b is None
    if a.shape != b.shape:
        return False
    low = a.dtype if torch.finfo(a.dtype).bits <= torch.finfo(b.dtype).bits else b.dtype
    return bool(torch.equal(a.to(device=b.device, dtype=low), b.to(low)))


def _brief(value) -> str:
    if value is None:
        return "none"
    values = value.detach().cpu().double().reshape(-1).tolist()
    text = ", ".join(f"{v:.6g}" for v in values[:6])
    return f"[{text}{', ...' if len(values) > 6 else ''}]"
