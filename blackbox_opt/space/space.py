"""The :class:`Space`: named parameters and their map to and from the flat vector."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from ..exceptions import InvalidParameterError, UnknownNameError, did_you_mean
from .parameters import Array, Categorical, Fixed, Integer, Parameter, Real

__all__ = ["Space"]


class Space(Mapping):
    """Named parameters, and their map to and from the flat vector the methods use.

    Parameters
    ----------
    parameters : mapping of str to Parameter, optional
        The parameters in order; or give them as keyword arguments.
    **kwargs : Parameter
        More parameters.

    Attributes
    ----------
    dim : int
        The length D of the flat vector.
    bounds : torch.Tensor of shape (2, D)
        Its bounds (float64), as a :class:`~blackbox_opt.Problem` takes them.
    scales : torch.Tensor of shape (D,)
        The per-coordinate scale that scale-aware defaults use: the bound width (in
        log units for log-scale reals, 1 per categorical score), inf where unbounded.

    Examples
    --------
    >>> space = Space(n=Integer(1, 6), offset=Real(0.0, 0.5))
    >>> space.to_vector({"n": 2})
    tensor([2.0000, 0.2500], dtype=torch.float64)
    >>> space.to_vector({"ofset": 0.1})
    Traceback (most recent call last):
    ...
    blackbox_opt.exceptions.UnknownNameError: Unknown parameter 'ofset'. Did you mean 'offset'? Parameters: n, offset.
    """  # noqa: E501

    def __init__(self, parameters: Mapping[str, Parameter] | None = None, **kwargs: Parameter):
        params = {**dict(parameters or {}), **kwargs}
        if not params:
            raise InvalidParameterError("A Space needs at least one parameter.")
        self._params: dict[str, Parameter] = {}
        start = 0
        self.slices: dict[str, slice] = {}
        for name, p in params.items():
            if not isinstance(name, str) or not name:
                raise InvalidParameterError(f"Parameter names must be strings; got {name!r}.")
            if not isinstance(p, Parameter):
                raise InvalidParameterError(
                    f"Parameter {name!r} must be a Real, Integer, Categorical, Fixed or "
                    f"Array; got {type(p).__name__}."
                )
            self._params[name] = p
            self.slices[name] = slice(start, start + p.size)
            start += p.size
        self.dim = start
        if self.dim == 0:
            raise InvalidParameterError("A Space needs at least one parameter that is not Fixed.")
        lo = np.concatenate([p.flat_bounds()[0] for p in self._params.values()])
        hi = np.concatenate([p.flat_bounds()[1] for p in self._params.values()])
        self.bounds = torch.from_numpy(np.stack([lo, hi]))
        self.scales = torch.from_numpy(
            np.concatenate([p.flat_scales() for p in self._params.values()])
        )

    @classmethod
    def from_bounds(cls, dim: int, bounds: Any = None, name: str = "x") -> Space:
        """The default space of a problem: one real array block ``(dim,)``.

        Parameters
        ----------
        dim : int
        bounds : tensor of shape (2, dim), optional
        name : str, default="x"

        Returns
        -------
        Space
        """
        if bounds is None:
            space = cls({name: Array((dim,), init=0.0)})
        else:
            b = bounds.detach().double().cpu().numpy() if torch.is_tensor(bounds) else bounds
            b = np.asarray(b, dtype=np.float64)
            space = cls({name: Array((dim,), b[0], b[1])})
        space._default = True
        return space

    # -- the mapping ----------------------------------------------------------------
    def __getitem__(self, name: str) -> Parameter:
        if name not in self._params:
            raise UnknownNameError(self._unknown(name))
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={p!r}" for k, p in self._params.items())
        return f"Space({inner})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Space)
            and repr(self) == repr(other)
            and bool(torch.equal(self.bounds, other.bounds))
        )

    __hash__ = None  # type: ignore[assignment]

    def _unknown(self, name: Any) -> str:
        hint = did_you_mean(str(name), list(self._params))
        return f"Unknown parameter {name!r}.{hint} Parameters: {', '.join(self._params)}."

    # -- the flat vector ----------------------------------------------------------
    @property
    def init(self) -> dict[str, Any]:
        """The default value of every parameter."""
        return {k: p.init for k, p in self._params.items()}

    @property
    def integer_indices(self) -> list[int]:
        """Flat coordinates whose decoding rounds (integers, index-encoded choices)."""
        out = []
        for name, p in self._params.items():
            if isinstance(p, Integer) or (isinstance(p, Categorical) and p.encoding == "index"):
                out.append(self.slices[name].start)
        return out

    @property
    def is_default(self) -> bool:
        """True for the space of plain reals that :meth:`from_bounds` makes."""
        return bool(self.__dict__.get("_default", False))

    def to_vector(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        dtype: torch.dtype = torch.float64,
        device: Any = None,
        check: bool = True,
    ) -> torch.Tensor:
        """The flat vector ``(D,)`` of a point given by name.

        Parameters
        ----------
        params : mapping of str to value, optional
            Values by name; missing ones take their default (``init``).
        dtype, device : optional
            Of the returned tensor.
        check : bool, default=True
            Raise for values outside their bounds or choices (else clip them).

        Returns
        -------
        torch.Tensor of shape (D,)

        Raises
        ------
        UnknownNameError
            For a name the space does not have, with the closest match.
        InvalidParameterError
            For a value outside its bounds or choices, or an array of another shape.
        """
        params = dict(params or {})
        for key in params:
            if key not in self._params:
                raise UnknownNameError(self._unknown(key))
        parts = []
        for name, p in self._params.items():
            value = params[name] if name in params else p.init
            parts.append(p.encode(value, name, check))
        return torch.as_tensor(np.concatenate(parts), dtype=dtype, device=device)

    def decode(self, X: torch.Tensor) -> dict[str, Any]:
        """Decode a batch ``(B, D)`` of flat vectors into values by name (vectorised).

        Reals and arrays come back clamped into their bounds (floats, ``(B, *shape)``),
        integers rounded (long, ``(B,)``), categoricals as the index of the choice
        (long, ``(B,)``), fixed parameters as their value.

        Parameters
        ----------
        X : torch.Tensor of shape (B, D)

        Returns
        -------
        dict of str to torch.Tensor
        """
        return {k: p.decode(X[:, self.slices[k]]) for k, p in self._params.items()}

    def from_vector(self, x: Any) -> dict[str, Any]:
        """The point ``x`` of shape ``(D,)`` in the user's names and types.

        Reals are floats, integers ints, categoricals the choice itself, arrays
        tensors of their shape, fixed parameters their value.

        Parameters
        ----------
        x : tensor or array-like of shape (D,)

        Returns
        -------
        dict
        """
        if not torch.is_tensor(x):
            x = torch.as_tensor(np.asarray(x, dtype=np.float64))
        if x.shape != (self.dim,):
            raise InvalidParameterError(
                f"A point of this space has shape ({self.dim},); got {tuple(x.shape)}."
            )
        values = self.decode(x.detach()[None])
        return {k: p.to_python(_first(values[k])) for k, p in self._params.items()}

    def rows(self, X: torch.Tensor) -> list[dict[str, Any]]:
        """Every point of a batch ``(B, D)`` in the user's names and types.

        The batch is decoded once and moved to the host once per parameter.

        Parameters
        ----------
        X : torch.Tensor of shape (B, D)

        Returns
        -------
        list of dict
        """
        values = self.decode(X.detach())
        columns = {}
        for name, p in self._params.items():
            v = values[name]
            if isinstance(p, Fixed):
                columns[name] = [p.value] * X.shape[0]
            elif isinstance(p, Array):
                columns[name] = list(v)
            else:
                columns[name] = [p.to_python(e) for e in v.cpu().tolist()]
        return [{k: columns[k][i] for k in columns} for i in range(X.shape[0])]

    def columns(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """0-d tensors of the scalar parameters at ``x`` ``(D,)``, for history rows.

        Reals are their value, integers theirs, categoricals the index of the choice;
        arrays and fixed parameters are left out. Stays on the device.
        """
        values = self.decode(x.detach()[None])
        return {
            k: values[k][0].to(x.dtype)
            for k, p in self._params.items()
            if isinstance(p, (Real, Integer, Categorical))
        }

    def to_nevergrad(self, init: Mapping[str, Any] | None = None) -> Any:
        """The space as a nevergrad parametrisation (``ng.p.Dict``), started at ``init``.

        Real parameters become ``ng.p.Scalar`` (``ng.p.Log`` on a log scale), integers
        ``Scalar(...).set_integer_casting()``, categoricals ``ng.p.Choice``, arrays
        ``ng.p.Array``; fixed parameters are left out (:meth:`to_vector` adds them).

        Parameters
        ----------
        init : mapping, optional
            The start point by name (default: every parameter's ``init``).

        Returns
        -------
        nevergrad.p.Dict
        """
        from ..utils import require

        ng = require("nevergrad", "baselines")
        init = {**self.init, **dict(init or {})}
        return ng.p.Dict(
            **{
                k: p.nevergrad(ng, init[k])
                for k, p in self._params.items()
                if not isinstance(p, Fixed)
            }
        )

    def describe(self) -> list[dict[str, Any]]:
        """One row per parameter: name, kind, coordinates, bounds or choices, default.

        Returns
        -------
        list of dict
        """
        rows = []
        for name, p in self._params.items():
            s = self.slices[name]
            rows.append(
                dict(name=name, kind=p.kind, coordinates=f"{s.start}:{s.stop}", spec=repr(p))
            )
        return rows


def _first(v: Any) -> Any:
    return v[0] if torch.is_tensor(v) else v
