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

import torch

from .exceptions import InvalidParameterError

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
    def forward(ctx: Any, theta: torch.Tensor, fn: Callable, options: dict) -> torch.Tensor:
        offsets, weights = draw_offsets(
            options["n_samples"],
            theta.shape[-1],
            options["sigma"],
            generator=options["generator"],
            sampler=options["sampler"],
            antithetic=options["antithetic"],
            dtype=theta.dtype,
            device=theta.device,
        )
        with torch.no_grad():
            losses = fn(theta.detach()[None] - offsets)
        if not torch.is_tensor(losses) or losses.shape != (offsets.shape[0],):
            raise InvalidParameterError(
                f"smooth() needs f to map (B, D) to (B,); got "
                f"{tuple(losses.shape) if torch.is_tensor(losses) else type(losses).__name__}."
            )
        ctx.save_for_backward(smoothed_gradient(weights, losses))
        return losses.mean().to(theta.dtype)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple:
        (estimate,) = ctx.saved_tensors
        return grad_output * estimate, None, None


def smooth(
    f: Callable[[torch.Tensor], torch.Tensor],
    sigma: float,
    n_samples: int = 1,
    antithetic: bool = True,
    *,
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
    f : callable
        Batched loss ``(B, D) -> (B,)``, e.g. a :class:`~blackbox_opt.Problem`.
    sigma : float
        The smoothing scale.
    n_samples : int, default=1
        Draws per call (pairs when ``antithetic``).
    antithetic : bool, default=True
        Use mirrored pairs.
    sampler : {"radial", "coordinate", "gaussian"}, default="radial"
        See the module documentation.
    generator : torch.Generator, optional
        The random source (seed it for repeatable runs).

    Returns
    -------
    callable
        ``g(theta)`` for ``theta`` of shape ``(D,)``, returning a 0-d tensor: the mean
        loss over the perturbed points (an estimate of the smoothed loss exactly for
        the ``"gaussian"`` sampler, a close monitoring value for the others).

    Examples
    --------
    >>> step = lambda X: (X[:, 0] < 0.5).double()  # loss 1 on a plateau, 0 past 0.5
    >>> theta = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    >>> g = smooth(step, sigma=0.5, n_samples=20000, generator=torch.Generator().manual_seed(0))
    >>> g(theta).backward()
    >>> bool(theta.grad < 0)  # the step lies ahead: go right
    True
    """
    if not (isinstance(sigma, int | float) and sigma > 0):
        raise InvalidParameterError(f"sigma must be a positive number; got {sigma!r}.")
    if not (isinstance(n_samples, int) and n_samples >= 1):
        raise InvalidParameterError(f"n_samples must be a positive int; got {n_samples!r}.")
    if sampler not in SAMPLERS:
        raise InvalidParameterError(f"sampler must be one of {SAMPLERS}; got {sampler!r}.")
    options = dict(
        sigma=float(sigma),
        n_samples=n_samples,
        antithetic=bool(antithetic),
        sampler=sampler,
        generator=generator,
    )

    def smoothed(theta: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(theta) or theta.ndim != 1:
            raise InvalidParameterError(
                "The smoothed function takes theta as a tensor of shape (D,); got "
                f"{tuple(theta.shape) if torch.is_tensor(theta) else type(theta).__name__}."
            )
        return _Smoothed.apply(theta, f, options)

    return smoothed
