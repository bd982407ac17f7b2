"""Shared parameters of the methods that sample a Gaussian around the iterate.

PRDPT and ZeroGrads both draw ``n_samples`` offsets of scale ``sigma`` around theta
per iteration (antithetic pairs by default) and anneal ``sigma`` over the run.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral, Real
from typing import Any, ClassVar

from ..exceptions import InvalidParameterError
from ..validation import Interval, Options
from .base import RunState
from .gradient import GradientMethod

__all__ = ["SmoothingMethod", "sigma_schedule"]


def sigma_schedule(
    iteration: int, sigma: float, sigma_min: float, anneal_start: int, n_iter: int | None
) -> float:
    """The PRDPT annealing: constant for ``anneal_start`` iterations, then linear.

    ``sigma`` is kept until ``anneal_start``, then decays linearly to ``sigma_min`` at
    the last iteration ``n_iter - 1``. Without a known ``n_iter`` it stays constant.

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
    >>> [round(sigma_schedule(t, 1.0, 0.1, 2, 6), 6) for t in range(7)]
    [1.0, 1.0, 1.0, 0.7, 0.4, 0.1, 0.1]
    """
    last = None if n_iter is None else n_iter - 1
    if last is None or iteration <= anneal_start or last <= anneal_start:
        return sigma
    progress = min(1.0, (iteration - anneal_start) / (last - anneal_start))
    return sigma + progress * (sigma_min - sigma)


class SmoothingMethod(GradientMethod):
    """Base of methods sampling ``N(theta, sigma^2 I)`` with an annealed ``sigma``.

    Parameters
    ----------
    sigma : float, default=0.1
        The initial sampling scale, in parameter units.
    n_samples : int, default=2
        Offsets per iteration (pairs with ``antithetic``).
    antithetic : bool, default=True
        Mirrored pairs ``(tau, -tau)``.
    schedule : {"linear", "constant"} or callable, default="linear"
        ``"linear"``: ``sigma`` constant for ``anneal_start`` iterations, then linear,
        reaching ``sigma_min`` at the run's last iteration (known from ``max_iter`` or the
        budget; constant when the run is open-ended). A callable
        ``schedule(iteration) -> sigma`` replaces it.
    sigma_min : float, optional
        The final scale; default ``sigma / 50`` (PRDPT's 0.5 -> 0.01).
    anneal_start : int or float, default=0.5
        Iterations at constant ``sigma``: an int, or a fraction of the run.
    lr_follows_sigma : bool, default=False
        Scale the parameter optimiser's learning rate by ``sigma_t / sigma`` so that the
        steps shrink with the sampling scale as it is annealed.
    **kwargs
        The parameters of :class:`~blackbox_opt.optimizers.GradientMethod`.
    """

    _parameter_constraints: ClassVar[dict] = {
        "sigma": [Interval(Real, 0, None, closed="neither")],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "antithetic": ["boolean"],
        "schedule": [Options({"linear", "constant"}), callable],
        "sigma_min": [Interval(Real, 0, None, closed="neither"), None],
        "anneal_start": [
            Interval(Integral, 0, None, closed="left"),
            Interval(Real, 0, 1, closed="both"),
        ],
        "lr_follows_sigma": ["boolean"],
    }

    def __init__(
        self,
        *,
        sigma: float = 0.1,
        n_samples: int = 2,
        antithetic: bool = True,
        schedule: str | Callable[[int], float] = "linear",
        sigma_min: float | None = None,
        anneal_start: int | float = 0.5,
        lr_follows_sigma: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.sigma = sigma
        self.n_samples = n_samples
        self.antithetic = antithetic
        self.schedule = schedule
        self.sigma_min = sigma_min
        self.anneal_start = anneal_start
        self.lr_follows_sigma = lr_follows_sigma

    def _check_params_consistency(self) -> None:
        super()._check_params_consistency()
        if self.sigma_min is not None and self.sigma_min > self.sigma:
            raise InvalidParameterError(
                f"sigma_min ({self.sigma_min}) must not exceed sigma ({self.sigma})."
            )

    _derived_state: ClassVar[frozenset[str]] = frozenset({"_n_iter", "_anneal_start"})

    @property
    def _batch(self) -> int:
        """Evaluations per iteration."""
        return self.n_samples * (2 if self.antithetic else 1)

    def _start(self, state: RunState) -> None:
        super()._start(state)
        self._n_iter = self._expected_iterations(self._batch)
        start = self.anneal_start
        if isinstance(start, float):
            start = int(start * self._n_iter) if self._n_iter is not None else 0
        self._anneal_start = int(start)

    def _next_sigma(self) -> float:
        """The coming iteration's sigma, with the learning rate following it if asked."""
        sigma = self.current_sigma()
        if self.lr_follows_sigma:
            for group in self._torch_optimizer.param_groups:
                group["lr"] = self.lr * sigma / self.sigma
        return sigma

    def current_sigma(self) -> float:
        """The sampling scale of the coming iteration.

        Returns
        -------
        float
        """
        t = self._require_started().nit
        if callable(self.schedule):
            sigma = float(self.schedule(t))
            if not sigma > 0:
                raise InvalidParameterError(f"schedule({t}) returned {sigma}; it must be > 0.")
            return sigma
        if self.schedule == "constant":
            return self.sigma
        sigma_min = self.sigma_min if self.sigma_min is not None else self.sigma / 50
        return sigma_schedule(t, self.sigma, sigma_min, self._anneal_start, self._n_iter)
