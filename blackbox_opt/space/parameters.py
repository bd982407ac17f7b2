"""The kinds of parameter of a :class:`~blackbox_opt.Space` and their flat encodings."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..exceptions import InvalidParameterError

__all__ = ["Array", "Categorical", "Fixed", "Integer", "Parameter", "Real"]


def _real(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidParameterError(f"{what} must be a real number; got {value!r}.")
    return float(value)


class Parameter:
    """Base class of the parameter kinds of a :class:`Space`.

    A parameter knows how many coordinates of the flat vector it owns (``size``), their
    bounds and scales, and how to encode a value into them and decode them back.
    """

    #: What the parameter is, as shown in tables: real, integer, categorical...
    kind: str = ""
    #: Coordinates of the flat vector it owns.
    size: int = 1
    #: Shape of one value (``()`` for scalars).
    shape: tuple[int, ...] = ()

    def flat_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of the parameter's coordinates, each ``(size,)``."""
        raise NotImplementedError

    def flat_scales(self) -> np.ndarray:
        """The typical scale of each coordinate ``(size,)``: the bound width."""
        lo, hi = self.flat_bounds()
        return hi - lo

    def encode(self, value: Any, name: str, check: bool = True) -> np.ndarray:
        """The coordinates ``(size,)`` of ``value``; raises for an invalid one."""
        raise NotImplementedError

    def decode(self, Z: torch.Tensor) -> torch.Tensor:
        """Batched decoding: coordinates ``(B, size)`` to values ``(B, *shape)``."""
        raise NotImplementedError

    def to_python(self, value: torch.Tensor) -> Any:
        """One decoded value as the user's type (float, int, a choice, a tensor)."""
        return value

    def nevergrad(self, ng: Any, init: Any) -> Any:
        """The equivalent nevergrad parameter, started at ``init``."""
        raise NotImplementedError

    @property
    def init(self) -> Any:
        """The default value (the start point when none is given)."""
        return self._init

    def _clamp(self, Z: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
        return Z.clamp(lo, hi)


class Real(Parameter):
    """A real parameter in ``[low, high]``, optionally on a log scale.

    Parameters
    ----------
    low, high : float, optional
        The bounds; ``None`` (or inf) leaves a side open. A log-scale parameter needs
        both, positive.
    log : bool, default=False
        Work in ``log(value)``: methods step by factors, not increments (learning
        rates, densities, roughness).
    init : float, optional
        The default value: the midpoint (geometric mean on a log scale), or 0 without
        bounds.

    Examples
    --------
    >>> Real(1e-3, 1.0, log=True).flat_bounds()
    (array([-6.90775528]), array([0.]))
    """

    kind = "real"

    def __init__(
        self, low: float | None = None, high: float | None = None, *, log: bool = False, init=None
    ):
        self.low = -math.inf if low is None else _real(low, "low")
        self.high = math.inf if high is None else _real(high, "high")
        self.log = bool(log)
        if math.isnan(self.low) or math.isnan(self.high) or not self.low < self.high:
            hint = " (use Fixed for a constant)" if self.low == self.high else ""
            raise InvalidParameterError(
                f"Real needs low < high; got low={low!r}, high={high!r}{hint}."
            )
        if self.log and not (0 < self.low and math.isfinite(self.high)):
            raise InvalidParameterError(
                f"A log-scale Real needs finite bounds 0 < low < high; got low={low!r}, "
                f"high={high!r}."
            )
        if init is None:
            if self.log:
                init = math.sqrt(self.low * self.high)
            elif math.isfinite(self.low) and math.isfinite(self.high):
                init = 0.5 * (self.low + self.high)
            else:
                init = min(max(0.0, self.low), self.high)
        self._init = init
        self.encode(init, "init")

    def flat_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        if self.log:
            return np.array([math.log(self.low)]), np.array([math.log(self.high)])
        return np.array([self.low]), np.array([self.high])

    def encode(self, value: Any, name: str, check: bool = True) -> np.ndarray:
        v = _real(value, name)
        if check and not (self.low <= v <= self.high):
            raise InvalidParameterError(
                f"{name}={value!r} lies outside its bounds [{self.low:g}, {self.high:g}]."
            )
        v = min(max(v, self.low), self.high)
        return np.array([math.log(v) if self.log else v])

    def decode(self, Z: torch.Tensor) -> torch.Tensor:
        lo, hi = self.flat_bounds()
        z = Z[:, 0].clamp(float(lo[0]), float(hi[0]))
        return z.exp() if self.log else z

    def to_python(self, value: torch.Tensor) -> Any:
        return float(value)

    def nevergrad(self, ng: Any, init: Any) -> Any:
        if self.log:
            return ng.p.Log(init=float(init), lower=self.low, upper=self.high)
        bounded = {}
        if math.isfinite(self.low):
            bounded["lower"] = self.low
        if math.isfinite(self.high):
            bounded["upper"] = self.high
        return ng.p.Scalar(init=float(init), **bounded)

    def __repr__(self) -> str:
        log = ", log=True" if self.log else ""
        return f"Real({self.low:g}, {self.high:g}{log})"


class Integer(Parameter):
    """An integer parameter in ``[low, high]`` (both included).

    Its coordinate is continuous in ``[low - 0.5, high + 0.5]``, so every integer owns
    an interval of width 1, and is rounded when decoded.

    Parameters
    ----------
    low, high : int
        The bounds, ``low <= high``.
    init : int, optional
        The default value (the midpoint, rounded down).

    Examples
    --------
    >>> p = Integer(1, 6)
    >>> p.decode(torch.tensor([[0.2], [3.4], [6.6]]))
    tensor([1, 3, 6])
    """

    kind = "integer"

    def __init__(self, low: int, high: int, *, init: int | None = None):
        for what, v in (("low", low), ("high", high)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise InvalidParameterError(f"Integer's {what} must be an int; got {v!r}.")
        self.low, self.high = int(low), int(high)
        if self.low > self.high:
            raise InvalidParameterError(f"Integer needs low <= high; got {low} > {high}.")
        self._init = (self.low + self.high) // 2 if init is None else init
        self.encode(self._init, "init")

    def flat_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array([self.low - 0.5]), np.array([self.high + 0.5])

    def encode(self, value: Any, name: str, check: bool = True) -> np.ndarray:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InvalidParameterError(f"{name} must be an integer; got {value!r}.")
        if check and not float(value).is_integer():
            raise InvalidParameterError(f"{name} must be an integer; got {value!r}.")
        if check and not (self.low <= value <= self.high):
            raise InvalidParameterError(
                f"{name}={value!r} lies outside its bounds [{self.low}, {self.high}]."
            )
        return np.array([float(min(max(round(value), self.low), self.high))])

    def decode(self, Z: torch.Tensor) -> torch.Tensor:
        return Z[:, 0].clamp(self.low, self.high).round().long()

    def to_python(self, value: torch.Tensor) -> Any:
        return int(value)

    def nevergrad(self, ng: Any, init: Any) -> Any:
        scalar = ng.p.Scalar(init=float(init), lower=self.low - 0.5, upper=self.high + 0.5)
        return scalar.set_integer_casting()

    def __repr__(self) -> str:
        return f"Integer({self.low}, {self.high})"


class Categorical(Parameter):
    """One of a list of choices (strings, numbers, any objects compared by ``==``).

    Parameters
    ----------
    choices : sequence
        At least two distinct choices.
    init : object, optional
        The default choice (the first).
    encoding : {"onehot", "index"}, default="onehot"
        The continuous relaxation methods see. ``"onehot"``: one score in ``[0, 1]``
        per choice, the highest wins (a choice encodes as 0.75 for it and 0.25 for the
        others: inside the bounds, so a step of a quarter of their width in either
        direction can change the choice); no choice is nearer to another, so it suits
        unordered choices. ``"index"``: one coordinate, the rounded index; cheaper (1
        coordinate instead of K) and right for ordered choices.

    Examples
    --------
    >>> p = Categorical(["red", "green", "blue"])
    >>> p.encode("green", "colour")
    array([0.25, 0.75, 0.25])
    >>> p.decode(torch.tensor([[0.1, 0.2, 0.9]]))
    tensor([2])
    """

    kind = "categorical"

    def __init__(self, choices: Sequence, *, init: Any = None, encoding: str = "onehot"):
        if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence):
            raise InvalidParameterError(
                f"Categorical's choices must be a list; got {type(choices).__name__}."
            )
        self.choices = list(choices)
        if len(self.choices) < 2:
            raise InvalidParameterError(
                f"Categorical needs at least two choices; got {self.choices!r} (use Fixed "
                "for a constant)."
            )
        for i, c in enumerate(self.choices):
            if self._index(c) != i:
                raise InvalidParameterError(f"Categorical's choices repeat {c!r}.")
        if encoding not in ("onehot", "index"):
            raise InvalidParameterError(
                f"Categorical's encoding must be 'onehot' or 'index'; got {encoding!r}."
            )
        self.encoding = encoding
        self.size = len(self.choices) if encoding == "onehot" else 1
        self._init = self.choices[0] if init is None else init
        self.encode(self._init, "init")

    def _index(self, value: Any) -> int | None:
        for i, c in enumerate(self.choices):
            if type(c) is type(value) and bool(np.all(c == value)):
                return i
        for i, c in enumerate(self.choices):  # 1 for 1.0 and the like
            if isinstance(c, numbers.Number) and isinstance(value, numbers.Number):
                if c == value and not isinstance(value, bool):
                    return i
        return None

    def flat_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        if self.encoding == "index":
            return np.array([-0.5]), np.array([len(self.choices) - 0.5])
        return np.zeros(self.size), np.ones(self.size)

    def flat_scales(self) -> np.ndarray:
        return np.ones(self.size) * (len(self.choices) if self.encoding == "index" else 1.0)

    def encode(self, value: Any, name: str, check: bool = True) -> np.ndarray:
        k = self._index(value)
        if k is None:
            raise InvalidParameterError(
                f"{name}={value!r} is not one of its choices {self.choices!r}."
            )
        if self.encoding == "index":
            return np.array([float(k)])
        scores = np.full(self.size, 0.25)  # inside the bounds, half a unit from a tie
        scores[k] = 0.75
        return scores

    def decode(self, Z: torch.Tensor) -> torch.Tensor:
        if self.encoding == "index":
            return Z[:, 0].clamp(0, len(self.choices) - 1).round().long()
        return Z.argmax(-1)

    def to_python(self, value: torch.Tensor) -> Any:
        return self.choices[int(value)]

    def nevergrad(self, ng: Any, init: Any) -> Any:
        choice = ng.p.Choice(self.choices)
        choice.value = init
        return choice

    def __repr__(self) -> str:
        return f"Categorical({self.choices!r})"


class Fixed(Parameter):
    """A constant: passed to the function under its name, never optimised.

    Parameters
    ----------
    value : object
        The value.
    """

    kind = "fixed"
    size = 0

    def __init__(self, value: Any):
        self.value = value
        self._init = value

    def flat_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(0), np.zeros(0)

    def encode(self, value: Any, name: str, check: bool = True) -> np.ndarray:
        if check and not bool(np.all(np.asarray(value == self.value))):
            raise InvalidParameterError(f"{name} is fixed at {self.value!r}; got {value!r}.")
        return np.zeros(0)

    def decode(self, Z: torch.Tensor) -> Any:
        return self.value

    def to_python(self, value: Any) -> Any:
        return value

    def __repr__(self) -> str:
        return f"Fixed({self.value!r})"


class Array(Parameter):
    """A block of real parameters of any shape: a height field, a texture, a curve.

    Parameters
    ----------
    shape : int or tuple of int
        The shape of the value, e.g. ``(32, 32)`` or ``(64, 64, 3)``.
    low, high : float or array-like, optional
        One bound pair for every element, or per-element bounds of ``shape``; None
        leaves a side open.
    init : float or array-like, optional
        The default value (a scalar fills the block): the midpoint of the bounds, or 0.

    Examples
    --------
    >>> field = Array((32, 32), 0.0, 1.0)
    >>> field.size, field.decode(torch.full((2, 1024), 2.0)).shape
    (1024, torch.Size([2, 32, 32]))
    """

    kind = "array"

    def __init__(
        self, shape: int | Sequence[int], low: Any = None, high: Any = None, *, init=None
    ):
        shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
        if not shape or any(
            isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1 for n in shape
        ):
            raise InvalidParameterError(
                f"Array's shape must be positive ints, e.g. (32, 32); got {shape!r}."
            )
        self.shape = tuple(int(n) for n in shape)
        self.size = int(np.prod(self.shape))
        self.low = self._side(low, -math.inf, "low")
        self.high = self._side(high, math.inf, "high")
        if (
            np.isnan(self.low).any()
            or np.isnan(self.high).any()
            or not (self.low < self.high).all()
        ):
            raise InvalidParameterError("Array needs low < high in every element (NaN not).")
        if init is None:
            both = np.isfinite(self.low) & np.isfinite(self.high)
            mid = 0.5 * (np.where(both, self.low, 0.0) + np.where(both, self.high, 0.0))
            init = np.clip(mid, self.low, self.high)
        self._init = init
        self.encode(init, "init")

    def _side(self, value: Any, default: float, what: str) -> np.ndarray:
        if value is None:
            return np.full(self.shape, default)
        if torch.is_tensor(value):
            value = value.detach().cpu().numpy()
        side = np.asarray(value, dtype=np.float64)
        if side.ndim and side.shape != self.shape:
            raise InvalidParameterError(
                f"Array's {what} must be a number or have the block's shape {self.shape}; "
                f"got shape {side.shape}."
            )
        return np.broadcast_to(side, self.shape).copy()

    def flat_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.low.reshape(-1), self.high.reshape(-1)

    def encode(self, value: Any, name: str, check: bool = True) -> np.ndarray:
        if torch.is_tensor(value):
            value = value.detach().cpu().numpy()
        try:
            v = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidParameterError(f"{name} must be a real array; got {value!r}.") from None
        if v.ndim == 0:
            v = np.full(self.shape, float(v))
        if v.shape != self.shape:
            raise InvalidParameterError(
                f"{name} must have shape {self.shape}; got shape {v.shape}."
            )
        if check:
            if not np.isfinite(v).all():
                raise InvalidParameterError(f"{name} contains NaN or inf.")
            outside = (v < self.low) | (v > self.high)
            if outside.any():
                where = tuple(int(i) for i in np.argwhere(outside)[0])
                raise InvalidParameterError(
                    f"{name} lies outside its bounds at element {where}: {v[where]:g} not in "
                    f"[{self.low[where]:g}, {self.high[where]:g}] ({int(outside.sum())} "
                    "elements outside)."
                )
        return np.clip(v, self.low, self.high).reshape(-1)

    def decode(self, Z: torch.Tensor) -> torch.Tensor:
        if np.isfinite(self.low).any() or np.isfinite(self.high).any():
            lo = torch.as_tensor(self.low.reshape(-1), dtype=Z.dtype, device=Z.device)
            hi = torch.as_tensor(self.high.reshape(-1), dtype=Z.dtype, device=Z.device)
            Z = torch.maximum(torch.minimum(Z, hi), lo)
        return Z.reshape(Z.shape[0], *self.shape)

    def to_python(self, value: torch.Tensor) -> Any:
        return value.clone()

    def nevergrad(self, ng: Any, init: Any) -> Any:
        init = np.asarray(init.detach().cpu() if torch.is_tensor(init) else init, dtype=float)
        lo, hi = np.isfinite(self.low), np.isfinite(self.high)
        if not (lo.any() or hi.any()):
            return ng.p.Array(init=init)
        if not (lo.all() and hi.all()):
            from ..exceptions import UnsupportedProblemError

            raise UnsupportedProblemError(
                "nevergrad's arrays take finite bounds on every element or none; an "
                "Array parameter mixes finite and infinite bounds."
            )
        return ng.p.Array(init=init, lower=self.low, upper=self.high)

    def __repr__(self) -> str:
        lo, hi = self.low.reshape(-1), self.high.reshape(-1)
        same = (lo == lo[0]).all() and (hi == hi[0]).all()
        bounds = f", {lo[0]:g}, {hi[0]:g}" if same else ", per-element bounds"
        return f"Array({self.shape}{bounds})"
