"""PRDPT: descend the Gaussian-smoothed loss with importance-sampled gradient estimates."""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral, Real
from typing import Any, ClassVar

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ..exceptions import InvalidParameterError
from ..smoothing import SAMPLERS, draw_offsets, smoothed_gradient
from .base import RunState
from .gradient import GradientMethod

__all__ = ["PRDPT", "sigma_schedule"]


def sigma_schedule(
    iteration: int, sigma: float, sigma_min: float, anneal_start: int, n_iter: int | None
) -> float:
    """The PRDPT annealing: constant for ``anneal_start`` iterations, then linear.

    ``sigma`` is kept until ``anneal_start``, then decays linearly to ``sigma_min`` at
    iteration ``n_iter`` and stays there. Without a known ``n_iter`` it stays constant.

    Parameters
    ----------
    iteration : int
        The 0-based iteration.
    sigma, sigma_min : float
        The start and end scales.
    anneal_start : int
        Iterations at constant ``sigma``.
    n_iter : int or None
        The run's length.

    Returns
    -------
    float

    Examples
    --------
    >>> [round(sigma_schedule(t, 1.0, 0.1, 2, 5), 6) for t in range(7)]
    [1.0, 1.0, 1.0, 0.7, 0.4, 0.1, 0.1]
    """
    if n_iter is None or iteration <= anneal_start or n_iter <= anneal_start:
        return sigma
    progress = min(1.0, (iteration - anneal_start) / (n_iter - anneal_start))
    return sigma + progress * (sigma_min - sigma)


class PRDPT(GradientMethod):
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
    sigma : float, default=0.1
        The initial smoothing scale, in parameter units (the paper advises about half
        the parameter domain's extent when the start is far from the target).
    n_samples : int, default=2
        Offsets per iteration (pairs with ``antithetic``).
    antithetic : bool, default=True
        Mirrored pairs ``(tau, -tau)``: the same cost, half the variance.
    sampler : {"radial", "coordinate", "gaussian"}, default="radial"
        ``"radial"`` is unbiased in any dimension and equals the paper's estimator in
        1-D; ``"coordinate"`` is the paper code's per-coordinate sampling.
    schedule : {"linear", "constant"} or callable, default="linear"
        ``"linear"``: ``sigma`` constant for ``anneal_start`` iterations, then linear
        to ``sigma_min`` at the run's last iteration (known from ``max_iter`` or the
        budget; constant when the run is open-ended). A callable
        ``schedule(iteration) -> sigma`` replaces it.
    sigma_min : float, optional
        The final scale; default ``sigma / 50`` (the paper's 0.5 -> 0.01).
    anneal_start : int or float, default=0.5
        Iterations at constant ``sigma``: an int, or a fraction of the run.
    lr : float, default=1e-2
        The optimiser's learning rate.
    optimizer, optimizer_options :
        The torch optimiser (name or class) and its extra arguments.
    **kwargs
        The shared parameters of :class:`~blackbox_opt.optimizers.BaseOptimizer`.

    Examples
    --------
    >>> import problems
    >>> res = PRDPT(sigma=0.05, n_samples=4, lr=1e-3, max_iter=500, random_state=0,
    ...             verbose=False).minimize(problems.make("rect"))
    >>> bool(((res.x - torch.tensor([0.5, 0.33])) ** 2).mean() < 1e-6)
    True
    """

    name = "prdpt"
    _parameter_constraints: ClassVar[dict] = {
        "sigma": [Interval(Real, 0, None, closed="neither")],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "antithetic": ["boolean"],
        "sampler": [StrOptions(set(SAMPLERS))],
        "schedule": [StrOptions({"linear", "constant"}), callable],
        "sigma_min": [Interval(Real, 0, None, closed="neither"), None],
        "anneal_start": [
            Interval(Integral, 0, None, closed="left"),
            Interval(Real, 0, 1, closed="both"),
        ],
    }

    def __init__(
        self,
        *,
        sigma: float = 0.1,
        n_samples: int = 2,
        antithetic: bool = True,
        sampler: str = "radial",
        schedule: str | Callable[[int], float] = "linear",
        sigma_min: float | None = None,
        anneal_start: int | float = 0.5,
        lr: float = 1e-2,
        **kwargs: Any,
    ):
        super().__init__(lr=lr, **kwargs)
        self.sigma = sigma
        self.n_samples = n_samples
        self.antithetic = antithetic
        self.sampler = sampler
        self.schedule = schedule
        self.sigma_min = sigma_min
        self.anneal_start = anneal_start

    def _check_params_consistency(self) -> None:
        if self.sigma_min is not None and self.sigma_min > self.sigma:
            raise InvalidParameterError(
                f"sigma_min ({self.sigma_min}) must not exceed sigma ({self.sigma})."
            )

    @property
    def _batch(self) -> int:
        return self.n_samples * (2 if self.antithetic else 1)

    def _start(self, state: RunState) -> None:
        super()._start(state)
        self._n_iter = self._expected_iterations(self._batch)
        start = self.anneal_start
        if isinstance(start, float) and self._n_iter is not None:
            start = int(start * self._n_iter)
        self._anneal_start = int(start) if not isinstance(start, float) else 0
        self._weights: torch.Tensor | None = None

    def current_sigma(self) -> float:
        """The smoothing scale of the coming iteration."""
        t = self._state.nit
        if callable(self.schedule):
            sigma = float(self.schedule(t))
            if not sigma > 0:
                raise InvalidParameterError(f"schedule({t}) returned {sigma}; it must be > 0.")
            return sigma
        if self.schedule == "constant":
            return self.sigma
        sigma_min = self.sigma_min if self.sigma_min is not None else self.sigma / 50
        return sigma_schedule(t, self.sigma, sigma_min, self._anneal_start, self._n_iter)

    def _ask(self) -> torch.Tensor:
        state = self._state
        self._sigma = self.current_sigma()
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
        return {**self._step(grad), "sigma": self._sigma}
