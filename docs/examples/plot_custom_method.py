"""
Adding a method: a (1+1)-ES in forty lines, checked by the shared suite
=======================================================================

A new optimiser subclasses :class:`~blackbox_opt.BaseOptimizer` and implements a few
small hooks; the base class gives it ``fit``, ``minimize``, ask/tell, budgets,
callbacks, seeding, the progress bar, the error policy and exact resumption. Here, the
(1+1) evolution strategy with Rechenberg's 1/5th success rule: one Gaussian offspring
per iteration around the parent; the step size grows after a success and shrinks
after a failure, so that about one offspring in five succeeds.

The hooks:

``_start(state)``
    Set up the run: ``state`` holds ``x0``, the bounds, the dimension, the device
    and dtype, and the run's random generator (use it for every draw).
``_ask()`` / ``_tell(X, y, grads)``
    Propose a batch ``(B, D)``; receive its losses ``(B,)``.
``_recommend()``
    The current iterate.
``_get_state()`` / ``_set_state(state)``
    The run state that ``state_dict`` saves: every attribute the run sets, under its
    name without the leading underscore; attributes computed from the parameters
    alone go in ``_derived_state`` instead.
"""

import math
from numbers import Real
from typing import ClassVar

import matplotlib.pyplot as plt
import torch

import problems
from blackbox_opt import BaseOptimizer, minimize, register_method
from blackbox_opt.testing import check_optimizer
from blackbox_opt.validation import Interval


class OnePlusOneES(BaseOptimizer):
    """The (1+1)-ES with the 1/5th success rule.

    Parameters
    ----------
    sigma0 : float, default=0.3
        The first step size, in parameter units.
    **kwargs
        The shared parameters of :class:`~blackbox_opt.BaseOptimizer`.
    """

    name = "es11"
    _recommends_best = True  # the parent is the best point evaluated
    _stays_in_bounds = True  # offspring are clamped into the bounds
    _parameter_constraints: ClassVar[dict] = {
        "sigma0": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, *, sigma0: float = 0.3, **kwargs):
        super().__init__(**kwargs)
        self.sigma0 = sigma0

    def _start(self, state):
        self._parent = state.x0.clone()
        self._parent_loss = math.inf
        self._sigma = self.sigma0

    def _ask(self):
        state = self._state
        noise = torch.randn(
            1, state.dim, generator=state.generator, device=state.device, dtype=state.dtype
        )
        return self._project(self._parent + self._sigma * noise)

    def _tell(self, X, y, grads):
        loss = float(y[0])
        if loss < self._parent_loss:
            self._parent, self._parent_loss = X[0].clone(), loss
            self._sigma *= math.exp(0.8)  # success: about five failures undo one
        else:
            self._sigma *= math.exp(-0.2)
        return {"sigma": self._sigma}

    def _recommend(self):
        return self._parent

    def _get_state(self):
        return {
            **super()._get_state(),
            "parent": self._parent,
            "parent_loss": self._parent_loss,
            "sigma": self._sigma,
        }

    def _set_state(self, state):
        super()._set_state(state)
        self._parent = self._restored(state["parent"])
        self._parent_loss = state["parent_loss"]
        self._sigma = state["sigma"]


# %%
# The shared check suite
# ----------------------
# Every registered method passes the same checks: same seed same run, the budget
# respected, callbacks, ask/tell equal to ``fit``, a complete and exact saved state,
# clear errors for bad input, Ctrl-C and a failing forward model keeping the best point,
# and progress on a quadratic. It raises an ``AssertionError`` that says what to fix.

check_optimizer(OnePlusOneES)
print("OnePlusOneES passes check_optimizer")

# %%
# Registered, it is a method like the others
# ------------------------------------------
# ``minimize`` finds it by name, with its parameters as options. Installed packages
# register theirs on import, or through ``register_method(name, "package.module:Class")``.

register_method("es11", OnePlusOneES, overwrite=True)
sphere = problems.make("sphere", dim=10)
runs = {
    name: minimize(sphere, method=name, budget=3000, random_state=0, verbose=False, **options)
    for name, options in {
        "es11": {"sigma0": 0.5},
        "random": {"sampling": "gaussian", "center": "best", "sigma": 0.05},
    }.items()
}
for name, res in runs.items():
    print(f"{name:7s} best loss {res.fun:.3g} after {res.nfev} evaluations")

fig, ax = plt.subplots(figsize=(5, 3.2))
for name, res in runs.items():
    ax.semilogy(res.history["nfev"], res.history["best"], label=name)
ax.set(xlabel="evaluations", ylabel="best loss", title="10-D sphere")
ax.legend()
fig.tight_layout()
