"""Gaussian smoothing of a black-box loss and the PRDPT gradient estimator.

For the smoothed loss ``Q(theta) = E_{tau ~ N(0, sigma^2 I)} f(theta - tau)`` the
gradient is ``grad Q(theta) = int grad kappa(tau) f(theta - tau) d tau`` with ``kappa``
the Gaussian density, so it needs only values of ``f``. The estimators here draw
offsets ``tau`` and weights ``w`` such that ``mean_m w_m f(theta - tau_m)`` estimates
it, importance sampling the kernel's derivative so that the weights have a constant
magnitude (Fischer & Ritschel, "Plateau-reduced differentiable path tracing", 2023).

Samplers (``sampler=``):

``"radial"`` (default)
    Unbiased in any dimension. Writing ``tau = r u`` (``u`` uniform on the sphere),
    ``grad kappa(tau) = -(tau / sigma^2) kappa(tau)``, and reweighting the radius by
    ``r`` turns ``r`` into a ``sigma chi_{D+1}`` variable and the weight into the
    constant-magnitude vector ``-(E[r] / sigma^2) u``, where
    ``E[r] = sigma sqrt(2) Gamma((D+1)/2) / Gamma(D/2)`` is the mean radius of the
    Gaussian. In 1-D this is exactly the paper's estimator: ``|tau|`` is Rayleigh,
    ``|tau| = sigma sqrt(-2 log(2 min(v, 1-v)))``, and the weight
    ``kappa'(tau) / p(tau) = -sign(tau) sqrt(2/pi) / sigma``.
``"coordinate"``
    The paper code's sampling: every coordinate drawn independently from the 1-D
    derivative density, each gradient component weighted by its own coordinate.
    Identical to ``"radial"`` in 1-D; in higher dimensions it differentiates the loss
    smoothed with a non-Gaussian product kernel in the other coordinates.
``"gaussian"``
    Plain Gaussian offsets with the score weights ``-tau / sigma^2``: unbiased, but
    the weights vary with ``|tau|`` and the variance is higher.

Antithetic sampling pairs every offset ``tau`` with ``-tau`` (and the weight with its
negative): the even part of ``f`` around theta, its constant part included, cancels
exactly, which lowers the variance at no extra cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .exceptions import InvalidParameterError
from .validation import PositiveVector

__all__ = ["SAMPLERS", "draw_offsets", "mean_radius", "smooth", "smoothed_gradient"]

SAMPLERS = ("radial", "coordinate", "gaussian")


def mean_radius(dim: int, sigma: float) -> float:
    """Mean norm of a ``N(0, sigma^2 I_dim)`` vector: ``sigma sqrt(2) G((D+1)/2) / G(D/2)``.

    Parameters
    ----------
    dim : int
    sigma : float

    Returns
    -------
    float

    Examples
    --------
    >>> round(mean_radius(1, 1.0), 6) == round(math.sqrt(2 / math.pi), 6)
    True
    """
    return sigma * math.sqrt(2.0) * math.exp(math.lgamma((dim + 1) / 2) - math.lgamma(dim / 2))


def draw_offsets(
    n: int,
    dim: int,
    sigma: float,
    *,
    generator: torch.Generator | None = None,
    sampler: str = "radial",
    antithetic: bool = True,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw offsets ``tau`` and weights ``w`` of the smoothed-gradient estimator.

    ``mean_m w_m f(theta - tau_m)`` is the estimate of ``grad Q(theta)``.

    Parameters
    ----------
    n : int
        Independent draws; with ``antithetic`` the output holds ``2 n`` rows, the
        mirrored ones after the originals.
    dim : int
        Dimension D.
    sigma : float
        The smoothing scale.
    generator : torch.Generator, optional
        The random source.
    sampler : {"radial", "coordinate", "gaussian"}, default="radial"
        See the module documentation.
    antithetic : bool, default=True
        Append ``-tau`` with weights ``-w``.
    dtype, device :
        Of the outputs.

    Returns
    -------
    offsets, weights : torch.Tensor of shape (M, D)
        ``M = 2 n`` with ``antithetic``, else ``n``.
    """
    if sampler not in SAMPLERS:
        raise InvalidParameterError(f"sampler must be one of {SAMPLERS}; got {sampler!r}.")
    kw = dict(generator=generator, dtype=dtype, device=device)
    if sampler == "radial":
        g = torch.randn(n, dim, **kw)
        h = torch.randn(n, 1, **kw)
        norm = torch.linalg.vector_norm(g, dim=1, keepdim=True).clamp_min(1e-30)
        u = g / norm
        offsets = u * (sigma * torch.sqrt(norm * norm + h * h))
        weights = u * (-mean_radius(dim, 1.0) / sigma)  # -(E[r] / sigma^2) u
    elif sampler == "coordinate":
        v = torch.rand(n, dim, **kw)
        sign = torch.where(v < 0.5, -1.0, 1.0).to(dtype)
        tail = (2.0 * torch.minimum(v, 1.0 - v)).clamp_min(torch.finfo(dtype).tiny)
        offsets = sign * sigma * torch.sqrt(-2.0 * torch.log(tail))
        weights = sign * (-math.sqrt(2.0 / math.pi) / sigma)
    else:
        offsets = sigma * torch.randn(n, dim, **kw)
        weights = -offsets / (sigma * sigma)
    if antithetic:
        offsets = torch.cat([offsets, -offsets])
        weights = torch.cat([weights, -weights])
    return offsets, weights


