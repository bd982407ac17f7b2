"""PRDPT: descend the Gaussian-smoothed loss with importance-sampled gradient estimates."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ..smoothing import SAMPLERS, draw_offsets, smoothed_gradient
from ..validation import Options
from .base import RunState
from .smoothing_base import SmoothingMethod

__all__ = ["PRDPT"]


class PRDPT(SmoothingMethod):
    """Plateau-reduced gradients: descend the Gaussian-smoothed loss (Fischer & Ritschel 2023).

    Each iteration draws ``n_samples`` offsets ``tau`` from the derivative-of-Gaussian
    importance density (antithetic pairs by default), evaluates the ``2 n_samples``
    points ``theta -+ tau`` in one batched call, and feeds the estimate of the smoothed
    loss's gradient to a torch optimiser (Adam by default). On a plateau the smoothed
    loss still slopes towards the distant minimum, so the iterate moves where the true
    gradient is zero. The scale ``sigma`` is annealed so that the run ends at the
    minimum of the loss itself, not of its smoothed version. See
    :mod:`blackbox_opt.smoothing` for the estimators.

    Parameters
    ----------
    sigma : float, array-like of shape (D,) or None, default=None
        The initial smoothing scale, in parameter units (the paper advises about half
        the parameter domain's extent when the start is far from the target). None: 0.1
        of each parameter's bound width, 0.1 where it has no finite bounds; a vector
        gives each parameter its own (see :mod:`blackbox_opt.scales`).
    n_samples : int, default=2
        Offsets per iteration (pairs with ``antithetic``).
    antithetic : bool, default=True
        Mirrored pairs ``(tau, -tau)``: the same cost, lower variance (the even part
        of the loss around theta cancels).
    sampler : {"radial", "coordinate", "gaussian"}, default="radial"
        ``"radial"`` is unbiased in any dimension and equals the paper's estimator in
        1-D; ``"coordinate"`` is the paper code's per-coordinate sampling.
    schedule : {"linear", "constant"} or callable, default="linear"
        ``"linear"``: ``sigma`` constant for ``anneal_start`` iterations, then linear,
        reaching ``sigma_min`` at the run's last iteration (known from ``max_iter`` or the
        budget; constant when the run is open-ended). A callable
        ``schedule(iteration) -> sigma`` replaces it.
    sigma_min : float or array-like of shape (D,), optional
        The final scale; default ``sigma / 50`` per parameter (the paper's 0.5 -> 0.01).
    anneal_start : int or float, default=0.5
        Iterations at constant ``sigma``: an int, or a fraction of the run.
    lr_follows_sigma : bool, default=False
        Scale the learning rate by ``sigma_t / sigma`` as ``sigma`` is annealed.
    lr : float, array-like of shape (D,) or None, default=None
        The optimiser's learning rate, in parameter units: None is 0.01 of each
        parameter's bound width (0.01 where it has no finite bounds); a vector gives one
        rate per parameter (see :class:`~blackbox_opt.optimizers.GradientMethod`).
    optimizer, optimizer_options :
        The torch optimiser (name or class) and its extra arguments.
    **kwargs
        The shared parameters of :class:`~blackbox_opt.BaseOptimizer`.

    Examples
    --------
    >>> import problems
    >>> res = PRDPT(sigma=0.05, n_samples=4, lr=1e-3, max_iter=500, random_state=0,
    ...             verbose=False).minimize(problems.make("rect", res=64))
    >>> bool(((res.x - torch.tensor([0.5, 0.33])) ** 2).mean() < 1e-6)
    True
    """

    name = "prdpt"
    #: 2: points sampled beyond the bounds are evaluated on them (``ask`` clamps)
    version: ClassVar[int] = 2
    _parameter_constraints: ClassVar[dict] = {"sampler": [Options(set(SAMPLERS))]}

    def __init__(self, *, sampler: str = "radial", **kwargs: Any):
        super().__init__(**kwargs)
        self.sampler = sampler

    def _start(self, state: RunState) -> None:
        super()._start(state)
        self._weights: torch.Tensor | None = None  # the pending batch's sample weights
        self._sigma: float | None = None

    def _get_state(self) -> dict:
        return {
            **super()._get_state(),
            "weights": self._weights,
            "sigma": self._sigma_info(self._sigma),
        }

    def _set_state(self, state: dict) -> None:
        super()._set_state(state)
        self._weights = self._restored(state["weights"])
        self._sigma = state["sigma"]

    def _ask(self) -> torch.Tensor:
        state = self._state
        self._sigma = self._next_sigma()
        offsets, self._weights = draw_offsets(
            self.n_samples,
            state.dim,
            self._sigma,
            generator=state.generator,
            sampler=self.sampler,
            antithetic=self.antithetic,
            dtype=state.dtype,
            device=state.device,
        )
        return self._theta.detach() - offsets

    def _tell(self, X: torch.Tensor, y: torch.Tensor, grads: torch.Tensor | None) -> dict:
        grad = smoothed_gradient(self._weights, y)
        return {**self._step(grad), "sigma": self._sigma_info(self._sigma)}
