"""Per-parameter scales: the unit of the methods' step, smoothing and learning-rate sizes.

A scale parameter of a method (PRDPT's and ZeroGrads' ``sigma``, SPSA's ``c``, the
finite differences' ``h``, CMA-ES's ``sigma0``, the gradient methods' ``lr``...) takes
one of three forms:

``None`` (the default)
    A fraction of the problem's scale of each parameter: the width of its bounds
    (``upper - lower``) where both are finite, so that a position in metres on
    ``[-10, 10]`` and an angle in radians on ``[0, pi]`` each get their own step. Where a
    parameter has no finite bounds (or the run has none), the method's documented
    absolute default is used instead, in parameter units.
a number
    The same absolute value for every parameter, in parameter units.
a 1-D array of length D
    One absolute value per parameter.

A :class:`~blackbox_opt.Problem` gives the scales through its ``scales`` property (the
bound widths unless the problem says otherwise).
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
import torch

from .exceptions import InvalidParameterError

__all__ = ["bound_widths", "is_uniform", "resolve_scale"]


def bound_widths(
    bounds: torch.Tensor | None, dim: int, dtype: torch.dtype, device: torch.device | str
) -> torch.Tensor:
    """The width of the bounds of each coordinate: ``upper - lower``, inf where unbounded.

    Parameters
    ----------
    bounds : tensor of shape (2, D) or None
    dim : int
    dtype, device :
        Of the result.

    Returns
    -------
    torch.Tensor of shape (D,)

    Examples
    --------
    >>> bound_widths(torch.tensor([[0.0, -1.0], [2.0, float("inf")]]), 2, torch.float64, "cpu")
    tensor([2., inf], dtype=torch.float64)
    """
    if bounds is None:
        return torch.full((dim,), float("inf"), dtype=dtype, device=device)
    return (bounds[1] - bounds[0]).to(dtype=dtype, device=device)


def resolve_scale(
    value: Any,
    *,
    scales: torch.Tensor,
    fraction: float,
    absolute: float,
    name: str,
    owner: str,
) -> torch.Tensor:
    """One method scale per coordinate, from a parameter's value (see the module).

    Parameters
    ----------
    value : None, float or array-like of shape (D,)
        The method's parameter.
    scales : tensor of shape (D,)
        The problem's scale of each parameter (inf or NaN where it has none).
    fraction : float
        The default's fraction of the scale.
    absolute : float
        The default where a parameter has no finite scale.
    name, owner : str
        The parameter's and the method's names, for errors.

    Returns
    -------
    torch.Tensor of shape (D,)
        float64, on the device of ``scales`` (so that a scalar read back from it is the
        value computed in double precision).

    Raises
    ------
    InvalidParameterError
        A vector of the wrong length, or with a non-positive or non-finite entry.

    Examples
    --------
    >>> widths = torch.tensor([1.0, 10.0, float("inf")])
    >>> resolve_scale(None, scales=widths, fraction=0.1, absolute=0.5, name="sigma", owner="PRDPT")
    tensor([0.1000, 1.0000, 0.5000], dtype=torch.float64)
    >>> resolve_scale(0.2, scales=widths, fraction=0.1, absolute=0.5, name="sigma", owner="PRDPT")
    tensor([0.2000, 0.2000, 0.2000], dtype=torch.float64)
    """
    D = scales.shape[0]
    kw = dict(dtype=torch.float64, device=scales.device)
    if value is None:
        scales = scales.to(torch.float64)
        finite = torch.isfinite(scales) & (scales > 0)
        return torch.where(finite, fraction * scales, torch.full_like(scales, absolute))
    if isinstance(value, Real) and not isinstance(value, bool):
        return torch.full((D,), float(value), **kw)
    array = value.detach().cpu().double().numpy() if torch.is_tensor(value) else value
    array = np.asarray(array, dtype=np.float64)
    if array.shape != (D,):
        raise InvalidParameterError(
            f"{owner}'s {name} must be a number or hold one value per parameter, shape "
            f"({D},); got shape {array.shape}."
        )
    if not np.all(np.isfinite(array) & (array > 0)):
        bad = np.flatnonzero(~(np.isfinite(array) & (array > 0)))[:5].tolist()
        raise InvalidParameterError(
            f"{owner}'s {name} must be positive and finite in every coordinate; "
            f"coordinate(s) {bad} are not."
        )
    return torch.as_tensor(array, **kw)


def is_uniform(scale: torch.Tensor) -> bool:
    """Whether every coordinate has the same scale (a method may then keep a scalar).

    Parameters
    ----------
    scale : tensor of shape (D,)

    Returns
    -------
    bool
    """
    return bool((scale == scale[0]).all())