def smoothed_gradient(weights: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
    """Combine weights ``(M, D)`` and the losses ``(M,)`` at ``theta - tau`` into ``(D,)``."""
    return (weights * losses[:, None].to(weights.dtype)).mean(0)


class _Smoothed(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, theta: torch.Tensor, evaluate: Callable, options: dict) -> torch.Tensor:
        thetas = theta.detach().reshape(-1, theta.shape[-1])  # (K, D)
        K, D = thetas.shape
        n = options["n_samples"]
        sigma = options["sigma"]
        if torch.is_tensor(sigma):
            sigma = sigma.to(dtype=theta.dtype, device=theta.device)
        offsets, weights = draw_offsets(
            n * K,
            D,
            sigma,
            generator=options["generator"],
            sampler=options["sampler"],
            antithetic=options["antithetic"],
            dtype=theta.dtype,
            device=theta.device,
        )
        # per theta: its n draws (and their mirrors, in the same order as for one theta)
        M = offsets.shape[0] // K
        offsets, weights = _per_theta(offsets, K, n), _per_theta(weights, K, n)
        with torch.no_grad():
            losses = evaluate((thetas[:, None, :] - offsets).reshape(K * M, D)).reshape(K, M)
        losses = losses.to(theta.dtype)
        estimate = (weights * losses[:, :, None]).mean(1)  # (K, D)
        ctx.save_for_backward(estimate.reshape(theta.shape))
        value = losses.mean(1)
        return value.reshape(()) if theta.ndim == 1 else value

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple:
        (estimate,) = ctx.saved_tensors
        grad = grad_output[..., None] * estimate if estimate.ndim == 2 else grad_output * estimate
        return grad, None, None


def _per_theta(rows: torch.Tensor, K: int, n: int) -> torch.Tensor:
    """``(M K, D)`` draws (originals, then mirrors) as ``(K, M, D)``, K groups of M."""
    D = rows.shape[-1]
    if rows.shape[0] == n * K:
        return rows.reshape(K, n, D)
    return torch.cat([rows[: n * K].reshape(K, n, D), rows[n * K :].reshape(K, n, D)], dim=1)


def smooth(
    f: Callable,
    sigma: Any,
    n_samples: int = 1,
    antithetic: bool = True,
    *,
    vectorized: bool = True,
    backend: str = "torch",
    sampler: str = "radial",
    generator: torch.Generator | None = None,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Make a black-box loss differentiable by Gaussian smoothing (PRDPT).

    Returns ``g`` such that ``g(theta)`` evaluates ``f`` at ``2 n_samples`` perturbed
    points (``n_samples`` without ``antithetic``) in one batched call and returns their
    mean loss; ``g(theta).backward()`` gives ``theta.grad`` the PRDPT estimate of the
    smoothed loss's gradient, so ``g`` drops into any torch training loop.

    Parameters
    ----------
    f : callable or Problem
        The loss, in any form :class:`~blackbox_opt.FunctionProblem` takes: with
        ``vectorized=True`` (the default) ``f(X) -> (B,)`` for a batch ``X`` of shape
        ``(B, D)``, e.g. a :class:`~blackbox_opt.Problem`; with ``vectorized=False``
        ``f(x) -> float`` for one point (called once per point). It may return tensors,
        numpy arrays or floats.
    sigma : float or array-like of shape (D,)
        The smoothing scale, in parameter units; a vector gives each parameter its own.
    n_samples : int, default=1
        Draws per call and per theta (pairs when ``antithetic``).
    antithetic : bool, default=True
        Use mirrored pairs.
    vectorized : bool, default=True
        Whether ``f`` takes a whole batch (see ``f``).
    backend : {"torch", "numpy"}, default="torch"
        What ``f`` receives: tensors, or numpy arrays (float64 on the CPU).
    sampler : {"radial", "coordinate", "gaussian"}, default="radial"
        See the module documentation.
    generator : torch.Generator, optional
        The random source (seed it for repeatable runs).

    Returns
    -------
    callable
        ``g(theta)``: for ``theta`` of shape ``(D,)`` a 0-d tensor, the mean loss over
        the perturbed points (an estimate of the smoothed loss exactly for the
        ``"gaussian"`` sampler, a close monitoring value for the others); for a batch
        of thetas of shape ``(K, D)`` one such value per theta, shape ``(K,)``, all
        ``K x 2 n_samples`` points evaluated in one call of ``f``.

    Examples
    --------
    >>> step = lambda X: (X[:, 0] < 0.5).double()  # loss 1 on a plateau, 0 past 0.5
    >>> theta = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    >>> g = smooth(step, sigma=0.5, n_samples=20000, generator=torch.Generator().manual_seed(0))
    >>> g(theta).backward()
    >>> bool(theta.grad < 0)  # the step lies ahead: go right
    True

    A numpy function of one point:

    >>> import numpy as np
    >>> g = smooth(lambda x: float(np.sum(x**2)), sigma=0.1, n_samples=4, vectorized=False,
    ...            backend="numpy", generator=torch.Generator().manual_seed(0))
    >>> g(torch.ones(3, dtype=torch.float64)).shape
    torch.Size([])
    """
    from .problem import FunctionProblem, Problem

    if isinstance(sigma, bool) or not (
        (isinstance(sigma, int | float) and sigma > 0) or PositiveVector().is_satisfied_by(sigma)
    ):
        raise InvalidParameterError(
            f"sigma must be a positive number or a 1-D array of positive numbers; got {sigma!r}."
        )
    if not (isinstance(n_samples, int) and n_samples >= 1):
        raise InvalidParameterError(f"n_samples must be a positive int; got {n_samples!r}.")
    if sampler not in SAMPLERS:
        raise InvalidParameterError(f"sampler must be one of {SAMPLERS}; got {sampler!r}.")
    if backend not in ("torch", "numpy"):
        raise InvalidParameterError(f"backend must be 'torch' or 'numpy'; got {backend!r}.")
    if not callable(f):
        raise InvalidParameterError(f"f must be callable; got {type(f).__name__}.")
    if isinstance(sigma, int | float):
        sigma = float(sigma)
    else:
        sigma = torch.as_tensor(np.asarray(sigma, dtype=np.float64))
    options = dict(
        sigma=sigma,
        n_samples=n_samples,
        antithetic=bool(antithetic),
        sampler=sampler,
        generator=generator,
    )
    wrappers: dict = {}

    def evaluator(theta: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """f as a batched evaluation, with FunctionProblem's checks and conversions."""
        if isinstance(f, Problem):
            return f  # its forward validates and converts the batch
        key = (theta.shape[-1], theta.dtype, theta.device)
        if key not in wrappers:
            x0 = theta.detach().reshape(-1, theta.shape[-1])[0]
            name = getattr(f, "__name__", None) or type(f).__name__
            wrappers[key] = FunctionProblem(
                f, x0, vectorized=vectorized, backend=backend, name=f"smooth()'s f ({name})"
            ).evaluate
        return wrappers[key]

    def smoothed(theta: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(theta) or theta.ndim not in (1, 2) or theta.shape[-1] == 0:
            raise InvalidParameterError(
                "The smoothed function takes theta as a tensor of shape (D,), or a batch "
                "of thetas of shape (K, D); got "
                f"{tuple(theta.shape) if torch.is_tensor(theta) else type(theta).__name__}."
            )
        if torch.is_tensor(sigma) and sigma.shape != (theta.shape[-1],):
            raise InvalidParameterError(
                f"sigma holds {sigma.shape[0]} values; theta has {theta.shape[-1]} parameters."
            )
        return _Smoothed.apply(theta, evaluator(theta), options)

    return smoothed
