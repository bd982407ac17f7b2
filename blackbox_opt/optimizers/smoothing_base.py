"""Shared parameters of the methods that sample a Gaussian around the iterate.

PRDPT and ZeroGrads both draw ``n_samples`` offsets of scale ``sigma`` around theta
per iteration (antithetic pairs by default) and anneal ``sigma`` over the run.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral, Real
from typing import Any, ClassVar

import torch

from ..exceptions import InvalidParameterError
from ..scales import is_uniform, resolve_scale
from ..validation import Interval, Options, PositiveVector
from .base import RunState
from .gradient import GradientMethod

__all__ = ["SmoothingMethod", "sigma_schedule"]


def sigma_schedule(
    iteration: int, sigma: Any, sigma_min: Any, anneal_start: int, n_iter: int | None
) -> Any:
    """The PRDPT annealing: constant for ``anneal_start`` iterations, then linear.

    ``sigma`` is kept until ``anneal_start``, then decays linearly to ``sigma_min`` at
    the last iteration ``n_iter - 1``. Without a known ``n_iter`` it stays constant.

    Parameters
    ----------
    iteration : int
        The 0-based iteration.
    sigma, sigma_min : float or tensor of shape (D,)
        The start and end scales (per coordinate when tensors).
    anneal_start : int
        Iterations at constant ``sigma``.
    n_iter : int or None
        The run's length.

    Returns
    -------
    float or tensor

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
    sigma : float, array-like of shape (D,) or None, default=None
        The initial sampling scale, in parameter units. None: 0.1 of each parameter's
        bound width, 0.1 where it has no finite bounds (see :mod:`blackbox_opt.scales`);
        a number applies to every parameter; a vector gives each its own (the samples
        are then ``N(theta, diag(sigma^2))`` and the estimator is weighted per
        coordinate).
    n_samples : int, default=2
        Offsets per iteration (pairs with ``antithetic``).
    antithetic : bool, default=True
        Mirrored pairs ``(tau, -tau)``.
    schedule : {"linear", "constant"} or callable, default="linear"
        ``"linear"``: ``sigma`` constant for ``anneal_start`` iterations, then linear,
        reaching ``sigma_min`` at the run's last iteration (known from ``max_iter`` or the
        budget; constant when the run is open-ended). A callable
        ``schedule(iteration) -> sigma`` replaces it.
    sigma_min : float or array-like of shape (D,), optional
        The final scale, in parameter units; default ``sigma / 50`` per parameter
        (PRDPT's 0.5 -> 0.01).
    anneal_start : int or float, default=0.5
        Iterations at constant ``sigma``: an int, or a fraction of the run.
    lr_follows_sigma : bool, default=False
        Scale the parameter optimiser's learning rate by ``sigma_t / sigma`` so that the
        steps shrink with the sampling scale as it is annealed (with per-parameter
        scales, by the mean of that ratio over the parameters).
    **kwargs
        The parameters of :class:`~blackbox_opt.optimizers.GradientMethod`.
    """

    _parameter_constraints: ClassVar[dict] = {
        "sigma": [Interval(Real, 0, None, closed="neither"), PositiveVector(), None],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "antithetic": ["boolean"],
        "schedule": [Options({"linear", "constant"}), callable],
        "sigma_min": [Interval(Real, 0, None, closed="neither"), PositiveVector(), None],
        "anneal_start": [
            Interval(Integral, 0, None, closed="left"),
            Interval(Real, 0, 1, closed="both"),
        ],
        "lr_follows_sigma": ["boolean"],
    }

    def __init__(
        self,
        *,
        sigma: Any = None,
        n_samples: int = 2,
        antithetic: bool = True,
        schedule: str | Callable[[int], float] = "linear",
        sigma_min: Any = None,
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
        both = isinstance(self.sigma, Real) and isinstance(self.sigma_min, Real)
        if both and self.sigma_min > self.sigma:
            raise InvalidParameterError(
                f"sigma_min ({self.sigma_min}) must not exceed sigma ({self.sigma})."
            )

    #: The default ``sigma``: this fraction of each bound width (absolute without).
    _sigma_default: ClassVar[float] = 0.1
    _derived_state: ClassVar[frozenset[str]] = frozenset(
        {"_n_iter", "_anneal_start", "_sigma0", "_sigma_end", "_end_ratio"}
    )

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
        sigma0 = self._per_parameter("sigma", self._sigma_default, self._sigma_default)
        if self.sigma_min is None:
            end = sigma0 / 50
        else:
            end = resolve_scale(
                self.sigma_min,
                scales=sigma0,
                fraction=1.0,
                absolute=1.0,
                name="sigma_min",
                owner=type(self).__name__,
            )
        if not bool((end <= sigma0).all()):
            raise InvalidParameterError(
                f"{type(self).__name__}'s sigma_min must not exceed sigma in any parameter."
            )
        self._end_ratio = float((end / sigma0).mean())
        if is_uniform(sigma0) and is_uniform(end):  # one scale: plain floats, as given
            self._sigma0, self._sigma_end = float(sigma0[0]), float(end[0])
        else:
            self._sigma0, self._sigma_end = sigma0.to(state.dtype), end.to(state.dtype)

    def _next_sigma(self) -> Any:
        """The coming iteration's sigma, with the learning rate following it if asked."""
        sigma = self.current_sigma()
        if self.lr_follows_sigma:
            if isinstance(self._sigma0, float) and isinstance(sigma, float):
                ratio = sigma / self._sigma0
            elif self.schedule == "linear":  # per-parameter scales: the mean ratio
                t = self._state.nit
                ratio = sigma_schedule(t, 1.0, self._end_ratio, self._anneal_start, self._n_iter)
            else:
                ratio = 1.0
            for group in self._torch_optimizer.param_groups:
                group["lr"] = self._lr_base * ratio
        return sigma

    def _sigma_info(self, sigma: Any) -> Any:
        """The history's ``sigma`` column: the scale, or its mean over the parameters."""
        return sigma.mean() if torch.is_tensor(sigma) else sigma

    def current_sigma(self) -> Any:
        """The sampling scale of the coming iteration.

        Returns
        -------
        float or torch.Tensor of shape (D,)
            A tensor when the parameters have different scales.
        """
        t = self._require_started().nit
        if callable(self.schedule):
            sigma = float(self.schedule(t))
            if not sigma > 0:
                raise InvalidParameterError(f"schedule({t}) returned {sigma}; it must be > 0.")
            return sigma
        if self.schedule == "constant":
            return self._sigma0
        return sigma_schedule(t, self._sigma0, self._sigma_end, self._anneal_start, self._n_iter)
